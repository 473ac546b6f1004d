import { inferLookupKind } from "../../api/response-schemas.js";
import type { DomainEvent } from "../event-types.js";
import type { BatchState, EnrichmentState } from "./enrichment-state.js";
import { isSettled } from "./enrichment-state.js";

/**
 * Per-batch and per-enrichment state, folded from the log. Rebuilt by replaying every event from
 * position 0; `apply` is idempotent, so an event seen twice (replay, then live) changes nothing.
 */
export class EnrichmentsProjection {
  readonly batches = new Map<string, BatchState>();
  readonly enrichments = new Map<string, EnrichmentState>();
  /** Position of the last event applied. */
  position = 0;

  /** Folds one event in (idempotent). */
  apply(event: DomainEvent): void {
    if (event.position > this.position) this.position = event.position;
    switch (event.type) {
      case "enrichment.requested": {
        const { data } = event;
        if (this.batches.has(data.batchId)) return;
        this.batches.set(data.batchId, {
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
          requestedAt: data.requestedAt,
          position: event.position,
          enrichmentId: null,
          acceptedAt: null,
          rejected: null,
        });
        return;
      }
      case "enrichment.accepted": {
        const batch = this.batches.get(event.data.batchId);
        if (batch && batch.enrichmentId === null) {
          batch.enrichmentId = event.data.enrichmentId;
          batch.acceptedAt = event.data.acceptedAt;
        }
        const enrichment = this.ensure(event.data.enrichmentId, batch?.kind ?? "enrich");
        enrichment.batchId ??= event.data.batchId;
        return;
      }
      case "enrichment.rejected": {
        const batch = this.batches.get(event.data.batchId);
        if (batch && batch.rejected === null) batch.rejected = event.data;
        return;
      }
      case "webhook.received": {
        const enrichment = this.ensure(
          event.data.enrichmentId,
          inferLookupKind(event.data.payload.data ?? event.data.payload.datas),
        );
        enrichment.webhookSeen = true;
        enrichment.lastObservedAt = event.data.receivedAt;
        return;
      }
      case "poll.observed": {
        this.ensure(event.data.enrichmentId, event.data.kind).lastObservedAt = event.data.observedAt;
        return;
      }
      case "contact.resolved": {
        const enrichment = this.ensure(event.data.enrichmentId, event.data.kind);
        enrichment.resolved.add(event.data.contactKey);
        enrichment.batchId ??= event.data.batchId;
        return;
      }
      case "enrichment.completed": {
        const enrichment = this.ensure(event.data.enrichmentId, "enrich");
        enrichment.completed ??= event.data;
        return;
      }
      case "enrichment.failed": {
        const enrichment = this.ensure(event.data.enrichmentId, "enrich");
        enrichment.failed ??= event.data;
        return;
      }
      case "fallback.activated": {
        const enrichment = this.ensure(event.data.enrichmentId, "enrich");
        enrichment.fallback ??= event.data;
        return;
      }
      case "webhook.quarantined":
      case "contact.duplicate":
        return;
    }
  }

  /** The state of an enrichment, created empty when first heard of. */
  ensure(enrichmentId: string, kind: "enrich" | "reverse"): EnrichmentState {
    let state = this.enrichments.get(enrichmentId);
    if (!state) {
      state = {
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
      this.enrichments.set(enrichmentId, state);
    }
    return state;
  }

  /** The batch an enrichment came from, when known. */
  batchOf(enrichmentId: string): BatchState | undefined {
    const batchId = this.enrichments.get(enrichmentId)?.batchId;
    return batchId ? this.batches.get(batchId) : undefined;
  }

  /** Batches accepted by the provider whose enrichment has not settled yet. */
  unfinished(): BatchState[] {
    return [...this.batches.values()].filter((batch) => {
      if (batch.enrichmentId === null) return false;
      const enrichment = this.enrichments.get(batch.enrichmentId);
      return !enrichment || !isSettled(enrichment);
    });
  }

  /** Batches whose POST may or may not have started an enrichment: requested, never accepted, not cleanly rejected. */
  ambiguous(): BatchState[] {
    return [...this.batches.values()].filter(
      (batch) => batch.enrichmentId === null && (batch.rejected === null || batch.rejected.outcomeUnknown),
    );
  }
}
