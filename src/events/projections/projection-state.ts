import { inferLookupKind } from "../../api/response-schemas.js";
import { contactIdentity } from "../contact-identity.js";
import type { EventBody } from "../event-types.js";
import { type CompletionTimes, recordCompletion } from "./completion-times.js";
import type { BatchState, EnrichmentState } from "./enrichment-state.js";
import { isCleanlyRejected, isSettled } from "./enrichment-state.js";

/** What the whole log adds up to: counted once per stored event, kept when work is dropped. */
export interface ProjectionTotals {
  /** Batches requested (POSTs that left). */
  batches: number;
  /** Contacts in batches that were not refused outright (they may have been billed). */
  contactsSent: number;
  /** Contacts resolved, by how. */
  resolved: { webhook: number; poll: number };
  /** Contacts jobs took from the log instead of sending them (their `job.planned` events). */
  reused: number;
  /** Credits the provider reported for completed enrichments. */
  credits: number;
  /** Enrichments that completed, and that failed. */
  completed: number;
  failed: number;
}

/** A batch whose work is over, as `status` shows it once its state left memory. */
export interface SettledBatch {
  batchId: string;
  jobId: string;
  name: string;
  enrichmentId: string | null;
  mode: "webhook" | "polling" | "both";
  contacts: number;
  resolved: number;
  /** `completed <STATUS>`, `failed (<reason>)` or `rejected`. */
  state: string;
  detail: string | null;
}

/** A signed delivery kept because it could not be parsed, until it is parsed again. */
export interface QuarantinedDelivery {
  position: number;
  digest: string;
  reason: string;
}

/**
 * The state of open work, folded from the log: batches and enrichments not settled yet (settled
 * ones are dropped by {@link compact}; a late observation of one brings it back, read from its
 * streams), the identities running, the latest API calls, and totals of the whole log.
 */
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
  readonly totals: ProjectionTotals;
  /** The latest batches whose work is over (at most {@link RECENT_SETTLED}), oldest first. */
  readonly settled: SettledBatch[];
  readonly quarantined: QuarantinedDelivery[];
  /**
   * How long the provider took to finish batches (accepted → first observation of `FINISHED`), by
   * size class (see `completion-times.ts`).
   */
  readonly completionTimes: CompletionTimes;
  /** Position of the last stored event folded in. */
  position: number;
}

/** How many API call times the projection keeps: more than any window's worth. */
export const RECENT_CALLS = 1_000;
/** How many settled batches the projection keeps for `status`. */
export const RECENT_SETTLED = 200;

/** The state before the first event. */
export function emptyProjection(): ProjectionState {
  return {
    batches: new Map(),
    enrichments: new Map(),
    openIdentities: new Map(),
    recentCalls: [],
    totals: {
      batches: 0,
      contactsSent: 0,
      resolved: { webhook: 0, poll: 0 },
      reused: 0,
      credits: 0,
      completed: 0,
      failed: 0,
    },
    settled: [],
    quarantined: [],
    completionTimes: new Map(),
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
      lastPendingAt: null,
    };
    state.enrichments.set(enrichmentId, enrichment);
  }
  return enrichment;
}

/**
 * Folds one event into the state. Idempotent: an event folded twice (decided and folded by the
 * engine, then read back from the log; or replayed, then live) changes nothing the second time.
 * Totals count stored events past the state's position only, once each.
 */
export function evolve(state: ProjectionState, event: EventBody): void {
  const fresh = event.position !== undefined && event.position > state.position;
  if (fresh) state.position = event.position as number;
  if (fresh) count(state, event);
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
      // Only when first seen: a settled batch read back from its stream (a late observation of it)
      // must not take its identities back from the batches holding them now.
      if (fresh)
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
        event.data.kind ?? inferLookupKind(event.data.payload?.data ?? event.data.payload?.datas),
      );
      enrichment.webhookSeen = true;
      enrichment.lastObservedAt = event.data.receivedAt;
      return;
    }
    case "poll.observed": {
      const enrichment = ensure(state, event.data.enrichmentId, event.data.kind);
      enrichment.lastObservedAt = event.data.observedAt;
      if (event.data.outcome === "pending")
        enrichment.lastPendingAt = Math.max(enrichment.lastPendingAt ?? 0, event.data.observedAt);
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
    case "webhook.stored":
    case "webhook.quarantined":
    case "contact.duplicate":
    case "job.planned":
    case "deliveries.health":
      return;
  }
}

