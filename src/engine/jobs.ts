import { FullEnrichError } from "../api/errors.js";
import type { Keying } from "../events/event-types.js";
import { type BatchState, isCleanlyRejected } from "../events/projections/enrichment-state.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import type { EventStore } from "../events/store.js";
import type { Scheduler } from "../internal/time.js";
import type { BatchSubmitter } from "./batch-submitter.js";
import { keyPreparedBatch, type PreparedBatch, prepareBatches } from "./batches.js";
import type { JobOptions } from "./engine-options.js";
import { EnrichmentJob, type JobLog, type JobStart } from "./job.js";
import type { JobCalls } from "./job-calls.js";
import type { PollingScheduler } from "./polling-scheduler.js";
import type { RunningLimit } from "./running-limit.js";

/** Raised when a job id is reused with other contacts. */
export class JobMismatchError extends FullEnrichError {
  override name = "JobMismatchError";
}

/** What {@link Jobs} needs. */
export interface JobsDeps {
  store: EventStore;
  projection: EnrichmentsProjection;
  submitter: BatchSubmitter;
  runningLimit: RunningLimit;
  polling: PollingScheduler;
  /** The log as the engine processed it: replayed for a job's results, and how far it got. */
  log: JobLog;
  calls: JobCalls;
  keying: Keying;
  batchSize: number;
  newId: () => string;
  scheduler: Scheduler;
}

/**
 * Whether a rerun submits an earlier batch of the job again: one that was never accepted and was
 * either refused outright (nothing started: a bad key, no credits, no network) or, on request
 * (`onAmbiguous: "resubmit"`), left without an answer.
 */
function willResubmit(batch: BatchState, options: JobOptions): boolean {
  if (batch.enrichmentId !== null) return false;
  return isCleanlyRejected(batch) || options.onAmbiguous === "resubmit";
}

/**
 * Starts jobs: validates and splits the contacts into batches, then, for each batch, either
 * continues what an earlier run of the same job left (follows it, or reports it as ambiguous) or
 * submits it once the provider's running limit has room.
 */
export class Jobs {
  constructor(private readonly deps: JobsDeps) {}

  /** Validates synchronously (throws `InvalidRequestError`), then submits in the background. */
  start(kind: "enrich" | "reverse", contacts: readonly unknown[], options: JobOptions): EnrichmentJob {
    const { deps } = this;
    const prepared = prepareBatches(kind, contacts, {
      batchSize: options.batchSize ?? deps.batchSize,
      correlationKey: deps.keying.correlationKey,
      ...(options.enrichFields ? { enrichFields: options.enrichFields } : {}),
    });
    const jobId = options.jobId ?? deps.newId();
    let resolveStart: (start: JobStart) => void = () => {};
    const start = new Promise<JobStart>((resolve) => {
      resolveStart = resolve;
    });
    const submission = this.submitBatches(kind, jobId, prepared, options, resolveStart);
    submission.catch(() => resolveStart({ after: Number.MAX_SAFE_INTEGER, superseded: new Set() }));
    return new EnrichmentJob({
      id: jobId,
      kind,
      total: prepared.reduce((sum, batch) => sum + batch.contacts.length, 0),
      batchCount: prepared.length,
      start,
      submission,
      log: deps.log,
      calls: deps.calls,
      correlationKey: deps.keying.correlationKey,
      scheduler: deps.scheduler,
    });
  }

  private async submitBatches(
    kind: "enrich" | "reverse",
    jobId: string,
    prepared: PreparedBatch[],
    options: JobOptions,
    resolveStart: (start: JobStart) => void,
  ): Promise<void> {
    const prior = this.deps.projection.latestBatchesOfJob(jobId);
    const positions = [...prior.values()].map((batch) => batch.position);
    const superseded = new Set(
      [...prior.values()].filter((batch) => willResubmit(batch, options)).map((batch) => batch.batchId),
    );
    resolveStart({
      after: positions.length > 0 ? Math.min(...positions) - 1 : await this.deps.store.head(),
      superseded,
    });
    const name = options.name?.trim() || "fullenrich-rx";
    await Promise.all(
      prepared.map((batch) => {
        const batchName = prepared.length > 1 ? `${name} (${batch.batchIndex + 1}/${prepared.length})` : name;
        return this.submitOrContinue(kind, jobId, batchName, batch, prior.get(batch.batchIndex), options);
      }),
    );
  }

  private async submitOrContinue(
    kind: "enrich" | "reverse",
    jobId: string,
    name: string,
    batch: PreparedBatch,
    prior: BatchState | undefined,
    options: JobOptions,
  ): Promise<void> {
    const { deps } = this;
    if (prior) {
      if (prior.contactsDigest !== batch.contactsDigest) {
        throw new JobMismatchError(
          `job ${jobId} already holds different contacts in batch ${batch.batchIndex + 1}: use another job id (or another store) for other contacts`,
        );
      }
      if (prior.enrichmentId !== null) {
        if (!deps.projection.isSettled(prior.enrichmentId)) deps.polling.track(prior, true);
        return;
      }
      if (!willResubmit(prior, options)) {
        if (!deps.submitter.submitting.has(prior.batchId)) await deps.submitter.markAmbiguous(prior);
        return;
      }
    }
    const release = await deps.runningLimit.acquire(kind, options.signal);
    try {
      const keyed = keyPreparedBatch(batch, deps.newId(), deps.keying);
      const position = await deps.submitter.submit(kind, jobId, name, keyed, options.signal);
      // Until the engine has seen the answer, the log does not count this batch yet.
      await deps.log.whenProcessed(position);
    } finally {
      release();
    }
  }
}
