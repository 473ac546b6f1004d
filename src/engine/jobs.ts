import type { Observable } from "rxjs";
import { errorMessage, FullEnrichError } from "../api/errors.js";
import type { RecentCallsQuery } from "../api/limiter.js";
import { contactIdentity } from "../events/contact-identity.js";
import { type DomainEvent, dedupKeys, type Keying, newEvent, streams } from "../events/event-types.js";
import { awaitsAdoption, type BatchState } from "../events/projections/enrichment-state.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import { sleep } from "../internal/time.js";
import type { AmbiguityWatch } from "./ambiguity-watch.js";
import { appendReliably, type ReliableAppendDeps } from "./append-reliably.js";
import type { BatchSubmitter } from "./batch-submitter.js";
import {
  type KeyedBatch,
  keyPreparedBatch,
  type PreparedBatch,
  prepareContacts,
  type SubmittedContact,
  splitIntoBatches,
} from "./batches.js";
import type { JobOptions } from "./engine-options.js";
import { tagsOf } from "./event-tags.js";
import { EnrichmentJob, type JobHandle } from "./job.js";
import type { JobCalls } from "./job-calls.js";
import type { JobStopReason } from "./job-progress.js";
import { JobTracker } from "./job-tracker.js";
import type { KnownContacts, ResolvedContact } from "./known-contacts.js";
import type { ProviderTimings } from "./learned-timings.js";
import type { PollingScheduler } from "./polling-scheduler.js";
import type { RunningLimit } from "./running-limit.js";
import { errorDelay } from "./timings.js";

/** The log as the engine processed it: its events as they are processed, and how far it got. */
export interface ProcessedLog {
  readonly events$: Observable<DomainEvent>;
  whenProcessed(position: number): Promise<void>;
  /** Runs a section while no event is handled (see `LogFollower.exclusive`). */
  exclusive<T>(section: () => Promise<T>): Promise<T>;
}

/** What {@link Jobs} needs. */
export interface JobsDeps extends ReliableAppendDeps {
  projection: EnrichmentsProjection;
  known: KnownContacts;
  submitter: BatchSubmitter;
  runningLimit: RunningLimit;
  polling: PollingScheduler;
  ambiguity: AmbiguityWatch;
  log: ProcessedLog;
  calls: JobCalls;
  /** The client's rate budget, for the jobs' progress. */
  rateBudget: RecentCallsQuery;
  keying: Keying;
  /** The provider's timings as the log saw them (the jobs' expected finish). */
  provider: ProviderTimings;
  batchSize: number;
  newId: () => string;
  /** Aborted when the engine closes: batches not sent by then never are. */
  closing: AbortSignal;
}

/** Attempts of a batch the provider refused for a passing reason (a 429, a connection that never opened). */
const SEND_ATTEMPTS = 5;

/** Whether a resolution may stand in for sending the contact again: it was enriched, and it is fresh enough. */
function reusable(event: ResolvedContact, now: number, maxAgeMs: number | undefined): boolean {
  const enriched = event.data.status === "FINISHED" || event.data.record !== null;
  return enriched && (maxAgeMs === undefined || now - event.data.resolvedAt <= maxAgeMs);
}

/** One job while it runs: its options, its tracker and its handle. */
interface Run {
  kind: "enrich" | "reverse";
  jobId: string;
  name: string;
  options: JobOptions;
  tracker: JobTracker;
  handle: JobHandle;
  /** The contact (as validated, defaults applied) of each identity. */
  contacts: Map<string, SubmittedContact>;
  nextBatchIndex: number;
  done: boolean;
  /** Aborts what waits to be sent: the job's own signal, its stop, or the engine closing. */
  signal: AbortSignal;
  /** Aborted when the job stops (its signal, its maximum wait): see {@link Jobs.stop}. */
  stopper: AbortController;
  /** Undoes what watches the job from outside (its signal's listener, its maximum wait's timer). */
  cleanups: (() => void)[];
  /** POSTs of the job on their way (waiting for a slot, or on the wire). */
  sending: number;
  /** Settles a stopped job once no POST of it is on its way any more. */
  onIdle: (() => void) | null;
}

