import type { EventBody } from "../event-types.js";
import { sizeClass } from "./completion-times.js";
import type { BatchState, EnrichmentState } from "./enrichment-state.js";
import { isAmbiguous, isSettled } from "./enrichment-state.js";
import { fromSnapshot, type ProjectionSnapshot, toSnapshot } from "./projection-snapshot.js";
import {
  compact,
  emptyProjection,
  evolve,
  type ProjectionState,
  type ProjectionTotals,
  type QuarantinedDelivery,
  type SettledBatch,
} from "./projection-state.js";

/** How many of a kind are running at the provider, as far as the log tells, and when that may drop. */
export interface RunningCount {
  count: number;
  /** When one of them stops counting without any new event (its time bound), or null. */
  nextChangeAt: number | null;
}

/**
 * The projection of open work: `evolve` over the log, and the questions the engine, the CLI and
 * reconciliation ask of it. Settled work leaves memory ({@link compact}); the state can be saved
 * as a snapshot and restored from one.
 */
export class EnrichmentsProjection {
  private constructor(private readonly state: ProjectionState) {}

  /** An empty projection (before the first event). */
  static empty(): EnrichmentsProjection {
    return new EnrichmentsProjection(emptyProjection());
  }

  /** The projection a snapshot holds; throws when it is not a snapshot of this version. */
  static restore(snapshot: unknown): EnrichmentsProjection {
    return new EnrichmentsProjection(fromSnapshot(snapshot));
  }

  /** Position of the last stored event folded in. */
  get position(): number {
    return this.state.position;
  }

  /** Folds one event in (idempotent). */
  evolve(event: EventBody): void {
    evolve(this.state, event);
  }

  /** Drops what is over from memory: a settled enrichment and its batch, a refused batch. */
  compact(ids: { enrichmentId?: string; batchId?: string }): void {
    compact(this.state, ids);
  }

  /** The state as JSON, for a snapshot. */
  snapshot(): ProjectionSnapshot {
    return toSnapshot(this.state);
  }

  /** What the whole log adds up to. */
  totals(): ProjectionTotals {
    return structuredClone(this.state.totals);
  }

  /** The latest batches whose work is over, oldest first. */
  settledBatches(): readonly SettledBatch[] {
    return this.state.settled;
  }

  /** Signed deliveries that could not be parsed, not parsed again since. */
  quarantined(): readonly QuarantinedDelivery[] {
    return this.state.quarantined;
  }

  /** A batch by id. */
  batch(batchId: string): BatchState | undefined {
    return this.state.batches.get(batchId);
  }

  /** Every batch of open work (not settled), in the order they were requested. */
  batches(): IterableIterator<BatchState> {
    return this.state.batches.values();
  }

  /** An enrichment by id. */
  enrichment(enrichmentId: string): EnrichmentState | undefined {
    return this.state.enrichments.get(enrichmentId);
  }

  /** Every enrichment of open work, in the order they were first heard of. */
  enrichments(): IterableIterator<EnrichmentState> {
    return this.state.enrichments.values();
  }

  /**
   * The latest batch holding a contact identity while it is not settled (running, waiting for its
   * answer or a delivery, or ambiguous), and the contact's key in it.
   */
  openBatchOf(identity: string): { batch: BatchState; key: string } | undefined {
    const open = this.state.openIdentities.get(identity);
    const batch = open ? this.state.batches.get(open.batchId) : undefined;
    return open && batch ? { batch, key: open.key } : undefined;
  }

  /**
   * How long the latest batches of about `size` contacts (the same size class) took at the
   * provider, from acceptance to the first observation of them finished, oldest first.
   */
  completionTimes(size: number): readonly number[] {
    return this.state.completionTimes.get(sizeClass(size)) ?? [];
  }

  /** When the latest API calls recorded in the log were let through, oldest first. */
  recentCalls(): readonly number[] {
    return this.state.recentCalls;
  }

  /** The batch an enrichment came from, when known. */
  batchOf(enrichmentId: string): BatchState | undefined {
    const batchId = this.state.enrichments.get(enrichmentId)?.batchId;
    return batchId ? this.state.batches.get(batchId) : undefined;
  }

  /** Whether a webhook delivery of the enrichment was stored (false when unknown). */
  webhookSeen(enrichmentId: string): boolean {
    return this.state.enrichments.get(enrichmentId)?.webhookSeen === true;
  }

  /** Whether the enrichment completed or failed (false when unknown). */
  isSettled(enrichmentId: string): boolean {
    const enrichment = this.state.enrichments.get(enrichmentId);
    return enrichment !== undefined && isSettled(enrichment);
  }

  /** Batches accepted by the provider whose enrichment has not settled yet. */
  unfinished(): BatchState[] {
    return [...this.state.batches.values()].filter(
      (batch) => batch.enrichmentId !== null && !this.isSettled(batch.enrichmentId),
    );
  }

  /** Batches whose POST may or may not have started an enrichment (requested, never accepted, not refused outright). */
  ambiguous(): BatchState[] {
    return [...this.state.batches.values()].filter(isAmbiguous);
  }

  /**
   * Batches of `kind` running at the provider as the log tells: accepted and not settled, or
   * requested without a clean refusal, each until `until(batch)` (after which it counts no more,
   * whether or not its end was seen). Batches in `exclude` are left out.
   */
  runningCount(
    kind: "enrich" | "reverse",
    now: number,
    until: (batch: BatchState) => number,
    exclude: ReadonlySet<string>,
  ): RunningCount {
    let count = 0;
    let nextChangeAt: number | null = null;
    for (const batch of this.state.batches.values()) {
      if (batch.kind !== kind || exclude.has(batch.batchId)) continue;
      if (batch.enrichmentId !== null ? this.isSettled(batch.enrichmentId) : !isAmbiguous(batch)) continue;
      const end = until(batch);
      if (end <= now) continue;
      count++;
      nextChangeAt = Math.min(nextChangeAt ?? end, end);
    }
    return { count, nextChangeAt };
  }
}
