import {
  type EnrichmentResult,
  EnrichmentResultSchema,
  inferLookupKind,
  isFinalStatus,
} from "../api/response-schemas.js";
import { contactKeyOf, keyBatch, withOccurrence } from "../events/contact-key.js";
import {
  type DomainEvent,
  dedupKeys,
  type EventData,
  type Keying,
  type NewDomainEvent,
  newEvent,
  streams,
} from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import { tagsOf } from "./event-tags.js";

/** Events to append to one stream. */
export interface Decision {
  stream: string;
  events: NewDomainEvent[];
}

export interface ReconcileContext {
  /** Keying used for records of enrichments whose batch is unknown (started by another tool). */
  defaultKeying: Keying;
  now: number;
}

type Via = "contact-event" | "batch-event" | "poll";
type ResultRecord = EnrichmentResult["data"][number];

interface Observation {
  enrichmentId: string;
  kind: "enrich" | "reverse";
  via: Via;
  position: number;
  result: EnrichmentResult;
}

/**
 * Reconciliation: from one observation (a webhook delivery, a poll) to the events it implies.
 * - The first final record of a contact resolves it; later sightings are duplicates.
 * - A per-contact event resolves its contact but never completes the batch.
 * - A final status (FINISHED, CREDITS_INSUFFICIENT, CANCELED) resolves every contact missing from
 *   `data` with that status and no record, then completes the batch.
 * - Anything else (still running, a `forceResults` partial) resolves nothing.
 *
 * Pure: it reads the projection and returns events, changing nothing. Every event carries a dedup
 * key, so appending the same decision twice (a replay, a second process) stores it once. The
 * engine folds the decided events into the projection before appending them, so that the next
 * observation sees this one's outcome before it is read back from the log.
 */
export function decide(
  projection: EnrichmentsProjection,
  event: DomainEvent,
  context: ReconcileContext,
): Decision[] {
  const observation = observationOf(event);
  if (observation) return reconcileObservation(projection, observation, context);
  if (event.type === "enrichment.accepted") return completeLateBatch(projection, event, context);
  return [];
}

function observationOf(event: DomainEvent): Observation | undefined {
  if (event.type === "webhook.received") {
    const parsed = EnrichmentResultSchema.safeParse(event.data.payload);
    if (!parsed.success) return undefined;
    return {
      enrichmentId: event.data.enrichmentId,
      kind: inferLookupKind(parsed.data.data),
      via: event.data.event === "contact" ? "contact-event" : "batch-event",
      position: event.position,
      result: parsed.data,
    };
  }
  if (event.type === "poll.observed" && event.data.outcome === "done" && event.data.payload) {
    const parsed = EnrichmentResultSchema.safeParse(event.data.payload);
    if (!parsed.success) return undefined;
    return {
      enrichmentId: event.data.enrichmentId,
      kind: event.data.kind,
      via: "poll",
      position: event.position,
      result: parsed.data,
    };
  }
  return undefined;
}

/** What a decision knows of an enrichment: the projection's view, plus what it decided so far. */
interface Deciding {
  enrichmentId: string;
  resolved: Set<string>;
  completed: boolean;
}

function reconcileObservation(
  projection: EnrichmentsProjection,
  observation: Observation,
  context: ReconcileContext,
): Decision[] {
  const decisions: Decision[] = [];
  const known = projection.enrichment(observation.enrichmentId);
  const enrichment: Deciding = {
    enrichmentId: observation.enrichmentId,
    resolved: new Set(known?.resolved),
    completed: known?.completed != null,
  };
  const batch = linkBatch(projection, observation, context, decisions);
  if (known?.failed) return decisions;
  const keying = batch?.keying ?? context.defaultKeying;
  const final = isFinalStatus(observation.result.status);
  const events: NewDomainEvent[] = [];

  if (observation.via === "contact-event") {
    for (const record of observation.result.data) {
      const key = nextFreeKey(enrichment, batch, contactKeyOf(keying, record, "record"));
      events.push(
        key.free
          ? resolution(enrichment, batch, key.key, record, "FINISHED", observation, context)
          : duplicate(enrichment, key.key, observation),
      );
    }
  } else if (final) {
    const status = observation.result.status;
    const keys = keyBatch(keying, observation.result.data, "record");
    observation.result.data.forEach((record, index) => {
      const key = keys[index] as string;
      events.push(
        enrichment.resolved.has(key)
          ? duplicate(enrichment, key, observation)
          : resolution(enrichment, batch, key, record, status, observation, context),
      );
    });
    if (!enrichment.completed) {
      if (batch) {
        for (const key of batch.keys) {
          if (!enrichment.resolved.has(key))
            events.push(resolution(enrichment, batch, key, null, status, observation, context));
        }
      }
      const completed: EventData<"enrichment.completed"> = {
        enrichmentId: enrichment.enrichmentId,
        batchId: batch?.batchId ?? null,
        status,
        credits: observation.result.cost?.credits ?? null,
        source: observation.via === "poll" ? "poll" : "webhook",
        contacts: batch ? batch.keys.length : enrichment.resolved.size,
        completedAt: context.now,
      };
      enrichment.completed = true;
      events.push(newEvent("enrichment.completed", completed, dedupKeys.completed(enrichment.enrichmentId)));
    }
  }
  if (events.length > 0) decisions.push({ stream: streams.enrichment(enrichment.enrichmentId), events });
  return decisions;
}

