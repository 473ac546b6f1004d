import stringWidth from "string-width";
import type { LiveJobProgress } from "../engine/job.js";

/** A duration for people, in whole units as a clock shows them: `0s`, `12s`, `1m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/**
 * When the job should be done, from when its running batches should finish at the provider: `~45s`
 * (`≥45s` while batches still wait their turn), `overdue 12s` once that passed, or null when nothing
 * says (no batch running yet, or the job settled).
 */
export function estimate(progress: LiveJobProgress, now: number): string | null {
  if (progress.settled || progress.expectedFinishAt === null) return null;
  const left = progress.expectedFinishAt - now;
  if (left <= 0) return `overdue ${formatDuration(-left)}`;
  return `${progress.batchesByPhase.queued > 0 ? "≥" : "~"}${formatDuration(left)}`;
}

/** What the job waits on next: a poll, polling taking over from a webhook, or nothing. */
function nextPollText(progress: LiveJobProgress, now: number): string | null {
  const next = progress.nextPoll;
  if (next === null || progress.settled) return null;
  const wait = next.at - now;
  if (next.fallback)
    return wait > 0 ? `webhook due; polling in ${formatDuration(wait)}` : "polling takes over";
  if (wait > 0) return `next poll in ${formatDuration(wait)}`;
  return progress.rateBudget.waiting > 0 ? "poll due, waiting for the rate limit" : "polling now";
}

/** The rate window: `minute`, or its length when scaled (`0.6s`). */
function windowText(windowMs: number): string {
  if (windowMs === 60_000) return "minute";
  return windowMs < 10_000 ? `${(windowMs / 1000).toFixed(1)}s` : formatDuration(windowMs);
}

function budgetText(progress: LiveJobProgress): string[] {
  const { calls, limit, windowMs, waiting } = progress.rateBudget;
  return [
    `API ${calls}/${limit} in the last ${windowText(windowMs)}`,
    ...(waiting > 0 ? [`${waiting} calls waiting`] : []),
  ];
}

function resultsText(progress: LiveJobProgress): string[] {
  const { bySource, reused, failed } = progress;
  return [
    `by webhook ${bySource.webhook}`,
    `by poll ${bySource.poll}`,
    ...(reused > 0 ? [`reused ${reused}`] : []),
    ...(failed > 0 ? [`failed ${failed}`] : []),
  ];
}

function batchesText(progress: LiveJobProgress): string[] {
  const { queued, running, waitingForWebhook, polling, done } = progress.batchesByPhase;
  return [
    `${queued} queued`,
    `${running} running`,
    `${waitingForWebhook} waiting for webhook`,
    `${polling} polling`,
    `${done} done`,
  ];
}

/**
 * Cuts `text` to `width` terminal columns (wide characters count two), ending with `…` when cut.
 */
export function truncate(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  if (width <= 0) return "";
  let out = "";
  let used = 0;
  for (const { segment } of new Intl.Segmenter().segment(text)) {
    const w = stringWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…`;
}

/**
 * Joins the parts that fit in `width` columns with ` · `, whole, in order: a part that does not fit
 * is left out rather than cut mid-word (and so are those after it). Only a first part wider than
 * the line is cut, with `…`.
 */
export function fitParts(parts: readonly string[], width: number, separator = " · "): string {
  const [first, ...rest] = parts;
  if (first === undefined) return "";
  let line = truncate(first, width);
  for (const part of rest) {
    const next = `${line}${separator}${part}`;
    if (stringWidth(next) > width) break;
    line = next;
  }
  return line;
}

function bar(progress: LiveJobProgress, size: number): string {
  const share = progress.total === 0 ? 1 : (progress.resolved + progress.failed) / progress.total;
  const filled = Math.round(share * size);
  return `[${"#".repeat(filled)}${"-".repeat(size - filled)}]`;
}

/**
 * The progress as a terminal shows it, redrawn in place: four lines, each at most `width` columns
 * (counted as a terminal counts them). `title` names the job; `now` is the clock's time.
 */
export function progressLines(
  progress: LiveJobProgress,
  options: { width: number; now: number; title?: string },
): string[] {
  const { width, now } = options;
  const done = progress.total === 0 ? 100 : Math.floor((progress.resolved / progress.total) * 100);
  const eta = estimate(progress, now);
  const head = [
    `${progress.resolved}/${progress.total} contacts ${done}%`,
    `${formatDuration(progress.elapsedMs)} elapsed`,
    ...(eta === null ? [] : [`ETA ${eta}`]),
  ];
  const title = options.title ? `${truncate(options.title, Math.max(8, Math.floor(width / 4)))} ` : "";
  const barSize = width >= 100 ? 30 : width >= 60 ? 16 : 8;
  const next = nextPollText(progress, now);
  return [
    fitParts([`${title}${bar(progress, barSize)} ${head[0]}`, ...head.slice(1)], width),
    fitParts([`results: ${resultsText(progress)[0]}`, ...resultsText(progress).slice(1)], width),
    fitParts([`batches: ${batchesText(progress)[0]}`, ...batchesText(progress).slice(1)], width),
    fitParts([...(next === null ? [] : [next]), ...budgetText(progress)], width),
  ];
}

/** The progress as one log line (no terminal): every figure, whatever its length. */
export function progressLine(progress: LiveJobProgress, now: number): string {
  const eta = estimate(progress, now);
  const next = nextPollText(progress, now);
  return [
    `progress: ${progress.resolved}/${progress.total} contacts (${resultsText(progress).join(", ")})`,
    `batches ${batchesText(progress).join(", ")}`,
    ...(next === null ? [] : [next]),
    budgetText(progress).join(", "),
    `${formatDuration(progress.elapsedMs)} elapsed`,
    ...(eta === null ? [] : [`ETA ${eta}`]),
  ].join(" · ");
}
