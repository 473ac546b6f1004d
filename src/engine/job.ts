import {
  BehaviorSubject,
  defer,
  from,
  ignoreElements,
  merge,
  Observable,
  type Subscription,
  switchMap,
} from "rxjs";
import type { DomainEvent } from "../events/event-types.js";
import type { Scheduler } from "../internal/time.js";
import { type ContactResult, toContactResult } from "./contact-result.js";
import type { JobCalls } from "./job-calls.js";
import { type BatchProgress, type JobProgress, JobTracker } from "./job-tracker.js";

/** A job's progress, with the figures that are not in the log. */
export interface LiveJobProgress extends JobProgress {
  /** API calls made for this job by this process (submissions and polls, every attempt). */
  apiCalls: number;
  elapsedMs: number;
}

/** A batch that ended without results. */
export interface BatchFailure {
  batchIndex: number;
  batchId: string;
  enrichmentId: string | null;
  contacts: number;
  state: BatchProgress["state"];
  message: string | null;
}

/** How a job ended. */
export interface JobSummary extends LiveJobProgress {
  batchStates: BatchProgress[];
  failures: BatchFailure[];
}

/** @internal Where a job's replay starts, and which earlier batches it replaces. */
export interface JobStart {
  after: number;
  superseded: ReadonlySet<string>;
}

/** @internal The log as the engine processed it. */
export interface JobLog {
  /** Every event after `after`: read back, then live; never ahead of the engine. */
  replay(after: number): Observable<DomainEvent>;
  /** Resolves once the engine processed the log up to a position (so its own streams are not behind). */
  whenProcessed(position: number): Promise<void>;
}

/** @internal What a job needs from its engine. */
export interface JobContext {
  id: string;
  kind: "enrich" | "reverse";
  total: number;
  batchCount: number;
  /**
   * The log position to replay the job's events from (exclusive), and the batches of an earlier run
   * that this run submits again (their old outcome no longer counts).
   */
  start: Promise<JobStart>;
  /** Settles when every batch was submitted (or found already submitted); rejects on failure. */
  submission: Promise<void>;
  log: JobLog;
  /** The engine's count of API calls for each job, and its changes. */
  calls: JobCalls;
  correlationKey: string | null;
  scheduler: Scheduler;
}

/**
 * One `enrich()` or `reverseLookup()` call: its results (each contact exactly once, then complete),
 * its progress, and a promise of its summary. Everything is derived from the log, so subscribing
 * late misses nothing, and a rerun of the same job id after a crash sees the results from before.
 */
export class EnrichmentJob {
  readonly id: string;
  readonly kind: "enrich" | "reverse";
  /** Contacts in the job. */
  readonly total: number;
  /**
   * Each contact's result exactly once, in the order they resolve, then completes once every batch
   * is completed or failed. Cold: each subscription replays the job from the log.
   */
  readonly results$: Observable<ContactResult>;
  /** The job's progress, on every change; completes when the job settles. */
  readonly progress$: Observable<LiveJobProgress>;
  /** Resolves when the job settles. Rejects if the job could not be submitted (e.g. the store failed). */
  readonly summary: Promise<JobSummary>;

  private readonly startedAt: number;
  private readonly progressSubject: BehaviorSubject<LiveJobProgress>;

  /** @internal Jobs are created by {@link EnrichmentEngine.enrich} and {@link EnrichmentEngine.reverseLookup}. */
  constructor(private readonly context: JobContext) {
    this.id = context.id;
    this.kind = context.kind;
    this.total = context.total;
    this.startedAt = context.scheduler.now();
    const tracker = new JobTracker(context.id, context.batchCount, context.total);
    this.progressSubject = new BehaviorSubject(this.live(tracker));
    this.progress$ = this.progressSubject.asObservable();
    this.results$ = this.trackedResults();
    this.summary = this.follow(tracker);
    // The summary is also reported through progress$/results$; keep an unobserved rejection quiet.
    this.summary.catch(() => undefined);
  }

  private trackedResults(): Observable<ContactResult> {
    const { context } = this;
    const failures$ = from(context.submission).pipe(ignoreElements());
    return new Observable<ContactResult>((subscriber) => {
      const tracker = new JobTracker(context.id, context.batchCount, context.total);
      let settled = false;
      return merge(this.replayFor(tracker), failures$).subscribe({
        next: (event) => {
          tracker.apply(event);
          if (event.type === "contact.resolved" && tracker.owns(event)) {
            subscriber.next(toContactResult(event, context.correlationKey));
          }
          if (tracker.settled && !settled) {
            settled = true;
            void context.log.whenProcessed(event.position).then(() => subscriber.complete());
          }
        },
        error: (error: unknown) => subscriber.error(error),
      });
    });
  }

  /** The job's events from the log, for `tracker` (told first which earlier batches no longer count). */
  private replayFor(tracker: JobTracker): Observable<DomainEvent> {
    return defer(() => this.context.start).pipe(
      switchMap(({ after, superseded }) => {
        tracker.supersede(superseded);
        return this.context.log.replay(after);
      }),
    );
  }

  private follow(tracker: JobTracker): Promise<JobSummary> {
    const { context } = this;
    return new Promise<JobSummary>((resolve, reject) => {
      const fail = (error: unknown): void => {
        this.progressSubject.error(error);
        reject(error);
      };
      const events = this.replayFor(tracker);
      let subscription: Subscription | undefined;
      let done = false;
      subscription = merge(
        events,
        from(context.submission).pipe(ignoreElements()),
        context.calls.changes$(context.id),
      ).subscribe({
        next: (value) => {
          if (done) return;
          // Other jobs' events change nothing here: no progress to emit.
          if (isDomainEvent(value) && !tracker.apply(value)) return;
          this.progressSubject.next(this.live(tracker));
          if (tracker.settled && isDomainEvent(value)) {
            done = true;
            subscription?.unsubscribe();
            void context.log.whenProcessed(value.position).then(() => this.settle(tracker, resolve));
          }
        },
        error: fail,
      });
      if (done) subscription.unsubscribe();
    });
  }

  private settle(tracker: JobTracker, resolve: (summary: JobSummary) => void): void {
    const batches = tracker.batches();
    const summary: JobSummary = {
      ...this.live(tracker),
      batchStates: batches,
      failures: batches
        .filter((batch) => batch.state !== "completed")
        .map((batch) => ({
          batchIndex: batch.batchIndex,
          batchId: batch.batchId,
          enrichmentId: batch.enrichmentId,
          contacts: batch.size,
          state: batch.state,
          message: batch.message,
        })),
    };
    this.progressSubject.next(summary);
    this.progressSubject.complete();
    resolve(summary);
  }

  private live(tracker: JobTracker): LiveJobProgress {
    return {
      ...tracker.progress(),
      apiCalls: this.context.calls.of(this.context.id),
      elapsedMs: this.context.scheduler.now() - this.startedAt,
    };
  }
}

function isDomainEvent(value: unknown): value is DomainEvent {
  return typeof value === "object" && value !== null && "position" in value && "type" in value;
}
