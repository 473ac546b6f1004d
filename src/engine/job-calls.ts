import { filter, type Observable, Subject } from "rxjs";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";

/**
 * API calls made for each job by this process (submissions and polls, every attempt): not in the
 * log, counted as they are sent.
 */
export class JobCalls {
  private readonly counts = new Map<string, number>();
  private readonly changed = new Subject<string>();

  /** `projection`: to tell which job a poll of an enrichment is for. */
  constructor(private readonly projection: EnrichmentsProjection) {}

  /** One call for `jobId`. */
  count(jobId: string): void {
    this.counts.set(jobId, (this.counts.get(jobId) ?? 0) + 1);
    this.changed.next(jobId);
  }

  /** One call about an enrichment (a poll): counted for the job its batch belongs to, if any. */
  countForEnrichment(enrichmentId: string): void {
    const jobId = this.projection.batchOf(enrichmentId)?.jobId;
    if (jobId !== undefined) this.count(jobId);
  }

  /** Calls counted for `jobId` so far. */
  of(jobId: string): number {
    return this.counts.get(jobId) ?? 0;
  }

  /** Emits whenever a call is counted for `jobId`. */
  changes$(jobId: string): Observable<string> {
    return this.changed.pipe(filter((id) => id === jobId));
  }

  /** Completes the change streams. */
  close(): void {
    this.changed.complete();
  }
}
