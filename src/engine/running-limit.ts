import type { Subscription } from "rxjs";
import { FullEnrichError } from "../api/errors.js";
import type { EnrichmentsProjection, RunningCount } from "../events/projections/enrichments-projection.js";
import { abortReason, type Scheduler } from "../internal/time.js";
import { type Timings, webhookDeadline } from "./timings.js";

/** The two kinds of job the provider limits separately. */
export type LookupKind = "enrich" | "reverse";

/** How many of a kind run at the provider now, leaving out the batches a running limit holds. */
export interface RunningQuery {
  running(kind: LookupKind, now: number): RunningCount;
}

/**
 * Running at the provider as the log tells: accepted and not settled, or requested without an
 * answer yet, each until its webhook deadline — leaving out the batches being submitted (the
 * running limit holds those).
 */
export class RunningAtProvider implements RunningQuery {
  constructor(
    private readonly projection: EnrichmentsProjection,
    private readonly timings: Timings,
    private readonly submissions: { readonly submitting: ReadonlySet<string> },
  ) {}

  running(kind: LookupKind, now: number): RunningCount {
    return this.projection.runningCount(
      kind,
      now,
      (batch) => webhookDeadline(this.timings, batch.acceptedAt ?? batch.requestedAt),
      this.submissions.submitting,
    );
  }
}

/** What a {@link RunningLimit} needs. */
export interface RunningLimitOptions {
  /** Most running at once, per kind. */
  max: number;
  scheduler: Scheduler;
  /** Running at the provider, from the log, leaving out the batches this limit holds. */
  running: RunningQuery;
}

interface Waiter {
  kind: LookupKind;
  admit: (release: () => void) => void;
  fail: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * The provider runs at most 100 enrichments (and, separately, 100 reverse lookups) per workspace
 * at once. This gate holds a submission back until fewer than `max` of its kind are running, as
 * counted from the log (every instance on it included) plus the submissions it admitted and has
 * not released; waiters are admitted in order. The owner calls {@link recheck} whenever the log
 * moved on; time bounds are rechecked on the scheduler.
 */
export class RunningLimit {
  private readonly waiting: Waiter[] = [];
  private readonly held: Record<LookupKind, number> = { enrich: 0, reverse: 0 };
  private timer: Subscription | null = null;
  private closed = false;

  constructor(private readonly options: RunningLimitOptions) {
    if (!Number.isInteger(options.max) || options.max < 1) {
      throw new FullEnrichError(`maxRunning must be a whole number of at least 1, not ${options.max}`);
    }
  }

  /** Waits for room to submit one batch of `kind`; resolves with the function that gives it back. */
  acquire(kind: LookupKind, signal?: AbortSignal): Promise<() => void> {
    if (this.closed) return Promise.reject(new FullEnrichError("the engine is closed"));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((admit, fail) => {
      const waiter: Waiter = {
        kind,
        admit,
        fail,
        signal,
        onAbort: () => {
          this.remove(waiter);
          fail(abortReason(signal as AbortSignal));
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiting.push(waiter);
      this.recheck();
    });
  }

  /** Admits whoever fits now, in order; schedules the next look when only time can make room. */
  recheck(): void {
    if (this.waiting.length === 0 || this.closed) return;
    this.timer?.unsubscribe();
    this.timer = null;
    const now = this.options.scheduler.now();
    let wakeAt: number | null = null;
    for (const kind of ["enrich", "reverse"] as const) {
      let running: RunningCount | null = null;
      for (const waiter of this.waiting.filter((w) => w.kind === kind)) {
        running ??= this.options.running.running(kind, now);
        if (running.count + this.held[kind] >= this.options.max) {
          if (running.nextChangeAt !== null)
            wakeAt = Math.min(wakeAt ?? running.nextChangeAt, running.nextChangeAt);
          break;
        }
        this.remove(waiter);
        this.held[kind]++;
        let released = false;
        waiter.admit(() => {
          if (released) return;
          released = true;
          this.held[kind]--;
          this.recheck();
        });
      }
    }
    if (wakeAt !== null) {
      this.timer = this.options.scheduler.schedule(() => this.recheck(), Math.max(0, wakeAt - now));
    }
  }

  /** How many submissions are waiting for room. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Fails every waiting submission and stops the timer. */
  close(): void {
    this.closed = true;
    this.timer?.unsubscribe();
    for (const waiter of this.waiting.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.fail(
        new FullEnrichError("the engine was closed while the batch waited for the provider's running limit"),
      );
    }
  }

  private remove(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index >= 0) this.waiting.splice(index, 1);
    waiter.signal?.removeEventListener("abort", waiter.onAbort);
  }
}
