import type { EventData, Keying } from "../event-types.js";

/** A batch this process (or another fullenrich-rx) submitted, as its request event described it. */
export interface BatchState {
  batchId: string;
  jobId: string;
  batchIndex: number;
  contactsDigest: string;
  kind: "enrich" | "reverse";
  name: string;
  keying: Keying;
  /** Contact keys in submission order. */
  keys: string[];
  /** The submitted contact of each key. */
  inputs: Map<string, Record<string, unknown>>;
  mode: "webhook" | "polling" | "both";
  /** Where the provider delivers its batch event (null: none asked for, polling only). */
  webhookUrl: string | null;
  /** Each contact's identity, by key (see `contact-identity.ts`). */
  identities: Map<string, string>;
  /** When the request was recorded: right before its POST left. */
  requestedAt: number;
  /** Log position of its request event. */
  position: number;
  /** Set once the provider accepted it. */
  enrichmentId: string | null;
  acceptedAt: number | null;
  /** Set when the POST failed; `outcomeUnknown` when it may have started anyway. */
  rejected: EventData<"enrichment.rejected"> | null;
  /** Set when the engine stopped waiting for a delivery to name an unanswered POST. */
  abandoned: EventData<"enrichment.abandoned"> | null;
}

/** Where an enrichment (a batch the provider knows by id) stands. */
export interface EnrichmentState {
  enrichmentId: string;
  kind: "enrich" | "reverse";
  /** The batch it came from, when known (null for enrichments another tool started). */
  batchId: string | null;
  /** Keys resolved so far. */
  resolved: Set<string>;
  /** Set by `enrichment.completed`. */
  completed: EventData<"enrichment.completed"> | null;
  /** Set by `enrichment.failed`. */
  failed: EventData<"enrichment.failed"> | null;
  /** Why polling was activated, if it was. */
  fallback: EventData<"fallback.activated"> | null;
  /** When the last observation (delivery or poll) about it was stored. */
  lastObservedAt: number | null;
  /** Whether any webhook delivery for it was stored. */
  webhookSeen: boolean;
  /** When a poll last found it still running (its finish then lies between that poll and a later one). */
  lastPendingAt: number | null;
}

/** Whether an enrichment reached its end: completed or failed. */
export function isSettled(state: EnrichmentState): boolean {
  return state.completed !== null || state.failed !== null;
}

/**
 * Whether a batch was refused outright: never accepted, and its POST surely did not start anything
 * (a bad key, no credits, no network). A rerun of its job sends it again.
 */
export function isCleanlyRejected(batch: BatchState): boolean {
  return batch.enrichmentId === null && batch.rejected !== null && !batch.rejected.outcomeUnknown;
}

/**
 * Whether a batch's POST may or may not have started an enrichment: requested, never accepted, and
 * not refused outright (no answer recorded, or an answer that left the outcome unknown).
 */
export function isAmbiguous(batch: BatchState): boolean {
  return batch.enrichmentId === null && (batch.rejected === null || batch.rejected.outcomeUnknown);
}

/**
 * Whether an ambiguous batch may still be settled by what the provider sends: it asked for
 * webhooks, and the engine has not given up waiting for a delivery naming its contacts.
 */
export function awaitsAdoption(batch: BatchState): boolean {
  return isAmbiguous(batch) && batch.webhookUrl !== null && batch.abandoned === null;
}
