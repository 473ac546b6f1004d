import type { DomainEvent } from "../events/event-types.js";
import { hasContactData } from "./contact-result.js";

/** Where one batch of a job stands. */
export interface BatchProgress {
  batchIndex: number;
  batchId: string;
  size: number;
  state: "requested" | "accepted" | "completed" | "failed" | "rejected" | "ambiguous";
  enrichmentId: string | null;
  resolved: number;
  /** Why it failed or was rejected. */
  message: string | null;
  credits: number | null;
  /** The provider reported the batch's final status. */
  finalStatus: string | null;
}

/** A job's progress, as its events tell it. */
export interface JobProgress {
  jobId: string;
  /** Contacts in the job. */
  total: number;
  /** Contacts resolved so far (each exactly once). */
  resolved: number;
  /** Of those, how many came with something found (contact data or a profile). */
  found: number;
  byStatus: Record<string, number>;
  bySource: { webhook: number; poll: number };
  batches: { total: number; submitted: number; accepted: number; completed: number; failed: number };
  credits: number;
  /** Every batch is completed, failed or rejected: nothing more will come. */
  settled: boolean;
}

/**
 * Folds the log's events into one job's progress. Pure, so the same fold serves the live progress,
 * the summary, and each subscriber of the job's results (which decides when to complete).
 */
export class JobTracker {
  private readonly byIndex = new Map<number, BatchProgress>();
  private readonly indexOfBatch = new Map<string, number>();
  private readonly indexOfEnrichment = new Map<string, number>();
  private readonly superseded = new Set<string>();
  private readonly progressState: JobProgress;

  constructor(
    readonly jobId: string,
    readonly batchCount: number,
    total: number,
  ) {
    this.progressState = {
      jobId,
      total,
      resolved: 0,
      found: 0,
      byStatus: {},
      bySource: { webhook: 0, poll: 0 },
      batches: { total: batchCount, submitted: 0, accepted: 0, completed: 0, failed: 0 },
      credits: 0,
      settled: batchCount === 0,
    };
  }

  /**
   * Batches this run submits again (rejected, or ambiguous with `onAmbiguous: "resubmit"`): their
   * events in the log no longer count, so the job waits for the new submission instead of settling
   * on the old outcome.
   */
  supersede(batchIds: Iterable<string>): void {
    for (const batchId of batchIds) this.superseded.add(batchId);
  }

  /** Applies an event; returns whether it concerned this job. */
  apply(event: DomainEvent): boolean {
    const batch = this.batchOf(event);
    if (event.type === "enrichment.requested") {
      if (event.data.jobId !== this.jobId || this.superseded.has(event.data.batchId)) return false;
      const previous = this.byIndex.get(event.data.batchIndex);
      if (previous?.batchId === event.data.batchId) return false;
      const fresh: BatchProgress = {
        batchIndex: event.data.batchIndex,
        batchId: event.data.batchId,
        size: event.data.contacts.length,
        state: "requested",
        enrichmentId: null,
        resolved: 0,
        message: null,
        credits: null,
        finalStatus: null,
      };
      this.byIndex.set(event.data.batchIndex, fresh);
      this.indexOfBatch.set(event.data.batchId, event.data.batchIndex);
      return this.refresh();
    }
    if (!batch) return false;
    switch (event.type) {
      case "enrichment.accepted":
        batch.enrichmentId = event.data.enrichmentId;
        this.indexOfEnrichment.set(event.data.enrichmentId, batch.batchIndex);
        if (batch.state === "requested" || batch.state === "ambiguous") batch.state = "accepted";
        break;
      case "enrichment.rejected":
        if (batch.state === "requested") {
          batch.state = event.data.outcomeUnknown ? "ambiguous" : "rejected";
          batch.message = event.data.error.message;
        }
        break;
      case "contact.resolved": {
        batch.resolved++;
        const progress = this.progressState;
        progress.resolved++;
        if (hasContactData(event.data.record)) progress.found++;
        progress.byStatus[event.data.status] = (progress.byStatus[event.data.status] ?? 0) + 1;
        progress.bySource[event.data.source]++;
        this.completeIfDone(batch);
        break;
      }
      case "enrichment.completed":
        batch.credits = event.data.credits;
        batch.finalStatus = event.data.status;
        this.completeIfDone(batch);
        break;
      case "enrichment.failed":
        if (batch.state !== "completed") {
          batch.state = "failed";
          batch.message = event.data.message;
        }
        break;
      default:
        return false;
    }
    return this.refresh();
  }

  progress(): JobProgress {
    return structuredClone(this.progressState);
  }

  batches(): BatchProgress[] {
    return [...this.byIndex.values()]
      .sort((a, b) => a.batchIndex - b.batchIndex)
      .map((batch) => ({ ...batch }));
  }

  get settled(): boolean {
    return this.progressState.settled;
  }

  /** Whether a `contact.resolved` event belongs to this job (and to a current batch of it). */
  owns(event: DomainEvent): boolean {
    return event.type === "contact.resolved" && this.batchOf(event) !== undefined;
  }

  private batchOf(event: DomainEvent): BatchProgress | undefined {
    const data = event.data as { batchId?: string | null; enrichmentId?: string };
    let index = data.batchId ? this.indexOfBatch.get(data.batchId) : undefined;
    if (index === undefined && data.enrichmentId !== undefined)
      index = this.indexOfEnrichment.get(data.enrichmentId);
    if (index === undefined) return undefined;
    const batch = this.byIndex.get(index);
    // Events of a batch that a rerun superseded do not count.
    if (!batch || (data.batchId && data.batchId !== batch.batchId)) return undefined;
    return batch;
  }

  /** Per-contact events never complete a batch on their own: its final status does. */
  private completeIfDone(batch: BatchProgress): void {
    if (batch.state === "accepted" && batch.finalStatus !== null && batch.resolved >= batch.size) {
      batch.state = "completed";
    }
  }

  private refresh(): boolean {
    const batches = [...this.byIndex.values()];
    const progress = this.progressState;
    progress.batches.submitted = batches.length;
    progress.batches.accepted = batches.filter((b) => b.enrichmentId !== null).length;
    progress.batches.completed = batches.filter((b) => b.state === "completed").length;
    progress.batches.failed = batches.filter((b) =>
      ["failed", "rejected", "ambiguous"].includes(b.state),
    ).length;
    progress.credits = batches.reduce((sum, b) => sum + (b.credits ?? 0), 0);
    progress.settled =
      batches.length === this.batchCount &&
      batches.every((b) => b.state !== "requested" && b.state !== "accepted");
    return true;
  }
}