/**
 * Starts jobs. A job plans by contact identity: a contact already enriched in the log is reused
 * (no call), one in a batch still running is followed, one whose POST got no answer is followed
 * while its webhook may still come (else reported, or sent again on request), identical rows are
 * sent once; only the rest is split into batches and sent, each once the provider's running limit
 * and the rate limit have room.
 */
export class Jobs {
  /** The jobs running now. */
  private readonly live = new Set<Run>();
  /** Jobs that stopped (aborted, timed out): their batches accepted later are not followed. */
  private readonly stoppedJobs = new Set<string>();

  constructor(private readonly deps: JobsDeps) {}

  /**
   * Whether a job was stopped (aborted, or its maximum wait passed) in this process: a batch of
   * it that the provider accepts afterwards (its POST was on the wire) is not polled.
   */
  isStopped(jobId: string): boolean {
    return this.stoppedJobs.has(jobId);
  }

  /** Validates synchronously (throws `InvalidRequestError`), then plans and submits in the background. */
  start(kind: "enrich" | "reverse", contacts: readonly unknown[], options: JobOptions): EnrichmentJob {
    const { deps } = this;
    const prepared = prepareContacts(kind, contacts, {
      batchSize: options.batchSize ?? deps.batchSize,
      correlationKey: deps.keying.correlationKey,
      ...(options.enrichFields ? { enrichFields: options.enrichFields } : {}),
    });
    const identities = prepared.map((contact) => contactIdentity(kind, contact, deps.keying.correlationKey));
    if (options.maxWaitMs !== undefined && !(Number.isFinite(options.maxWaitMs) && options.maxWaitMs > 0)) {
      throw new FullEnrichError(
        `maxWaitMs must be a positive number of milliseconds, not ${options.maxWaitMs}`,
      );
    }
    const jobId = options.jobId ?? deps.newId();
    const stopper = new AbortController();
    const tracker = new JobTracker({
      jobId,
      rows: identities,
      correlationKey: deps.keying.correlationKey,
      resubmitAmbiguous: options.onAmbiguous === "resubmit",
      expectedFinish: (acceptedAt, size) => deps.provider.expectedFinish(acceptedAt, size),
    });
    const byIdentity = new Map<string, SubmittedContact>();
    identities.forEach((identity, index) => {
      if (!byIdentity.has(identity)) byIdentity.set(identity, prepared[index] as SubmittedContact);
    });
    return new EnrichmentJob({
      id: jobId,
      kind,
      total: prepared.length,
      calls: deps.calls,
      scheduler: deps.scheduler,
      polls: deps.polling,
      rateBudget: deps.rateBudget,
      feed: {
        run: (handle) =>
          this.run({
            kind,
            jobId,
            name: options.name?.trim() || "fullenrich-rx",
            options,
            tracker,
            handle,
            contacts: byIdentity,
            nextBatchIndex: 0,
            done: false,
            signal: AbortSignal.any([
              stopper.signal,
              deps.closing,
              ...(options.signal ? [options.signal] : []),
            ]),
            stopper,
            cleanups: [],
            sending: 0,
            onIdle: null,
          }),
      },
    });
  }

  /** Follows the log (first, so that nothing happening while it plans is missed), plans, then sends. */
  private run(run: Run): void {
    const { deps } = this;
    let planning = true;
    const buffered: DomainEvent[] = [];
    const subscription = deps.log.events$.subscribe({
      next: (event) => {
        if (planning) buffered.push(event);
        else if (run.tracker.apply(event)) this.changed(run);
      },
      error: (error: unknown) => this.fail(run, error),
    });
    this.live.add(run);
    const finish = (): void => {
      subscription.unsubscribe();
      this.live.delete(run);
      for (const cleanup of run.cleanups.splice(0)) cleanup();
    };
    const original = run.handle;
    run.handle = {
      changed: original.changed,
      settle: (tracker) => {
        finish();
        original.settle(tracker);
      },
      fail: (error) => {
        finish();
        original.fail(error);
      },
    };
    this.watchStops(run);
    // Planning reads the projection and the store together: never while an event is half-handled
    // (its decisions folded in but not yet appended).
    deps.log
      .exclusive(() => this.plan(run))
      .then((toSend) => {
        planning = false;
        for (const event of buffered.splice(0)) run.tracker.apply(event);
        this.changed(run);
        this.sendAll(run, toSend);
      })
      .catch((error: unknown) => this.fail(run, error));
  }

