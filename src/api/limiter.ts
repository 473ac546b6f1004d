import Bottleneck from "bottleneck";
import { abortReason, defaultScheduler, type Scheduler, sleep } from "../internal/time.js";
import type { WindowBudget } from "./window-budget.js";

/**
 * Who is asking. Starting work outranks reading results, which outranks polling: when the budget
 * is short, a new batch is submitted before outstanding ones are polled.
 */
export type CallPriority = "submit" | "read" | "poll";

const bottleneckPriority: Record<CallPriority, number> = { submit: 1, read: 4, poll: 7 };

/** Returned by a waiting job that steps aside for a more important one. */
const STEP_ASIDE = Symbol("step aside");

/** Per-call options of {@link CallLimiter.run}. */
export interface CallOptions {
  priority?: CallPriority;
  signal?: AbortSignal;
  /**
   * Runs once the call holds its slot, right before it leaves (e.g. to record durably that it is
   * being sent). If it throws, the call is not made, its slot is given back unused, and
   * {@link CallLimiter.run} rejects with that error.
   */
  beforeSend?: () => Promise<void>;
}

/** One call about to leave, as a {@link CallJournal} records it. */
export interface JournaledCall {
  /** The scheduler's time when the call was let through. */
  at: number;
  priority: CallPriority;
}

/**
 * Where the calls of a limiter are recorded, durably, before they leave, so that a restarted
 * process knows what the account spent in the current window (see {@link WindowBudget.seed}).
 */
export interface CallJournal {
  /** Records one call. Awaited before the call leaves; it must not throw (it reports its own failures). */
  record(call: JournaledCall): Promise<void>;
}

/** Counters of a {@link CallLimiter}. */
export interface LimiterStats {
  /** Calls that were let through (each retry attempt counts). */
  started: number;
  /** Calls waiting for their turn right now. */
  queued: number;
}

/** The calls of the last rate window, as a {@link CallLimiter} let them through. */
export interface RecentCalls {
  /**
   * Calls this limiter let through in the last window (every attempt), and those of a stopped
   * process it was told of ({@link CallLimiter.noteEarlierCalls}). With a budget shared between
   * instances, the others' calls are not in it.
   */
  calls: number;
  /** Calls allowed per window (the budget's). */
  limit: number;
  windowMs: number;
  /** Calls waiting for their turn right now. */
  waiting: number;
}

/** Reads how much of the rate budget the last window used (see {@link CallLimiter.recentCalls}). */
export interface RecentCallsQuery {
  /** The calls of the last window, the limit, and the calls waiting now. */
  recentCalls(): RecentCalls;
}

/**
 * The one gate every API call passes through, every retry attempt included. Calls queue in a
 * bottleneck limiter ordered by priority; each, at its turn, waits for a slot of the sliding
 * {@link WindowBudget} and holds it while it runs.
 */
export class CallLimiter implements RecentCallsQuery {
  private readonly queue = new Bottleneck({ maxConcurrent: 1 });
  private readonly releaseListeners = new Set<() => void>();
  private startedCount = 0;
  private queuedCount = 0;
  private journal: CallJournal | null = null;
  /** When the calls of the last window started, ascending. */
  private readonly recentStarts: number[] = [];

  constructor(
    readonly budget: WindowBudget,
    private readonly scheduler: Scheduler = defaultScheduler,
  ) {
    // A job waiting for capacity steps aside when a more important one queues behind it.
    this.queue.on("queued", () => this.wakeAll());
  }

