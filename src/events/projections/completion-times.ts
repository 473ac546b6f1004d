/**
 * How long the provider really took: accepted → finished durations of batches, observed in the log,
 * kept per batch-size class. A pure fold; the engine reads quantiles of it (see
 * `engine/learned-timings.ts`).
 *
 * A batch event (webhook) is received when the batch finished, or later when a delivery had to be
 * retried; a poll that finds a batch finished saw it some time after it finished. Both are upper
 * bounds of the true duration, the first one of an enrichment is recorded (a later observation of
 * a settled enrichment says nothing new), and only `FINISHED` batches count (a cancelation or an
 * empty balance ends a batch at another moment).
 */

/** Durations kept per size class: the latest ones, so that a provider that changes pace is followed. */
export const COMPLETION_SAMPLES_PER_CLASS = 64;

/**
 * The size class of a batch of `size` contacts: ⌊log₂ size⌋ (1, 2–3, 4–7, …, 64–100). A batch
 * finishes with its slowest contact, so its duration grows with its size; within a class it grows
 * little.
 */
export function sizeClass(size: number): number {
  return Math.floor(Math.log2(Math.max(1, size)));
}

/** Observed durations in ms by size class, oldest first. */
export type CompletionTimes = Map<number, number[]>;

/** Records one batch's observed duration (ignores a negative or non-finite one). */
export function recordCompletion(times: CompletionTimes, size: number, durationMs: number): void {
  if (!Number.isFinite(durationMs) || durationMs < 0) return;
  const key = sizeClass(size);
  let samples = times.get(key);
  if (!samples) {
    samples = [];
    times.set(key, samples);
  }
  samples.push(durationMs);
  if (samples.length > COMPLETION_SAMPLES_PER_CLASS)
    samples.splice(0, samples.length - COMPLETION_SAMPLES_PER_CLASS);
}

/** The nearest-rank `q`-quantile (0 < q ≤ 1) of some durations; null when there are none. */
export function quantile(durations: readonly number[], q: number): number | null {
  if (durations.length === 0) return null;
  const sorted = [...durations].sort((a, b) => a - b);
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}
