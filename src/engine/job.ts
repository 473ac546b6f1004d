import { BehaviorSubject, type Observable, ReplaySubject } from "rxjs";
import type { RecentCalls, RecentCallsQuery } from "../api/limiter.js";
import { toAsyncIterable } from "../internal/async-iterable.js";
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
import type { NextPoll, NextPollQuery } from "./polling-scheduler.js";

/** A job's progress, with the figures that are not in the log. */
export interface LiveJobProgress extends JobProgress {
  /** API calls made for this job by this process (submissions and polls, every attempt). */
  apiCalls: number;
  elapsedMs: number;
  /**
   * The next poll of one of the job's enrichments (or, for one waiting on its webhook, when
   * polling takes over); null when none is scheduled here.
   */
  nextPoll: NextPoll | null;
  /**
   * The client's rate budget: calls of the last window (this process's, every job's), the limit,
   * the window, and calls waiting for a slot now.
   */
  rateBudget: RecentCalls;
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
  /** When the job's enrichments are polled next. */
  polls: NextPollQuery;
  /** The client's rate budget. */
  rateBudget: RecentCallsQuery;
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
  private readonly resultsSubject = new ReplaySubject<ContactResult>();
  private readonly progressSubject: BehaviorSubject<LiveJobProgress>;
  /** The enrichments of the job's batches that may still be polled. */
  private openEnrichments: string[] = [];

  /** @internal Jobs are created by {@link EnrichmentEngine.enrich} and {@link EnrichmentEngine.reverseLookup}. */
  constructor(private readonly context: JobContext) {
    this.id = context.id;
    this.kind = context.kind;
    this.total = context.total;
    this.startedAt = context.scheduler.now();
    this.progressSubject = new BehaviorSubject(this.live(initialProgress(context.id, context.total)));
    this.progress$ = this.progressSubject.asObservable();
    this.results$ = this.resultsSubject.asObservable();
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
        for (const result of tracker.takeResults()) this.resultsSubject.next(result);
        this.openEnrichments = tracker.openEnrichments();
        this.progressSubject.next(this.live(tracker.progress()));
      },
      settle: (tracker) => {
        for (const result of tracker.takeResults()) this.resultsSubject.next(result);
        callsChanged.unsubscribe();
        this.openEnrichments = [];
        const summary = this.summarise(tracker);
        this.progressSubject.next(summary);
        this.progressSubject.complete();
        this.resultsSubject.complete();
        resolveSummary(summary);
      },
      fail: (error) => {
        callsChanged.unsubscribe();
        this.progressSubject.error(error);
        this.resultsSubject.error(error);
        rejectSummary(error);
      },
    });
  }

  /**
   * Each row's result once, for `for await`: the same results as {@link results$} (from the first,
   * however late it is called), ending when the job settles; throws if the job could not go on.
   * Leaving the loop early stops reading, not the job (abort it with its `signal`).
   *
   * @example
   * ```ts
   * for await (const result of engine.enrich(contacts).results()) console.log(result.contactKey);
   * ```
   */
  results(): AsyncIterableIterator<ContactResult> {
    return toAsyncIterable(this.results$);
  }

  /**
   * The progress as of now: the last state of the job's batches and contacts, with its clock (the
   * elapsed time, the next poll, the rate budget) read at this instant. Call it on a timer to show
   * a progress that moves while nothing resolves; once the job settled, its summary.
   */
  progressNow(): LiveJobProgress {
    const latest = this.progressSubject.value;
    if (latest.settled || this.progressSubject.closed) return latest;
    return { ...latest, ...this.clock() };
  }

  private summarise(tracker: JobTracker): JobSummary {
    const batches = tracker.batches();
    return {
      ...this.live(tracker.progress()),
      batchStates: batches,
      failures: tracker.failures(),
    };
  }

  private clock(): Pick<LiveJobProgress, "apiCalls" | "elapsedMs" | "nextPoll" | "rateBudget"> {
    const { calls, id, scheduler, polls, rateBudget } = this.context;
    return {
      apiCalls: calls.of(id),
      elapsedMs: scheduler.now() - this.startedAt,
      nextPoll: polls.nextPoll(this.openEnrichments),
      rateBudget: rateBudget.recentCalls(),
    };
  }

  private live(progress: JobProgress): LiveJobProgress {
    return { ...progress, ...this.clock() };
  }
}