/** Adds a stored event, seen for the first time, to the totals. */
function count(state: ProjectionState, event: EventBody): void {
  const { totals } = state;
  switch (event.type) {
    case "enrichment.requested":
      totals.batches++;
      totals.contactsSent += event.data.contacts.length;
      return;
    case "enrichment.rejected": {
      const batch = state.batches.get(event.data.batchId);
      if (batch && batch.rejected === null && !event.data.outcomeUnknown)
        totals.contactsSent -= batch.keys.length;
      return;
    }
    case "contact.resolved":
      totals.resolved[event.data.source]++;
      return;
    case "job.planned":
      totals.reused += event.data.reused;
      return;
    case "enrichment.completed":
      totals.completed++;
      totals.credits += event.data.credits ?? 0;
      return;
    case "enrichment.failed":
      totals.failed++;
      return;
    case "webhook.quarantined":
      if (!state.quarantined.some((item) => item.digest === event.data.digest)) {
        state.quarantined.push({
          position: event.position as number,
          digest: event.data.digest,
          reason: event.data.reason,
        });
      }
      return;
    case "webhook.received": {
      if (event.data.event === "batch" && event.data.reprocessedAt === undefined)
        timeCompletion(
          state,
          event.data.enrichmentId,
          event.data.status ?? event.data.payload?.status,
          event.data.receivedAt,
          "webhook",
        );
      if (event.data.reprocessedAt === undefined) return;
      const index = state.quarantined.findIndex((item) => item.digest === event.data.digest);
      if (index >= 0) state.quarantined.splice(index, 1);
      return;
    }
    case "poll.observed":
      if (event.data.outcome === "done")
        timeCompletion(state, event.data.enrichmentId, event.data.status, event.data.observedAt, "poll");
      return;
    default:
      return;
  }
}

/**
 * Records how long a batch took, from the first observation that found it `FINISHED` (a delivery
 * or a poll, both upper bounds of its real finish), when its batch and acceptance are known and
 * it had not settled before (a later observation says nothing new). A poll counts when an earlier
 * poll found the batch running (its finish lies between the two: the middle is taken), or when it
 * is a polling batch's first poll (an upper bound at the first-poll time: that is what the first
 * poll is learned from); not a poll of a webhook batch that found it long finished (a probe or a
 * fallback after an outage: it tells when the engine looked, not when the batch finished).
 */
function timeCompletion(
  state: ProjectionState,
  enrichmentId: string,
  status: unknown,
  at: number,
  via: "webhook" | "poll",
): void {
  if (status !== "FINISHED") return;
  const enrichment = state.enrichments.get(enrichmentId);
  if (!enrichment || isSettled(enrichment) || enrichment.batchId === null) return;
  const batch = state.batches.get(enrichment.batchId);
  if (!batch || batch.acceptedAt === null) return;
  const pendingAt = via === "poll" ? enrichment.lastPendingAt : null;
  if (via === "poll" && pendingAt === null && batch.mode === "webhook") return;
  const finishedAt = pendingAt === null ? at : (pendingAt + at) / 2;
  recordCompletion(state.completionTimes, batch.keys.length, finishedAt - batch.acceptedAt);
}

/** A batch's line once its work is over. */
function settledLine(batch: BatchState, enrichment: EnrichmentState | undefined): SettledBatch {
  let state = "rejected";
  let detail: string | null = batch.rejected?.error.message ?? null;
  if (enrichment?.completed) {
    state = `completed ${enrichment.completed.status}`;
    detail = null;
  } else if (enrichment?.failed) {
    state = `failed (${enrichment.failed.reason})`;
    detail = enrichment.failed.message;
  }
  return {
    batchId: batch.batchId,
    jobId: batch.jobId,
    name: batch.name,
    enrichmentId: batch.enrichmentId,
    mode: batch.mode,
    contacts: batch.keys.length,
    resolved: enrichment?.resolved.size ?? 0,
    state,
    detail,
  };
}

/**
 * Drops what is over from memory: an enrichment that settled, with its batch, or a batch refused
 * outright. Its line is kept among the
 * latest settled batches; a later observation of it is read back from its streams.
 */
export function compact(state: ProjectionState, ids: { enrichmentId?: string; batchId?: string }): void {
  const enrichment = ids.enrichmentId === undefined ? undefined : state.enrichments.get(ids.enrichmentId);
  if (enrichment && isSettled(enrichment)) {
    const batch = enrichment.batchId === null ? undefined : state.batches.get(enrichment.batchId);
    // Without its batch (started by another tool, or completed before the POST's answer named
    // it): kept, so that a late answer can still complete the batch (see reconciliation).
    if (!batch) return;
    state.enrichments.delete(enrichment.enrichmentId);
    state.batches.delete(batch.batchId);
    remember(state, settledLine(batch, enrichment));
    return;
  }
  const batch = ids.batchId === undefined ? undefined : state.batches.get(ids.batchId);
  if (batch && isCleanlyRejected(batch)) {
    state.batches.delete(batch.batchId);
    remember(state, settledLine(batch, undefined));
  }
}

function remember(state: ProjectionState, line: SettledBatch): void {
  // A settled batch brought back for a late observation and dropped again is listed once.
  if (state.settled.some((known) => known.batchId === line.batchId)) return;
  state.settled.push(line);
  if (state.settled.length > RECENT_SETTLED) state.settled.splice(0, state.settled.length - RECENT_SETTLED);
}
