import type { BatchState } from "../events/projections/enrichment-state.js";
import type { BatchProgress } from "./job-progress.js";

/**
 * What a batch of a job is waiting for: its turn (`queued`: planned, waiting for the provider's
 * running limit, a rate-limit slot or a back-off), the provider (`running`: its POST is on the
 * wire, or it runs and its first poll is not due yet), its webhook (`waiting-for-webhook`, an
 * unanswered POST a delivery may still settle included), its polls (`polling`), or nothing
 * (`done`: completed, failed, refused, ambiguous for good, or no longer awaited: its job was
 * aborted or timed out).
 */
export type BatchPhase = "queued" | "running" | "waiting-for-webhook" | "polling" | "done";

/** How many of a job's batches are in each {@link BatchPhase}. */
export interface BatchesByPhase {
  queued: number;
  running: number;
  waitingForWebhook: number;
  polling: number;
  done: number;
}

/** What the phase of a batch is told from. */
export interface PhaseFacts {
  state: BatchProgress["state"];
  /** The job's contacts in it (0: they moved to another attempt). */
  size: number;
  requestedAt: number | null;
  enrichmentId: string | null;
  acceptedAt: number | null;
  /** How it waits for its results (null until its request is seen). */
  mode: BatchState["mode"] | null;
  /** A poll of it was observed, or polling took over. */
  polled: boolean;
}

/** The states after which nothing more happens to a batch. */
export const ENDED: ReadonlySet<BatchProgress["state"]> = new Set([
  "completed",
  "failed",
  "rejected",
  "ambiguous",
  "aborted",
  "timed-out",
]);

/** What a batch waits for; `awaited`: some of the job's contacts still wait on it. */
export function phaseOf(batch: PhaseFacts, awaited: boolean): BatchPhase {
  if (batch.state === "ambiguous") return awaited ? "waiting-for-webhook" : "done";
  if (ENDED.has(batch.state)) return "done";
  if (batch.requestedAt === null) return "queued";
  if (batch.enrichmentId === null) return "running";
  if (batch.polled) return "polling";
  return batch.mode === "polling" ? "running" : "waiting-for-webhook";
}

const COUNTER = {
  queued: "queued",
  running: "running",
  "waiting-for-webhook": "waitingForWebhook",
  polling: "polling",
  done: "done",
} as const satisfies Record<BatchPhase, keyof BatchesByPhase>;

/** Counts phases, leaving out batches that hold none of the job's contacts. */
export function countByPhase(batches: Iterable<{ size: number; phase: BatchPhase }>): BatchesByPhase {
  const counts: BatchesByPhase = { queued: 0, running: 0, waitingForWebhook: 0, polling: 0, done: 0 };
  for (const batch of batches) if (batch.size > 0) counts[COUNTER[batch.phase]]++;
  return counts;
}

/**
 * When the batches running at the provider are expected to have finished: the latest of their
 * expected finishes (`expectedFinish(acceptedAt, size)`: the provider's timings as the log saw
 * them, or as documented until enough batches were seen); null when none runs.
 */
export function expectedFinishOf(
  batches: Iterable<PhaseFacts>,
  expectedFinish: (acceptedAt: number, size: number) => number,
): number | null {
  let latest: number | null = null;
  for (const batch of batches) {
    if (batch.size === 0 || batch.acceptedAt === null || ENDED.has(batch.state)) continue;
    const at = expectedFinish(batch.acceptedAt, batch.size);
    latest = latest === null ? at : Math.max(latest, at);
  }
  return latest;
}
