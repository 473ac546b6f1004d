/** Steps within each power of ten: fine enough to show a spread of 30–90 s, or of 0.3–0.9 s. */
const STEPS_PER_DECADE = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9];

/**
 * Upper edges of the histogram's bins, in ms: 10 ms, 12, 15, 20, 25, 30, 40 … up to 24 h; one more
 * bin holds anything longer. Fixed, so that a delay is counted as it is read (constant memory), at
 * any time scale.
 */
export const DELAY_EDGES_MS: readonly number[] = [10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]
  .flatMap((decade) => STEPS_PER_DECADE.map((step) => Math.round(decade * step)))
  .filter((edge) => edge <= 86_400_000)
  .concat([86_400_000]);

/** One bin: delays in (`from`, `to`] (`to` null: longer than `from`), by how the result came. */
export interface DelayBin {
  from: number;
  to: number | null;
  webhook: number;
  poll: number;
}

/** The bin a delay falls in: the first whose upper edge is at least the delay. */
export function binOf(delayMs: number): number {
  const index = DELAY_EDGES_MS.findIndex((edge) => delayMs <= edge);
  return index === -1 ? DELAY_EDGES_MS.length : index;
}

/** Delays counted in fixed bins, by source, with their exact count, sum, least and greatest. */
export class DelayHistogram {
  private readonly counts = Array.from({ length: DELAY_EDGES_MS.length + 1 }, () => ({
    webhook: 0,
    poll: 0,
  }));
  count = 0;
  private sum = 0;
  min: number | null = null;
  max: number | null = null;

  add(delayMs: number, source: "webhook" | "poll"): void {
    (this.counts[binOf(delayMs)] as { webhook: number; poll: number })[source]++;
    this.count++;
    this.sum += delayMs;
    this.min = this.min === null ? delayMs : Math.min(this.min, delayMs);
    this.max = this.max === null ? delayMs : Math.max(this.max, delayMs);
  }

  /** The mean delay, or null when none was counted. */
  mean(): number | null {
    return this.count === 0 ? null : this.sum / this.count;
  }

  /** Every bin from the first to the last that holds a delay (empty ones between included). */
  bins(): DelayBin[] {
    const all = this.counts.map((count, index) => ({
      from: index === 0 ? 0 : (DELAY_EDGES_MS[index - 1] as number),
      to: DELAY_EDGES_MS[index] ?? null,
      ...count,
    }));
    const used = all.map((bin) => bin.webhook + bin.poll > 0);
    const first = used.indexOf(true);
    return first === -1 ? [] : all.slice(first, used.lastIndexOf(true) + 1);
  }

  /** The bin holding the `q`-quantile (0 < q ≤ 1) of the delays, or null when none was counted. */
  quantileBin(q: number): DelayBin | null {
    if (this.count === 0) return null;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (const bin of this.bins()) {
      seen += bin.webhook + bin.poll;
      if (seen >= rank) return bin;
    }
    return null;
  }
}
