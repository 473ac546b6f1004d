import { inferLookupKind } from "../../api/response-schemas.js";
import { contactIdentity } from "../contact-identity.js";
import type { EventBody } from "../event-types.js";
import type { BatchState, EnrichmentState } from "./enrichment-state.js";
import { isAmbiguous, isCleanlyRejected, isSettled } from "./enrichment-state.js";

/** Per-batch and per-enrichment state, folded from the log. */
export interface ProjectionState {
  readonly batches: Map<string, BatchState>;
  readonly enrichments: Map<string, EnrichmentState>;
  /**
   * The latest batch holding each contact identity while that batch is not settled (running,
   * waiting, or ambiguous), with the contact's key in it.
   */
  readonly openIdentities: Map<string, { batchId: string; key: string }>;
  /** When the latest API calls were let through (at most {@link RECENT_CALLS} of them). */
  readonly recentCalls: number[];
  /** Position of the last stored event folded in. */
  position: number;
}

/** How many API call times the projection keeps: more than any window's worth. */
export const RECENT_CALLS = 1_000;

/** The state before the first event. */
export function emptyProjection(): ProjectionState {
  return {
    batches: new Map(),
    enrichments: new Map(),
    openIdentities: new Map(),
    recentCalls: [],
    position: 0,
  };
}

/** Forgets the open identities of a batch that settled (or was refused outright). */
function closeIdentities(state: ProjectionState, batch: BatchState | undefined): void {
  if (!batch) return;
  for (const identity of batch.identities.values()) {
    if (state.openIdentities.get(identity)?.batchId === batch.batchId) state.openIdentities.delete(identity);
  }
}

/** The state of an enrichment, created empty when first heard of. */
function ensure(state: ProjectionState, enrichmentId: string, kind: "enrich" | "reverse"): EnrichmentState {
  let enrichment = state.enrichments.get(enrichmentId);
  if (!enrichment) {
    enrichment = {
      enrichmentId,
      kind,
      batchId: null,
      resolved: new Set(),
      completed: null,
      failed: null,
      fallback: null,
      lastObservedAt: null,
      webhookSeen: false,
    };
    state.enrichments.set(enrichmentId, enrichment);
  }
  return enrichment;
}

/**
 * Folds one event into the state. Idempotent: an event folded twice (decided and folded by the
 * engine, then read back from the log; or replayed, then live) changes nothing the second time.
 */
