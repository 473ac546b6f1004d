import { BehaviorSubject, type Observable, ReplaySubject } from "rxjs";
import type { Scheduler } from "../internal/time.js";
import type { ContactResult } from "./contact-result.js";
import type { JobCalls } from "./job-calls.js";
import {
  type BatchProgress,
  type FailedContacts,
  initialProgress,
  type JobProgress,
} from "./job-progress.js";
import type { JobTracker } from "./job-tracker.js";

/** A job's progress, with the figures that are not in the log. */
export interface LiveJobProgress extends JobProgress {
  /** API calls made for this job by this process (submissions and polls, every attempt). */
  apiCalls: number;
  elapsedMs: number;
}

/**
 * Contacts of a job that ended without results, by batch and reason: the batch's position in the
 * run that sent it (-1 when none was sent), its id and enrichment, how many distinct contacts, why,
 * when its POST left, and the job's input rows (0-based) they stand on.
 */
export type BatchFailure = FailedContacts;

/** How a job ended. */
export interface JobSummary extends LiveJobProgress {
  batchStates: BatchProgress[];
  failures: BatchFailure[];
}

/** @internal What a job's handle is fed by the engine. */
export interface JobFeed {
  /** Called with the handle once, at once: the engine pushes results and progress through it. */
  run(handle: JobHandle): void;
}

/** @internal How the engine drives a job's public handle. */
export interface JobHandle {
  /** New results and the tracker's state changed: publish both. */
  changed(tracker: JobTracker): void;
  /** Every row has its result or its failure. */
  settle(tracker: JobTracker): void;
  /** The job cannot go on (its store failed): results$ and summary fail. */
  fail(error: unknown): void;
}

/** @internal What a job's handle needs. */
export interface JobContext {
  id: string;
  kind: "enrich" | "reverse";
  total: number;
  calls: JobCalls;
  scheduler: Scheduler;
  feed: JobFeed;
}

/**
 * One `enrich()` or `reverseLookup()` call: its results (each row of the input once, then
 * complete), its progress, and a promise of its summary. A contact already enriched in the log is
 * taken from there (`reused`) instead of being sent again; identical rows are sent once and each
 * gets its result.
 */
export class EnrichmentJob {
  readonly id: string;
  readonly kind: "enrich" | "reverse";
  /** Contacts (rows) in the job. */
  readonly total: number;
  /**
   * Each row's result exactly once, in the order they resolve, then completes once every row has
   * its result or its failure. Every subscriber gets every result, however late it subscribes.
   */
  readonly results$: Observable<ContactResult>;
  /** The job's progress, on every change; completes when the job settles. */
  readonly progress$: Observable<LiveJobProgress>;
  /** Resolves when the job settles. Rejects if the job could not go on (e.g. the store failed). */
  readonly summary: Promise<JobSummary>;

  private readonly startedAt: number;
  private readonly results = new ReplaySubject<ContactResult>();
  private readonly progressSubject: BehaviorSubject<LiveJobProgress>;

  /** @internal Jobs are created by {@link EnrichmentEngine.enrich} and {@link EnrichmentEngine.reverseLookup}. */
  constructor(private readonly context: JobContext) {
    this.id = context.id;
    this.kind = context.kind;
    this.total = context.total;
    this.startedAt = context.scheduler.now();
    this.progressSubject = new BehaviorSubject(this.live(initialProgress(context.id, context.total)));
    this.progress$ = this.progressSubject.asObservable();
    this.results$ = this.results.asObservable();
    let resolveSummary: (summary: JobSummary) => void = () => {};
    let rejectSummary: (error: unknown) => void = () => {};
    this.summary = new Promise<JobSummary>((resolve, reject) => {
      resolveSummary = resolve;
      rejectSummary = reject;
    });
    // The summary is also reported through progress$/results$; keep an unobserved rejection quiet.
    this.summary.catch(() => undefined);
    const callsChanged = context.calls.changes$(context.id).subscribe(() => {
      if (!this.progressSubject.closed)
        this.progressSubject.next({ ...this.progressSubject.value, ...this.clock() });
    });
    context.feed.run({
      changed: (tracker) => {
        for (const result of tracker.takeResults()) this.results.next(result);
        this.progressSubject.next(this.live(tracker.progress()));
      },
      settle: (tracker) => {
        for (const result of tracker.takeResults()) this.results.next(result);
        callsChanged.unsubscribe();
        const summary = this.summarise(tracker);
        this.progressSubject.next(summary);
        this.progressSubject.complete();
        this.results.complete();
        resolveSummary(summary);
      },
      fail: (error) => {
        callsChanged.unsubscribe();
        this.progressSubject.error(error);
        this.results.error(error);
        rejectSummary(error);
      },
    });
  }

  private summarise(tracker: JobTracker): JobSummary {
    const batches = tracker.batches();
    return {
      ...this.live(tracker.progress()),
      batchStates: batches,
      failures: tracker.failures(),
    };
  }

  private clock(): { apiCalls: number; elapsedMs: number } {
    return {
      apiCalls: this.context.calls.of(this.context.id),
      elapsedMs: this.context.scheduler.now() - this.startedAt,
    };
  }

  private live(progress: JobProgress): LiveJobProgress {
    return { ...progress, ...this.clock() };
  }
}