  /** Runs `call` when the budget allows. The slot stays taken until a window after it settles. */
  async run<T>(call: () => Promise<T>, options: CallOptions = {}): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    let priority = bottleneckPriority[options.priority ?? "read"];
    this.queuedCount++;
    let slot: string | typeof STEP_ASIDE;
    try {
      for (;;) {
        const rank = priority;
        slot = await this.queue.schedule({ priority: rank }, () => this.takeSlot(rank, signal));
        if (slot !== STEP_ASIDE) break;
        // Queue again just ahead of its peers: it keeps its turn among calls of its own kind.
        priority = bottleneckPriority[options.priority ?? "read"] - 1;
      }
    } finally {
      this.queuedCount--;
    }
    if (signal?.aborted) {
      await this.giveBack(slot, false);
      throw abortReason(signal);
    }
    if (options.beforeSend) {
      try {
        await options.beforeSend();
      } catch (error) {
        await this.giveBack(slot, false);
        throw error;
      }
    }
    await this.journal?.record({ at: this.scheduler.now(), priority: options.priority ?? "read" });
    this.startedCount++;
    this.noteStart(this.scheduler.now());
    try {
      return await call();
    } finally {
      await this.giveBack(slot, true);
    }
  }

  /**
   * Records every call let through from now on, before it leaves. The first journal attached
   * stays: returns false (and changes nothing) when one is attached already.
   */
  attachJournal(journal: CallJournal): boolean {
    if (this.journal !== null) return false;
    this.journal = journal;
    return true;
  }

  /** After a 429: no call starts for `ms`. */
  pause(ms: number): Promise<void> {
    return this.budget.pause(ms);
  }

  /** Calls let through so far, and calls waiting now. */
  stats(): LimiterStats {
    return { started: this.startedCount, queued: this.queuedCount };
  }

  /** Calls let through in the last window, the budget's limit and window, and calls waiting now. */
  recentCalls(): RecentCalls {
    this.forgetOlderThanWindow();
    const { limit, windowMs } = this.budget;
    return { calls: this.recentStarts.length, limit, windowMs, waiting: this.queuedCount };
  }

  /**
   * Counts calls a stopped process made (their start times) in {@link recentCalls}, as the
   * budget counts them once seeded: a rerun right after a crash shows the window it inherits.
   */
  noteEarlierCalls(startedAt: readonly number[]): void {
    for (const at of startedAt) this.noteStart(at);
  }

  /** Drops the calls still waiting (they reject) and closes the budget. */
  async stop(): Promise<void> {
    this.wakeAll();
    await this.queue.stop({ dropWaitingJobs: true, dropErrorMessage: "the rate limiter was stopped" });
    await this.budget.close();
  }

  /**
   * Runs inside the queue, one at a time: waits until the budget has a slot. While it waits, a
   * more important call queuing behind it makes it step aside (it queues again at its own rank).
   */
  private async takeSlot(
    priority: number,
    signal: AbortSignal | undefined,
  ): Promise<string | typeof STEP_ASIDE> {
    for (;;) {
      if (signal?.aborted) throw abortReason(signal);
      const result = await this.budget.tryTake();
      if (result.taken) return result.slot;
      if (this.moreImportantQueued(priority)) return STEP_ASIDE;
      await this.waitForRelease(result.retryInMs, signal);
      if (this.moreImportantQueued(priority)) return STEP_ASIDE;
    }
  }

  private noteStart(at: number): void {
    let index = this.recentStarts.length;
    while (index > 0 && (this.recentStarts[index - 1] as number) > at) index--;
    this.recentStarts.splice(index, 0, at);
    this.forgetOlderThanWindow();
  }

  private forgetOlderThanWindow(): void {
    const since = this.scheduler.now() - this.budget.windowMs;
    let old = 0;
    while (old < this.recentStarts.length && (this.recentStarts[old] as number) <= since) old++;
    if (old > 0) this.recentStarts.splice(0, old);
  }

  private moreImportantQueued(priority: number): boolean {
    for (let rank = 0; rank < priority; rank++) {
      if (this.queue.queued(rank) > 0) return true;
    }
    return false;
  }

  private wakeAll(): void {
    for (const wake of [...this.releaseListeners]) wake();
  }

  /** Waits `ms`, or less if a call of this process finishes or another call queues. */
  private async waitForRelease(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const controller = new AbortController();
    const wake = (): void => controller.abort();
    this.releaseListeners.add(wake);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await sleep(ms, this.scheduler, controller.signal).catch(() => undefined);
    } finally {
      this.releaseListeners.delete(wake);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private async giveBack(slot: string, used: boolean): Promise<void> {
    await this.budget.release(slot, used);
    this.wakeAll();
  }
}
