import { asyncScheduler, type SchedulerLike } from "rxjs";

/**
 * Everything in fullenrich-rx that waits or reads the time does it through an RxJS
 * {@link SchedulerLike}: `scheduler.now()` is the clock and `scheduler.schedule()` the timer.
 * Production code uses `asyncScheduler`; tests pass a virtual-time scheduler or fake timers.
 */
export type Scheduler = SchedulerLike;

export const defaultScheduler: Scheduler = asyncScheduler;

/** Error thrown (or used as a rejection reason) when a wait is cut short by an AbortSignal. */
export class AbortedError extends Error {
  override readonly name = "AbortedError";
  constructor(message = "the operation was aborted") {
    super(message);
  }
}

/** The reason an AbortSignal carries, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new AbortedError();
}

/**
 * Resolves after `ms` milliseconds of the scheduler's time. Rejects with the signal's reason if
 * the signal aborts first; the pending timer is then cancelled.
 */
export function sleep(
  ms: number,
  scheduler: Scheduler = defaultScheduler,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      subscription.unsubscribe();
      reject(abortReason(signal as AbortSignal));
    };
    const subscription = scheduler.schedule(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Multiplies a built-in duration by the configured time scale (1 = real provider timings). */
export function scaled(ms: number, timeScale: number): number {
  return ms * timeScale;
}

/** Rejects unless `value` is a finite, positive number. Used for every `timeScale` option. */
export function assertTimeScale(value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`timeScale must be a positive number, got ${String(value)}`);
  }
  return value;
}
