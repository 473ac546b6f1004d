import type { Scheduler } from "../internal/time.js";
import { defaultScheduler } from "../internal/time.js";

/** The answer of {@link WindowBudget.tryTake}. */
export type TakeResult = { taken: true; slot: string } | { taken: false; retryInMs: number };

/**
 * The account's calls-per-window budget, as a sliding window: a call holds a slot from the moment
 * it starts until one full window after it ended. Because the provider sees a call somewhere
 * between those two instants, no window of that length at the provider can ever hold more than
 * `limit` calls, whatever the network latency.
 *
 * Implementations: {@link LocalWindowBudget} (one process) and, for several instances, a shared
 * one behind the same interface.
 */
export interface WindowBudget {
  readonly limit: number;
  readonly windowMs: number;
  /** Takes a slot if the window has room; otherwise says how long to wait before asking again. */
  tryTake(): Promise<TakeResult>;
  /** The call is over. `used: false` (the call was never sent) frees the slot at once. */
  release(slot: string, used: boolean): Promise<void>;
  /** Nothing is taken for `ms` (after a 429: the provider sends no Retry-After). */
  pause(ms: number): Promise<void>;
  /** Releases what the budget holds (connections, timers). */
  close(): Promise<void>;
  /**
   * Counts calls made before this budget existed (by a process that stopped), given the instants
   * they ended by: each holds a slot until one window after. Budgets shared between processes
   * (which saw those calls already) leave this out.
   */
  seed?(endedBy: readonly number[]): void;
}

/** A {@link WindowBudget} kept in this process's memory. */
export class LocalWindowBudget implements WindowBudget {
  private readonly inFlight = new Set<string>();
  /** Instants at which slots of finished calls free up, ascending. */
  private readonly freesAt: number[] = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private nextSlot = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly scheduler: Scheduler = defaultScheduler,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`rate limit must be a positive integer, got ${limit}`);
    if (!(windowMs > 0)) throw new RangeError(`rate-limit window must be positive, got ${windowMs} ms`);
  }

  async tryTake(): Promise<TakeResult> {
    const now = this.scheduler.now();
    while (this.freesAt.length > 0 && (this.freesAt[0] as number) <= now) this.freesAt.shift();
    if (now < this.pausedUntil) return { taken: false, retryInMs: this.pausedUntil - now };
    if (this.inFlight.size + this.freesAt.length < this.limit) {
      const slot = String(this.nextSlot++);
      this.inFlight.add(slot);
      return { taken: true, slot };
    }
    const first = this.freesAt[0];
    // Every slot is held by a call still running: its slot frees one window after it ends.
    return { taken: false, retryInMs: first === undefined ? this.windowMs : first - now };
  }

  async release(slot: string, used: boolean): Promise<void> {
    if (!this.inFlight.delete(slot)) return;
    if (used) this.freesAt.push(this.scheduler.now() + this.windowMs);
  }

  async pause(ms: number): Promise<void> {
    this.pausedUntil = Math.max(this.pausedUntil, this.scheduler.now() + ms);
  }

  /** Nothing to release in memory. */
  async close(): Promise<void> {}

  seed(endedBy: readonly number[]): void {
    const now = this.scheduler.now();
    for (const end of endedBy) {
      const frees = end + this.windowMs;
      if (frees > now) this.freesAt.push(frees);
    }
    this.freesAt.sort((a, b) => a - b);
  }
}