  /**
   * Decides, per identity, whether it is reused, followed, reported or sent, and records the plan
   * (`job.planned`); returns those to send.
   */
  private async plan(run: Run): Promise<string[]> {
    const { deps } = this;
    const { tracker, options } = run;
    const toSend: string[] = [];
    const toLookUp: string[] = [];
    const counts = { reused: 0, following: 0, ambiguous: 0 };
    for (const identity of tracker.distinctIdentities()) {
      const open = options.refresh ? undefined : deps.projection.openBatchOf(identity);
      if (!open) {
        (options.refresh ? toSend : toLookUp).push(identity);
        continue;
      }
      const { batch, key } = open;
      if (batch.enrichmentId !== null) {
        const done = deps.projection.enrichment(batch.enrichmentId)?.resolved.has(key);
        const event = done
          ? await deps.known.resolution(dedupKeys.resolved(batch.enrichmentId, key))
          : undefined;
        if (event) {
          tracker.reuse(identity, event);
          counts.reused++;
        } else {
          tracker.follow(identity, batch, key);
          deps.polling.track(batch, true);
          counts.following++;
        }
      } else if (deps.submitter.submitting.has(batch.batchId) || awaitsAdoption(batch)) {
        tracker.follow(identity, batch, key);
        deps.ambiguity.watch(batch);
        counts.following++;
      } else if (options.onAmbiguous === "resubmit") {
        toSend.push(identity);
      } else {
        tracker.follow(identity, batch, key);
        await this.reportAmbiguous(run, batch, [identity]);
        counts.ambiguous++;
      }
    }
    if (toLookUp.length > 0) {
      const now = deps.scheduler.now();
      const maxAge = options.maxAgeMs;
      const known = await deps.known.latest(toLookUp, (event) => reusable(event, now, maxAge));
      for (const identity of toLookUp) {
        const event = known.get(identity);
        if (event) {
          tracker.reuse(identity, event);
          counts.reused++;
        } else toSend.push(identity);
      }
    }
    const planned = newEvent("job.planned", {
      jobId: run.jobId,
      kind: run.kind,
      name: run.name,
      rows: run.tracker.progress().total,
      contacts: run.contacts.size,
      ...counts,
      toSend: toSend.length,
      refresh: options.refresh === true,
      plannedAt: deps.scheduler.now(),
    });
    await appendReliably(deps, streams.job(run.jobId), [{ ...planned, tags: tagsOf(planned) }]);
    deps.logger.info(
      toSend.length === 0 && run.contacts.size > 0
        ? "a job was planned: nothing to send, every contact is in the log already"
        : "a job was planned",
      {
        jobId: run.jobId,
        rows: planned.data.rows,
        contacts: run.contacts.size,
        ...counts,
        toSend: toSend.length,
      },
    );
    return toSend;
  }

  /** A batch whose POST got no answer and whose webhook cannot (or did not) settle it: its contacts fail as ambiguous. */
  private async reportAmbiguous(run: Run, batch: BatchState, identities: string[]): Promise<void> {
    const message = batch.abandoned?.reason ?? (await this.deps.submitter.markAmbiguous(batch));
    run.tracker.fail(identities, { batchId: batch.batchId, state: "ambiguous", message });
  }

