import type { DelayHistogram } from "./delay-histogram.js";
import { countTicks, esc, formatSpan, shortSpan, ticks, utc } from "./format.js";
import type { BatchStory, RunLog } from "./run-log.js";

/** The colours of the page, one meaning each. */
export const COLOURS = {
  webhook: "#2563eb",
  poll: "#d97706",
  submit: "#059669",
  read: "#7c3aed",
  sent: "#94a3b8",
  waitWebhook: "#bfdbfe",
  waitPoll: "#fed7aa",
  failed: "#dc2626",
  fallback: "#7c3aed",
  grid: "#e5e7eb",
  axis: "#6b7280",
  limit: "#dc2626",
} as const;

/** Batches drawn on the timeline at most (the page says how many more there are). */
export const TIMELINE_ROWS = 80;

const WIDTH = 960;
const LABEL = 190;
const RIGHT = 16;
const PLOT = WIDTH - LABEL - RIGHT;

function timeAxis(from: number, span: number, top: number, bottom: number): string {
  const x = (offset: number): number => LABEL + (offset / span) * PLOT;
  return ticks(span)
    .map(
      (offset) =>
        `<line x1="${x(offset).toFixed(1)}" y1="${top}" x2="${x(offset).toFixed(1)}" y2="${bottom}" stroke="${COLOURS.grid}"/>` +
        `<text x="${x(offset).toFixed(1)}" y="${top - 6}" text-anchor="middle" class="tick">+${esc(shortSpan(offset))}</text>`,
    )
    .join("")
    .concat(`<title>time since the first batch was sent (${esc(utc(from))})</title>`);
}

/** One batch's row: sent, waiting at the provider, polls, polling taking over, results, its end. */
function batchRow(batch: BatchStory, y: number, x: (at: number) => number, to: number): string {
  const mid = y + 9;
  const parts: string[] = [];
  const sentEnd = batch.acceptedAt ?? batch.rejected?.at ?? batch.requestedAt;
  parts.push(
    `<line x1="${x(batch.requestedAt).toFixed(1)}" y1="${mid}" x2="${Math.max(x(sentEnd), x(batch.requestedAt) + 1).toFixed(1)}" y2="${mid}" stroke="${COLOURS.sent}" stroke-width="2"/>`,
  );
  const lastResult = batch.results.reduce(
    (latest, result) => Math.max(latest, result.at),
    Number.NEGATIVE_INFINITY,
  );
  const end = batch.completed?.at ?? batch.failed?.at ?? (Number.isFinite(lastResult) ? lastResult : to);
  if (batch.acceptedAt !== null) {
    const fill = batch.mode === "polling" ? COLOURS.waitPoll : COLOURS.waitWebhook;
    const width = Math.max(1, x(end) - x(batch.acceptedAt));
    parts.push(
      `<rect x="${x(batch.acceptedAt).toFixed(1)}" y="${y + 4}" width="${width.toFixed(1)}" height="10" rx="2" fill="${fill}"/>`,
    );
  }
  for (const at of batch.polls.slice(0, 300))
    parts.push(
      `<line x1="${x(at).toFixed(1)}" y1="${y + 2}" x2="${x(at).toFixed(1)}" y2="${y + 6}" stroke="${COLOURS.poll}" stroke-width="1.5"/>`,
    );
  if (batch.fallback)
    parts.push(
      `<path d="M${x(batch.fallback.at).toFixed(1)} ${y + 1}l4 4l-4 4l-4 -4z" fill="${COLOURS.fallback}"><title>polling took over: ${esc(batch.fallback.reason)}</title></path>`,
    );
  // One dot per pixel column and source: a batch of 100 results at once is one dot, not 100.
  const dots = new Set<string>();
  for (const result of batch.results) dots.add(`${Math.round(x(result.at))}:${result.source}`);
  for (const dot of dots) {
    const [column, source] = dot.split(":") as [string, "webhook" | "poll"];
    parts.push(`<circle cx="${column}" cy="${mid}" r="3" fill="${COLOURS[source]}"/>`);
  }
  if (batch.completed)
    parts.push(
      `<rect x="${(x(batch.completed.at) - 1.5).toFixed(1)}" y="${y + 1}" width="3" height="16" fill="${COLOURS[batch.completed.source]}"/>`,
    );
  const refusedAt = batch.failed?.at ?? (batch.acceptedAt === null ? batch.rejected?.at : undefined);
  if (refusedAt !== undefined)
    parts.push(
      `<path d="M${x(refusedAt) - 4} ${y + 5}l8 8M${x(refusedAt) + 4} ${y + 5}l-8 8" stroke="${COLOURS.failed}" stroke-width="2"/>`,
    );
  const label = batch.name;
  const shown = label.length > 22 ? `${label.slice(0, 21)}…` : label;
  return `<g class="batch" data-batch="${esc(batch.batchId)}"><title>${esc(describeBatch(batch))}</title><text x="${LABEL - 8}" y="${mid + 4}" text-anchor="end" class="label">${esc(shown)} · ${batch.contacts}</text>${parts.join("")}</g>`;
}