export function evolve(state: ProjectionState, event: EventBody): void {
  if (event.position !== undefined && event.position > state.position) state.position = event.position;
  switch (event.type) {
    case "enrichment.requested": {
      const { data } = event;
      if (state.batches.has(data.batchId)) return;
      const identities = new Map(
        data.contacts.map((contact) => [
          contact.key,
          contact.identity ?? contactIdentity(data.kind, contact.contact, data.keying.correlationKey),
        ]),
      );
      for (const [key, identity] of identities)
        state.openIdentities.set(identity, { batchId: data.batchId, key });
      state.batches.set(data.batchId, {
        batchId: data.batchId,
        jobId: data.jobId,
        batchIndex: data.batchIndex,
        contactsDigest: data.contactsDigest,
        kind: data.kind,
        name: data.name,
        keying: data.keying,
        keys: data.contacts.map((contact) => contact.key),
        inputs: new Map(data.contacts.map((contact) => [contact.key, contact.contact])),
        mode: data.mode,
        webhookUrl: data.webhookUrl,
        identities,
        requestedAt: data.requestedAt,
        position: event.position ?? 0,
        enrichmentId: null,
        acceptedAt: null,
        rejected: null,
        abandoned: null,
      });
      return;
    }
    case "enrichment.accepted": {
      const batch = state.batches.get(event.data.batchId);
      if (batch && batch.enrichmentId === null) {
        batch.enrichmentId = event.data.enrichmentId;
        batch.acceptedAt = event.data.acceptedAt;
      }
      const enrichment = ensure(state, event.data.enrichmentId, batch?.kind ?? "enrich");
      enrichment.batchId ??= event.data.batchId;
      // Settled before its batch was known (the delivery came before the answer was recorded).
      if (isSettled(enrichment)) closeIdentities(state, batch);
      return;
    }
    case "enrichment.rejected": {
      const batch = state.batches.get(event.data.batchId);
      if (batch && batch.rejected === null) batch.rejected = event.data;
      if (batch && isCleanlyRejected(batch)) closeIdentities(state, batch);
      return;
    }
    case "enrichment.abandoned": {
      const batch = state.batches.get(event.data.batchId);
      if (batch) batch.abandoned ??= event.data;
      return;
    }
    case "api.called": {
      state.recentCalls.push(event.data.calledAt);
      if (state.recentCalls.length > RECENT_CALLS)
        state.recentCalls.splice(0, state.recentCalls.length - RECENT_CALLS);
      return;
    }
    case "webhook.received": {
      const enrichment = ensure(
        state,
        event.data.enrichmentId,
        inferLookupKind(event.data.payload.data ?? event.data.payload.datas),
      );
      enrichment.webhookSeen = true;
      enrichment.lastObservedAt = event.data.receivedAt;
      return;
    }
    case "poll.observed": {
      ensure(state, event.data.enrichmentId, event.data.kind).lastObservedAt = event.data.observedAt;
      return;
    }
    case "contact.resolved": {
      const enrichment = ensure(state, event.data.enrichmentId, event.data.kind);
      enrichment.resolved.add(event.data.contactKey);
      enrichment.batchId ??= event.data.batchId;
      return;
    }
    case "enrichment.completed": {
      const enrichment = ensure(state, event.data.enrichmentId, "enrich");
      enrichment.completed ??= event.data;
      closeIdentities(state, enrichment.batchId ? state.batches.get(enrichment.batchId) : undefined);
      return;
    }
    case "enrichment.failed": {
      const enrichment = ensure(state, event.data.enrichmentId, "enrich");
      enrichment.failed ??= event.data;
      closeIdentities(state, enrichment.batchId ? state.batches.get(enrichment.batchId) : undefined);
      return;
    }
    case "fallback.activated": {
      ensure(state, event.data.enrichmentId, "enrich").fallback ??= event.data;
      return;
    }
    case "webhook.quarantined":
    case "contact.duplicate":
    case "job.planned":
      return;
  }
}

/** How many of a kind are running at the provider, as far as the log tells, and when that may drop. */
export interface RunningCount {
  count: number;
  /** When one of them stops counting without any new event (its time bound), or null. */
  nextChangeAt: number | null;
}

/**
 * The projection of batches and enrichments: {@link evolve} over the log, and the questions the
 * engine, the CLI and reconciliation ask of it.
 */
export class EnrichmentsProjection {
  private readonly state = emptyProjection();

  /** Position of the last stored event folded in. */
  get position(): number {
    return this.state.position;
  }

  /** Folds one event in (idempotent). */
  evolve(event: EventBody): void {
    evolve(this.state, event);
  }

  /** A batch by id. */
  batch(batchId: string): BatchState | undefined {
    return this.state.batches.get(batchId);
  }

  /** Every batch in the log, in the order they were requested. */
  batches(): IterableIterator<BatchState> {
    return this.state.batches.values();
  }

  /** An enrichment by id. */
  enrichment(enrichmentId: string): EnrichmentState | undefined {
    return this.state.enrichments.get(enrichmentId);
  }

  /** Every enrichment heard of, in the order they were first heard of. */
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

  /** When the latest API calls recorded in the log were let through, oldest first. */
  recentCalls(): readonly number[] {
    return this.state.recentCalls;
  }

  /** The batch an enrichment came from, when known. */
  batchOf(enrichmentId: string): BatchState | undefined {
    const batchId = this.state.enrichments.get(enrichmentId)?.batchId;
    return batchId ? this.state.batches.get(batchId) : undefined;
  }

  /** Whether the enrichment completed or failed (false when unknown). */
  isSettled(enrichmentId: string): boolean {
    const enrichment = this.state.enrichments.get(enrichmentId);
    return enrichment !== undefined && isSettled(enrichment);
  }

  /** The latest request of each batch index of a job, by index. */
  latestBatchesOfJob(jobId: string): Map<number, BatchState> {
    const latest = new Map<number, BatchState>();
    for (const batch of this.state.batches.values()) {
      if (batch.jobId !== jobId) continue;
      const known = latest.get(batch.batchIndex);
      if (!known || known.position < batch.position) latest.set(batch.batchIndex, batch);
    }
    return latest;
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