  private sendAll(run: Run, identities: readonly string[]): void {
    const batchSize = run.options.batchSize ?? this.deps.batchSize;
    const batches = splitIntoBatches(
      identities.map((identity) => ({ contact: run.contacts.get(identity) as SubmittedContact, identity })),
      batchSize,
      run.nextBatchIndex,
    );
    run.nextBatchIndex += batches.length;
    const total = run.nextBatchIndex;
    for (const batch of batches) {
      const name = total > 1 ? `${run.name} (${batch.batchIndex + 1}/${total})` : run.name;
      this.send(run, batch, name).catch((error: unknown) => this.fail(run, error));
    }
    this.changed(run);
  }

  /**
   * Sends one planned batch: waits for the running limit, then POSTs it (the request recorded as
   * it leaves). A refusal for a passing reason (a 429, a connection that never opened) plans it
   * again under a new batch id, after a back-off; a lasting one fails its contacts. Each attempt is
   * keyed and tracked before it waits its turn: the job counts it as queued until its POST leaves.
   */
  private async send(run: Run, batch: PreparedBatch, name: string): Promise<void> {
    const { deps } = this;
    let keyed = this.queue(run, batch);
    for (let attempt = 0; ; attempt++) {
      if (run.done) return;
      let release: () => void;
      try {
        release = await deps.runningLimit.acquire(run.kind, run.signal);
      } catch (error) {
        // Aborted, or the engine closed, while the batch waited for room: the job stops here.
        this.fail(run, error);
        return;
      }
      let outcome: Awaited<ReturnType<BatchSubmitter["send"]>>;
      run.sending++;
      try {
        // A stop drops the POST until it leaves; one on the wire gets its answer recorded (its batch
        // then accepted, for a rerun to follow, rather than ambiguous). Closing the engine aborts it.
        outcome = await deps.submitter.send({
          kind: run.kind,
          jobId: run.jobId,
          name,
          batch: keyed,
          signal: deps.closing,
          stopBeforeSend: AbortSignal.any([
            run.stopper.signal,
            ...(run.options.signal ? [run.options.signal] : []),
          ]),
        });
        // Until the engine has seen the answer, the log does not count this batch yet.
        if (outcome.kind !== "not-sent") await deps.log.whenProcessed(outcome.position);
      } finally {
        release();
        run.sending--;
        // A stopped job settles once its last POST on the wire is answered (after this turn's
        // bookkeeping below).
        const idle = run.sending === 0 ? run.onIdle : null;
        if (idle) {
          run.onIdle = null;
          queueMicrotask(idle);
        }
      }
      switch (outcome.kind) {
        case "accepted":
          run.tracker.markSent(keyed.batchId);
          this.changed(run);
          return;
        case "unknown": {
          run.tracker.markSent(keyed.batchId);
          const state = deps.projection.batch(keyed.batchId);
          if (state && awaitsAdoption(state)) deps.ambiguity.watch(state);
          else this.failBatch(run, batch, keyed.batchId, "ambiguous", outcome.message);
          this.changed(run);
          return;
        }
        case "refused":
          if (outcome.retryable && attempt + 1 < SEND_ATTEMPTS) {
            deps.logger.info("a batch was refused for a passing reason; sending it again", {
              batchId: keyed.batchId,
              error: outcome.message,
            });
            keyed = this.queue(run, batch);
            this.changed(run);
            await sleep(errorDelay(deps.timings, attempt), deps.scheduler);
            continue;
          }
          this.failBatch(run, batch, keyed.batchId, "rejected", outcome.message);
          this.changed(run);
          return;
        case "not-sent":
          if (run.signal.aborted || run.done) {
            this.fail(run, outcome.error);
            return;
          }
          // The request could not be recorded (the store failed): nothing left; try again later.
          deps.logger.warn("a batch could not be recorded before sending; retrying", {
            error: errorMessage(outcome.error),
          });
          keyed = this.queue(run, batch);
          await sleep(errorDelay(deps.timings, attempt), deps.scheduler);
      }
    }
  }

  /** Keys an attempt at sending a planned batch (a new batch id) and tracks it, queued. */
  private queue(run: Run, batch: PreparedBatch): KeyedBatch {
    const keyed = keyPreparedBatch(batch, this.deps.newId(), this.deps.keying);
    run.tracker.assign({ ...keyed, identities: batch.identities });
    return keyed;
  }