/** A batch's story in words (the row's tooltip). */
export function describeBatch(batch: BatchStory): string {
  const at = (instant: number): string => `+${formatSpan(instant - batch.requestedAt)}`;
  const lines = [
    `${batch.name}, batch ${batch.batchIndex + 1} (${batch.batchId}), ${batch.contacts} contacts, ${batch.mode} mode`,
    `sent ${utc(batch.requestedAt)}`,
  ];
  if (batch.acceptedAt !== null) lines.push(`accepted ${at(batch.acceptedAt)} as ${batch.enrichmentId}`);
  if (batch.rejected)
    lines.push(
      `${batch.rejected.outcomeUnknown ? "no answer (ambiguous)" : "refused"} ${at(batch.rejected.at)}: ${batch.rejected.message}`,
    );
  if (batch.polls.length > 0)
    lines.push(`${batch.polls.length} polls, the first ${at(batch.polls[0] as number)}`);
  if (batch.fallback) lines.push(`polling took over ${at(batch.fallback.at)} (${batch.fallback.reason})`);
  const webhook = batch.results.filter((result) => result.source === "webhook").length;
  lines.push(
    `${batch.results.length} results: ${webhook} by webhook, ${batch.results.length - webhook} by poll`,
  );
  if (batch.completed)
    lines.push(
      `finished ${batch.completed.status} ${at(batch.completed.at)}, seen by ${batch.completed.source}, ${batch.completed.credits ?? "?"} credits`,
    );
  if (batch.failed)
    lines.push(`failed ${at(batch.failed.at)} (${batch.failed.reason}): ${batch.failed.message}`);
  return lines.join("\n");
}

