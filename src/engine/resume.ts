import { awaitsAdoption } from "../events/projections/enrichment-state.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import type { AmbiguityWatch } from "./ambiguity-watch.js";
import type { BatchSubmitter } from "./batch-submitter.js";
import type { ResumeReport } from "./engine-options.js";
import type { PollingScheduler } from "./polling-scheduler.js";
import { type Timings, webhookDeadline } from "./timings.js";

/** What {@link resumeFollowing} needs. */
export interface ResumeDeps {
  projection: EnrichmentsProjection;
  polling: PollingScheduler;
  submitter: BatchSubmitter;
  ambiguity: AmbiguityWatch;
  timings: Timings;
}

/**
 * After a restart: every unfinished enrichment is followed again; every POST without an answer is
 * awaited while a webhook may still name it, else reported (once, in the log). Run it between
 * events (it reads the projection and appends).
 */
export async function resumeFollowing(deps: ResumeDeps): Promise<ResumeReport> {
  const { projection, polling, submitter, ambiguity, timings } = deps;
  const report: ResumeReport = { resumed: [], awaitingDelivery: [], ambiguous: [] };
  for (const batch of projection.unfinished()) {
    polling.track(batch, true);
    report.resumed.push({
      enrichmentId: batch.enrichmentId as string,
      batchId: batch.batchId,
      mode: batch.mode,
      polling: polling.isPolling(batch.enrichmentId as string),
    });
  }
  for (const batch of projection.ambiguous()) {
    if (submitter.submitting.has(batch.batchId)) continue;
    if (awaitsAdoption(batch)) {
      ambiguity.watch(batch);
      report.awaitingDelivery.push({
        batchId: batch.batchId,
        jobId: batch.jobId,
        contacts: batch.keys.length,
        until: webhookDeadline(timings, batch.requestedAt),
      });
      continue;
    }
    const message = batch.abandoned?.reason ?? (await submitter.markAmbiguous(batch));
    report.ambiguous.push({
      batchId: batch.batchId,
      jobId: batch.jobId,
      contacts: batch.keys.length,
      message,
    });
  }
  return report;
}