  /** The contacts of a batch end without a result, for this reason. */
  private failBatch(
    run: Run,
    batch: PreparedBatch,
    batchId: string,
    state: "ambiguous" | "rejected",
    message: string,
  ): void {
    run.tracker.fail(batch.identities, { batchId, state, message });
  }

  /** The tracker changed: publish, send what an abandoned batch leaves to send again, settle when done. */
  private changed(run: Run): void {
    if (run.done) return;
    const resubmit = run.tracker.takeResubmissions();
    if (resubmit.length > 0) this.sendAll(run, resubmit);
    run.handle.changed(run.tracker);
    if (run.tracker.settled) {
      run.done = true;
      run.handle.settle(run.tracker);
    }
  }

  private fail(run: Run, error: unknown): void {
    if (run.done) return;
    // The job's own signal (not the engine closing) ended what failed: the job stops, it does not fail.
    if (run.options.signal?.aborted) {
      this.stop(run, "aborted");
      return;
    }
    run.done = true;
    run.handle.fail(error);
  }

  /** Stops the job when its signal aborts, or when its maximum wait passes. */
  private watchStops(run: Run): void {
    const { signal, maxWaitMs } = run.options;
    if (signal) {
      const onAbort = (): void => this.stop(run, "aborted");
      if (signal.aborted) {
        // Settle after the caller got the job back (its summary and results$ still say so).
        queueMicrotask(onAbort);
      } else {
        signal.addEventListener("abort", onAbort, { once: true });
        run.cleanups.push(() => signal.removeEventListener("abort", onAbort));
      }
    }
    if (maxWaitMs !== undefined) {
      const timer = this.deps.scheduler.schedule(() => this.stop(run, "timed-out"), maxWaitMs);
      run.cleanups.push(() => timer.unsubscribe());
    }
  }

  /**
   * The job stops waiting: nothing more of it is sent (what waits its turn is dropped), its rows
   * without a result fail with the reason, polling stops for its enrichments that no other running
   * job waits on, and the job settles (its summary's `stopped` says why). Results that come later
   * stay in the log: a rerun takes them from there.
   */
  private stop(run: Run, reason: JobStopReason): void {
    if (run.done) return;
    const { deps } = this;
    const message =
      reason === "aborted"
        ? "the job was aborted (its signal) before these contacts had a result"
        : `no result within the job's maximum wait (maxWaitMs ${run.options.maxWaitMs})`;
    run.done = true;
    this.stoppedJobs.add(run.jobId);
    run.stopper.abort(new FullEnrichError(message));
    // The job's batches as the log has them too: one accepted a moment ago may be followed by the
    // poller before this job's tracker has seen its acceptance.
    const accepted = run.tracker
      .batches()
      .map((batch) => deps.projection.batch(batch.batchId)?.enrichmentId ?? null)
      .filter((enrichmentId): enrichmentId is string => enrichmentId !== null);
    const open = [...new Set([...run.tracker.stop(reason, message), ...accepted])];
    const awaitedElsewhere = new Set(
      [...this.live].filter((other) => other !== run).flatMap((other) => other.tracker.openEnrichments()),
    );
    const stopped = open.filter((enrichmentId) => !awaitedElsewhere.has(enrichmentId));
    // Nobody here waits for them any more: no poll, no polling takeover (a rerun follows them again).
    for (const enrichmentId of stopped) deps.polling.settled(enrichmentId);
    const left = run.tracker.progress();
    deps.logger.info(reason === "aborted" ? "a job was aborted" : "a job timed out", {
      jobId: run.jobId,
      withoutResult: left.failed,
      resolved: left.resolved,
      pollingStopped: stopped.length,
    });
    // A POST already on the wire is not cut: its answer is recorded first (its batch accepted, for
    // a rerun to follow), then the job settles.
    const settle = (): void => run.handle.settle(run.tracker);
    if (run.sending > 0) run.onIdle = settle;
    else settle();
  }
}
