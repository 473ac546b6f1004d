/**
 * Sliding-window counting of call arrivals, in the simulator's clock (milliseconds).
 *
 * Two things are tracked:
 * - calls *accepted* (answered with anything but 429) in the last `windowMs`, which is what the
 *   provider's limit is checked against;
 * - the busiest window: the largest number of arrivals (accepted or not) that any interval of
 *   length `windowMs` holds, computed exactly from the arrival instants.
 *
 * A window is half-open: arrivals at `t` and `t + windowMs` are never in the same window.
 */
export class RateWindow {
  /** Accepted calls still inside the window, ascending. */
  private readonly accepted: number[] = [];
  /** Arrivals within `windowMs` of the latest arrival, ascending. */
  private readonly recent: number[] = [];
  private busiest = 0;
  private arrivals = 0;
  private latest = Number.NEGATIVE_INFINITY;

  constructor(readonly windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${String(windowMs)}`);
  }

  /**
   * Records a call that reached an authenticated route, at instant `at`. Instants are expected
   * in non-decreasing order; an earlier one is counted as if it arrived with the latest.
   */
  recordArrival(at: number): void {
    const instant = Math.max(at, this.latest);
    this.latest = instant;
    this.arrivals++;
    this.recent.push(instant);
    let drop = 0;
    while (drop < this.recent.length && (this.recent[drop] as number) <= instant - this.windowMs) drop++;
    if (drop > 0) this.recent.splice(0, drop);
    // Any window can slide right until it ends at the latest arrival it holds, so the busiest
    // window is the busiest of those ending at an arrival: (arrival - windowMs, arrival].
    this.busiest = Math.max(this.busiest, this.recent.length);
  }

  /** Records that the call arriving at `at` was accepted (not answered 429). */
  recordAccepted(at: number): void {
    const last = this.accepted.at(-1);
    this.accepted.push(last !== undefined && at < last ? last : at);
  }

  /** How many calls were accepted in `(now - windowMs, now]`. */
  acceptedInWindow(now: number): number {
    let drop = 0;
    while (drop < this.accepted.length && (this.accepted[drop] as number) <= now - this.windowMs) drop++;
    if (drop > 0) this.accepted.splice(0, drop);
    return this.accepted.length;
  }

  /** The most arrivals any window of `windowMs` has held so far. */
  busiestWindow(): number {
    return this.busiest;
  }

  /** All arrivals recorded so far. */
  totalArrivals(): number {
    return this.arrivals;
  }
}

/**
 * The busiest window of a list of arrival instants, computed from scratch (two pointers over the
 * sorted instants). Handy to check a client's pacing against a recorded list of calls.
 */
export function busiestWindowOf(instants: readonly number[], windowMs: number): number {
  const sorted = [...instants].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[start] as number) <= (sorted[end] as number) - windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}