/**
 * Finds the batch an observation belongs to: from what is known of the enrichment, or from the
 * correlation ids its records carry (`<batchId>.<index>`). The latter also recovers a batch whose
 * POST succeeded but whose accepted event was never written (a crash in between): an accepted
 * event is then derived from the delivery.
 */
function linkBatch(
  projection: EnrichmentsProjection,
  observation: Observation,
  context: ReconcileContext,
  decisions: Decision[],
): BatchState | undefined {
  const { enrichmentId } = observation;
  const known = projection.batchOf(enrichmentId);
  if (known) return known;
  const correlationKey = context.defaultKeying.correlationKey;
  if (correlationKey === null) return undefined;
  for (const record of observation.result.data) {
    const id = record.custom?.[correlationKey];
    if (typeof id !== "string") continue;
    const batch = projection.batch(id.slice(0, id.lastIndexOf(".")));
    if (!batch || (batch.enrichmentId !== null && batch.enrichmentId !== enrichmentId)) continue;
    if (batch.enrichmentId === null) {
      decisions.push({
        stream: streams.batch(batch.batchId),
        events: [
          newEvent(
            "enrichment.accepted",
            { batchId: batch.batchId, enrichmentId, acceptedAt: context.now },
            dedupKeys.accepted(batch.batchId),
          ),
        ],
      });
    }
    return batch;
  }
  return undefined;
}

/**
 * A batch completed before we knew which contacts it held (its delivery came before the accepted
 * event): once the batch is known, the contacts missing from its result are resolved.
 */
function completeLateBatch(
  projection: EnrichmentsProjection,
  accepted: DomainEvent & { type: "enrichment.accepted" },
  context: ReconcileContext,
): Decision[] {
  const { enrichmentId } = accepted.data;
  const known = projection.enrichment(enrichmentId);
  const batch = projection.batchOf(enrichmentId);
  if (!known?.completed || !batch) return [];
  const enrichment: Deciding = {
    enrichmentId,
    resolved: new Set(known.resolved),
    completed: true,
  };
  const { status } = known.completed;
  const events: NewDomainEvent[] = [];
  for (const key of batch.keys) {
    if (enrichment.resolved.has(key)) continue;
    const observation: Observation = {
      enrichmentId,
      kind: batch.kind,
      via: known.completed.source === "poll" ? "poll" : "batch-event",
      position: accepted.position,
      result: { status: "FINISHED", data: [] },
    };
    events.push(resolution(enrichment, batch, key, null, status, observation, context));
  }
  return events.length > 0 ? [{ stream: streams.enrichment(enrichmentId), events }] : [];
}

/** For a single record: its key, or the next free occurrence of it when several contacts share one. */
function nextFreeKey(
  enrichment: Deciding,
  batch: BatchState | undefined,
  base: string,
): { key: string; free: boolean } {
  const limit = batch
    ? batch.keys.filter((key) => key === base || key.startsWith(`${base}#`)).length
    : Number.POSITIVE_INFINITY;
  for (let occurrence = 1; occurrence <= Math.max(1, limit); occurrence++) {
    const key = withOccurrence(base, occurrence);
    if (!enrichment.resolved.has(key)) return { key, free: true };
  }
  return { key: base, free: false };
}

function resolution(
  enrichment: Deciding,
  batch: BatchState | undefined,
  contactKey: string,
  record: ResultRecord | null,
  status: string,
  observation: Observation,
  context: ReconcileContext,
): NewDomainEvent {
  enrichment.resolved.add(contactKey);
  const identity = batch?.identities.get(contactKey);
  const event = newEvent(
    "contact.resolved",
    {
      enrichmentId: enrichment.enrichmentId,
      contactKey,
      kind: batch?.kind ?? observation.kind,
      batchId: batch?.batchId ?? null,
      jobId: batch?.jobId ?? null,
      source: observation.via === "poll" ? "poll" : "webhook",
      via: observation.via,
      status,
      record: record as Record<string, unknown> | null,
      input: batch?.inputs.get(contactKey) ?? null,
      ...(identity === undefined ? {} : { identity }),
      observation: observation.position,
      resolvedAt: context.now,
    },
    dedupKeys.resolved(enrichment.enrichmentId, contactKey),
  );
  return { ...event, tags: tagsOf(event) };
}

function duplicate(enrichment: Deciding, contactKey: string, observation: Observation): NewDomainEvent {
  return newEvent(
    "contact.duplicate",
    {
      enrichmentId: enrichment.enrichmentId,
      contactKey,
      via: observation.via,
      observation: observation.position,
    },
    dedupKeys.duplicate(enrichment.enrichmentId, contactKey, observation.position),
  );
}