/** The timeline of batches: one row each, time across. */
export function timelineSvg(log: RunLog): string {
  if (log.span === null) return "";
  const rows = log.batches.slice(0, TIMELINE_ROWS);
  const { from, to } = log.span;
  const span = Math.max(1, to - from);
  const top = 28;
  const height = top + rows.length * 20 + 8;
  const x = (at: number): number => LABEL + ((at - from) / span) * PLOT;
  const body = rows.map((batch, index) => batchRow(batch, top + index * 20, x, to)).join("");
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="timeline of batches">${timeAxis(from, span, top, height - 4)}${body}</svg>`;
}

/** Stacked bars with a count axis: one bar per item, its parts stacked in order. */
function stackedBars(
  items: { label: string; parts: { value: number; colour: string; name: string }[]; tip: string }[],
  options: { height: number; limit?: number; labelEvery?: number; ariaLabel: string },
): string {
  const left = 48;
  const plotWidth = WIDTH - left - RIGHT;
  const top = 22;
  const bottom = options.height - 28;
  const totals = items.map((item) => item.parts.reduce((sum, part) => sum + part.value, 0));
  const max = Math.max(1, ...totals, options.limit ?? 0);
  const axisTicks = countTicks(max);
  const yMax = Math.max(max, axisTicks.at(-1) as number);
  const y = (value: number): number => bottom - (value / yMax) * (bottom - top);
  const slot = plotWidth / Math.max(1, items.length);
  const barWidth = Math.max(1, Math.min(48, slot * 0.8));
  const out: string[] = [];
  for (const value of axisTicks)
    out.push(
      `<line x1="${left}" y1="${y(value).toFixed(1)}" x2="${WIDTH - RIGHT}" y2="${y(value).toFixed(1)}" stroke="${COLOURS.grid}"/><text x="${left - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end" class="tick">${value}</text>`,
    );
  const every = options.labelEvery ?? Math.max(1, Math.ceil(items.length / 16));
  items.forEach((item, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const rects = item.parts
      .filter((part) => part.value > 0)
      .map((part) => {
        const rect = `<rect x="${x.toFixed(1)}" y="${y(base + part.value).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(y(base) - y(base + part.value)).toFixed(1)}" fill="${part.colour}"/>`;
        base += part.value;
        return rect;
      });
    const label =
      index % every === 0
        ? `<text x="${(x + barWidth / 2).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" class="tick">${esc(item.label)}</text>`
        : "";
    out.push(`<g><title>${esc(item.tip)}</title>${rects.join("")}${label}</g>`);
  });
  if (options.limit !== undefined)
    out.push(
      `<line x1="${left}" y1="${y(options.limit).toFixed(1)}" x2="${WIDTH - RIGHT}" y2="${y(options.limit).toFixed(1)}" stroke="${COLOURS.limit}" stroke-dasharray="6 4" stroke-width="1.5"/><text x="${WIDTH - RIGHT}" y="${(y(options.limit) - 5).toFixed(1)}" text-anchor="end" class="tick limit">limit ${options.limit}</text>`,
    );
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${options.height}" width="${WIDTH}" height="${options.height}" role="img" aria-label="${esc(options.ariaLabel)}">${out.join("")}</svg>`;
}

/** The delay distribution: a bar per bin, by webhook and by poll. */
export function delaySvg(delays: DelayHistogram): string {
  const bins = delays.bins();
  if (bins.length === 0) return "";
  return stackedBars(
    bins.map((bin) => {
      const label = bin.to === null ? `>${shortSpan(bin.from)}` : `≤${shortSpan(bin.to)}`;
      const range =
        bin.to === null ? `over ${formatSpan(bin.from)}` : `${formatSpan(bin.from)} to ${formatSpan(bin.to)}`;
      return {
        label,
        tip: `${range}: ${bin.webhook} by webhook, ${bin.poll} by poll`,
        parts: [
          { value: bin.webhook, colour: COLOURS.webhook, name: "webhook" },
          { value: bin.poll, colour: COLOURS.poll, name: "poll" },
        ],
      };
    }),
    { height: 240, labelEvery: 1, ariaLabel: "delay distribution" },
  );
}

/** Calls per rate window since the first: how many there are of each kind, against the limit. */
export function callBuckets(
  calls: RunLog["calls"],
  from: number,
  to: number,
  windowMs: number,
): { start: number; submit: number; read: number; poll: number }[] {
  const count = Math.max(1, Math.ceil((to - from + 1) / windowMs));
  const buckets = Array.from({ length: count }, (_, index) => ({
    start: from + index * windowMs,
    submit: 0,
    read: 0,
    poll: 0,
  }));
  for (const call of calls) {
    const bucket = buckets[Math.floor((call.at - from) / windowMs)];
    if (bucket) bucket[call.priority]++;
  }
  return buckets;
}

/** The calls per window chart. */
export function callsSvg(buckets: ReturnType<typeof callBuckets>, limit: number, windowMs: number): string {
  if (buckets.length === 0) return "";
  const from = (buckets[0] as { start: number }).start;
  return stackedBars(
    buckets.map((bucket) => ({
      label: `+${shortSpan(bucket.start - from)}`,
      tip: `+${formatSpan(bucket.start - from)} to +${formatSpan(bucket.start - from + windowMs)}: ${bucket.submit} submissions, ${bucket.poll} polls, ${bucket.read} other reads`,
      parts: [
        { value: bucket.submit, colour: COLOURS.submit, name: "submit" },
        { value: bucket.poll, colour: COLOURS.poll, name: "poll" },
        { value: bucket.read, colour: COLOURS.read, name: "read" },
      ],
    })),
    { height: 240, limit, ariaLabel: "API calls per window against the limit" },
  );
}
