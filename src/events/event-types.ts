import { z } from "zod";
import type { DataText, StoredEvent } from "./store.js";

/**
 * The events of fullenrich-rx's log. Each has a `type` and a schema `version`; `data` is checked
 * with zod whenever an event is read back. Older versions are upcast to the current one (see
 * {@link parseEvent}); an event that fails its schema stops the reader with {@link EventSchemaError}.
 */

const LookupKindSchema = z.enum(["enrich", "reverse"]);
const JsonObject = z.record(z.string(), z.unknown());

/** How contacts of a batch are keyed (see `contact-key.ts`). */
export const KeyingSchema = z.object({
  /** The reserved `custom` key holding the library's correlation id, or null when not injected. */
  correlationKey: z.string().nullable(),
  /** A `custom` field the user names as the contact's id. */
  idField: z.string().nullable(),
});
/** How a batch's contacts are keyed: the correlation key and the user's id field, if any. */
export type Keying = z.infer<typeof KeyingSchema>;

/**
 * A contact as submitted (with the correlation id, when injected), the key it resolves under, and
 * its identity (see `contact-identity.ts`; absent in logs written before identities existed).
 */
export const RequestedContactSchema = z.object({
  key: z.string(),
  contact: JsonObject,
  identity: z.string().optional(),
});

/** The zod schema of each event type's data, at its current version. */
export const EVENT_SCHEMAS = {
  /**
   * Appended right before the POST leaves (its rate-limit slot held): what is being asked for, and
   * under which keys. A batch waiting for its turn has no event yet; one with this event and no
   * answer after it may or may not have started at the provider.
   */
  "enrichment.requested": z.object({
    batchId: z.string(),
    jobId: z.string(),
    /** Position of the batch in its job (0-based): a rerun of the job finds it by this. */
    batchIndex: z.number().int().nonnegative(),
    /** SHA-256 of the contacts as the user gave them: a rerun with other contacts is refused. */
    contactsDigest: z.string(),
    kind: LookupKindSchema,
    name: z.string(),
    contacts: z.array(RequestedContactSchema),
    keying: KeyingSchema,
    webhookUrl: z.string().nullable(),
    contactWebhookUrl: z.string().nullable(),
    /** Whether this batch waits on webhooks ("webhook"), polls ("polling") or both. */
    mode: z.enum(["webhook", "polling", "both"]),
    requestedAt: z.number(),
  }),
  /** The provider accepted the POST and returned this id. */
  "enrichment.accepted": z.object({
    batchId: z.string(),
    enrichmentId: z.string(),
    acceptedAt: z.number(),
  }),
  /**
   * The POST failed. `outcomeUnknown`: it may have reached the provider (timeout, 5xx, reset), so
   * the batch may be running without us knowing its id: never re-sent silently.
   */
  "enrichment.rejected": z.object({
    batchId: z.string(),
    outcomeUnknown: z.boolean(),
    error: z.object({
      name: z.string(),
      message: z.string(),
      status: z.number().optional(),
      code: z.string().optional(),
    }),
    rejectedAt: z.number(),
  }),
  /**
   * The engine stopped waiting for a POST that got no answer: no delivery named its contacts by
   * its webhook deadline, so it is treated as never started (reported, or sent again on request).
   */
  "enrichment.abandoned": z.object({
    batchId: z.string(),
    reason: z.string(),
    abandonedAt: z.number(),
  }),
  /**
   * A job (one run of it) planned its contacts by identity: how many rows, how many distinct
   * contacts, and of those how many were taken from the log, followed in batches already sent,
   * left ambiguous, and to be sent now.
   */
  "job.planned": z.object({
    jobId: z.string(),
    kind: LookupKindSchema,
    name: z.string(),
    rows: z.number().int().nonnegative(),
    contacts: z.number().int().nonnegative(),
    reused: z.number().int().nonnegative(),
    following: z.number().int().nonnegative(),
    ambiguous: z.number().int().nonnegative(),
    toSend: z.number().int().nonnegative(),
    refresh: z.boolean(),
    plannedAt: z.number(),
  }),
  /** One API call let through the rate limit, recorded before it left (a restart seeds its budget from these). */
  "api.called": z.object({
    calledAt: z.number(),
    priority: z.enum(["submit", "read", "poll"]),
  }),
  /**
   * A delivery as it arrived, appended (signature checked, nothing parsed) before it was
   * acknowledged: its bytes, and the digest that makes a retry of it a duplicate. Parsed right after
   * the answer into `webhook.received` or `webhook.quarantined` (dedup key `parsed@<position>`); a
   * delivery stored but not yet parsed when the process stopped is parsed by the next receiver
   * started on the log.
   */
  "webhook.stored": z.object({
    digest: z.string(),
    /** The body: its UTF-8 text, or base64 when it is not valid UTF-8. */
    body: z.string(),
    encoding: z.enum(["utf8", "base64"]),
    verified: z.boolean(),
    receivedAt: z.number(),
  }),
  /**
   * A signed webhook delivery that parsed: the outcome of a `webhook.stored` (in older logs, the
   * delivery itself, stored before it was acknowledged).
   */
  "webhook.received": z.object({
    digest: z.string(),
    /** "batch": the final event of an enrichment; "contact": one contact finished, or any other status that is not final. */
    event: z.enum(["batch", "contact"]),
    enrichmentId: z.string(),
    /** Which lookup its records answer (absent in older logs: inferred from the payload). */
    kind: LookupKindSchema.optional(),
    verified: z.boolean(),
    /**
     * The body as JSON. Absent when the body is the `webhook.stored` event's under the dedup key
     * `delivery:<digest>` (it is read from there, not written twice); present in older logs and in
     * deliveries parsed again from quarantine.
     */
    payload: JsonObject.optional(),
    /**
     * The delivery's `status` (e.g. `FINISHED`), read when it was parsed: what the projection needs
     * (the provider's timings) without the body. Absent in older logs, which carry `payload`.
     */
    status: z.string().optional(),
    receivedAt: z.number(),
    /** Set when this is a quarantined delivery parsed again later (e.g. after an upgrade). */
    reprocessedAt: z.number().optional(),
  }),
  /** A delivery that is not JSON or not of the expected shape: kept (raw) and acknowledged, for an operator. */
  "webhook.quarantined": z.object({
    digest: z.string(),
    reason: z.string(),
    body: z.string(),
    encoding: z.enum(["utf8", "base64"]),
    verified: z.boolean(),
    receivedAt: z.number(),
  }),
  /** A GET of a result: what the provider said. */
  "poll.observed": z.object({
    enrichmentId: z.string(),
    kind: LookupKindSchema,
    outcome: z.enum(["pending", "done"]),
    status: z.string(),
    httpStatus: z.number(),
    payload: JsonObject.nullable(),
    observedAt: z.number(),
    /** The engine instance that polled (its `instanceId`), when several share the log. */
    instance: z.string().optional(),
  }),
  /** The first final record of a contact: appended once per (enrichment, contact key). */
  "contact.resolved": z.object({
    enrichmentId: z.string(),
    contactKey: z.string(),
    kind: LookupKindSchema,
    batchId: z.string().nullable(),
    jobId: z.string().nullable(),
    /** "webhook" or "poll"; `via` says which delivery. */
    source: z.enum(["webhook", "poll"]),
    via: z.enum(["contact-event", "batch-event", "poll"]),
    status: z.string(),
    /** The provider's record, or null when the batch ended without this contact in `data`. */
    record: JsonObject.nullable(),
    /** The contact as submitted, when this process (or another fullenrich-rx) submitted it. */
    input: JsonObject.nullable(),
    /** The submitted contact's identity (see `contact-identity.ts`), when known. */
    identity: z.string().optional(),
    /** Position of the observation this came from. */
    observation: z.number(),
    resolvedAt: z.number(),
  }),
  /** A later sighting of an already-resolved contact. */
  "contact.duplicate": z.object({
    enrichmentId: z.string(),
    contactKey: z.string(),
    via: z.enum(["contact-event", "batch-event", "poll"]),
    observation: z.number(),
  }),
  /** The batch reached its final status; every contact of it is resolved. */
  "enrichment.completed": z.object({
    enrichmentId: z.string(),
    batchId: z.string().nullable(),
    status: z.string(),
    credits: z.number().nullable(),
    source: z.enum(["webhook", "poll"]),
    contacts: z.number(),
    completedAt: z.number(),
  }),
  /** The batch ended without a result: unknown id (404), an unrecognised error, or the wait ran out. */
  "enrichment.failed": z.object({
    enrichmentId: z.string(),
    batchId: z.string().nullable(),
    reason: z.enum(["not-found", "error", "timed-out"]),
    message: z.string(),
    failedAt: z.number(),
  }),
  /** Polling took over (or started) for an enrichment, and why. */
  "fallback.activated": z.object({
    enrichmentId: z.string(),
    batchId: z.string().nullable(),
    reason: z.enum([
      "polling-mode",
      "deadline",
      "delivery-failed",
      "resumed-overdue",
      "resumed",
      /** Deliveries are failing (a probe found a batch finished without its webhook, or the start-up probe never arrived). */
      "deliveries-failing",
      /** A probe of an overdue batch could not tell whether it finished: polling finds out. */
      "probe",
    ]),
    detail: z.string(),
    activatedAt: z.number(),
  }),
  /**
   * Whether webhook deliveries reach this receiver, as the engine judged it: "failing" when a probe
   * (one poll of an overdue batch) found it finished with no delivery, or the start-up probe
   * delivery never arrived; "working" again once a delivery arrives.
   */
  "deliveries.health": z.object({
    state: z.enum(["failing", "working"]),
    detail: z.string(),
    /** The batch whose probe showed it (null: the start-up probe, or a delivery). */
    enrichmentId: z.string().nullable(),
    at: z.number(),
  }),
} as const;

/** The name of an event type, e.g. `"contact.resolved"`. */
export type EventType = keyof typeof EVENT_SCHEMAS;
/** Every event type. */
export const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EventType[];

/** The current schema version of every event type. */
export const CURRENT_VERSION: Record<EventType, number> = Object.fromEntries(
  EVENT_TYPES.map((type) => [type, 1]),
) as Record<EventType, number>;

/** The data of an event of type `T`. */
export type EventData<T extends EventType> = z.infer<(typeof EVENT_SCHEMAS)[T]>;

/** A stored event whose data passed its schema. */
export type DomainEvent = {
  [T in EventType]: Omit<StoredEvent, "type" | "data"> & { type: T; data: EventData<T> };
}[EventType];

/** A typed stored event of type `T`. */
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

/** A typed event about to be appended (see {@link newEvent}). */
export type NewDomainEvent = {
  [T in EventType]: {
    type: T;
    version: number;
    data: EventData<T>;
    dedupKey?: string;
    dataJson?: string;
    dataText?: DataText;
    tags?: readonly string[];
  };
}[EventType];

/**
 * What a projection folds: an event's type and data, with its log position once it is stored (an
 * event decided by the engine is folded before it is read back from the log).
 */
export type EventBody = {
  [T in EventType]: { type: T; data: EventData<T>; position?: number };
}[EventType];

/** Raised when a stored event fails its schema: replay stops here. */
export class EventSchemaError extends Error {
  override name = "EventSchemaError";
  constructor(
    readonly position: number,
    readonly type: string,
    readonly version: number,
    detail: string,
  ) {
    super(`event at position ${position} (${type} v${version}) cannot be read: ${detail}`);
  }
}

/**
 * Converts the data of an older schema version to the next one. Keyed by `type`, then by the
 * version it upgrades from. Empty while every type is at version 1.
 */
export type Upcaster = (data: unknown) => unknown;
/** The registered upcasters (see {@link Upcaster}). */
export const UPCASTERS: Partial<Record<EventType, Record<number, Upcaster>>> = {};

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_SCHEMAS, type);
}

/**
 * Reads a stored event into a typed {@link DomainEvent}: upcasts older versions, validates the data,
 * and throws {@link EventSchemaError} (naming the position and type) on an unknown type, a newer
 * version or data that does not match.
 */
export function parseEvent(stored: StoredEvent): DomainEvent {
  const { type } = stored;
  if (!isEventType(type))
    throw new EventSchemaError(stored.position, type, stored.version, "unknown event type");
  const current = CURRENT_VERSION[type];
  if (stored.version > current) {
    throw new EventSchemaError(
      stored.position,
      type,
      stored.version,
      `written by a newer version of fullenrich-rx (this one reads up to v${current}); upgrade to read this log`,
    );
  }
  let data = stored.data;
  for (let version = stored.version; version < current; version++) {
    const upcast = UPCASTERS[type]?.[version];
    if (!upcast) {
      throw new EventSchemaError(stored.position, type, stored.version, `no upcaster from v${version}`);
    }
    data = upcast(data);
  }
  const parsed = EVENT_SCHEMAS[type].safeParse(data);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.map(String).join(".") || "data"}: ${issue.message}`)
      .join("; ");
    throw new EventSchemaError(stored.position, type, stored.version, detail);
  }
  return { ...stored, type, version: current, data: parsed.data } as DomainEvent;
}

/** Builds a new event of the current version. */
export function newEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  dedupKey?: string,
): Extract<NewDomainEvent, { type: T }> {
  return {
    type,
    version: CURRENT_VERSION[type],
    data,
    ...(dedupKey === undefined ? {} : { dedupKey }),
  } as Extract<NewDomainEvent, { type: T }>;
}

/** The dedup keys that make appends idempotent. */
export const dedupKeys = {
  requested: (batchId: string) => `requested:${batchId}`,
  accepted: (batchId: string) => `accepted:${batchId}`,
  rejected: (batchId: string) => `rejected:${batchId}`,
  abandoned: (batchId: string) => `abandoned:${batchId}`,
  delivery: (digest: string) => `delivery:${digest}`,
  /**
   * The one outcome of parsing the delivery stored at `position` (its `webhook.stored` event):
   * `webhook.received` or `webhook.quarantined`. The position is zero-padded, so that the keys of
   * successive deliveries follow each other in the store's key index (a key made of the digest
   * lands on a random page of it, which every commit then writes again).
   */
  parsed: (position: number) => `parsed@${String(position).padStart(16, "0")}`,
  /** The same outcome's key as earlier builds wrote it, by the delivery's digest: still recognised. */
  parsedByDigest: (digest: string) => `parsed:${digest}`,
  reprocessed: (digest: string) => `reprocessed:${digest}`,
  resolved: (enrichmentId: string, contactKey: string) => `resolved:${enrichmentId}:${contactKey}`,
  duplicate: (enrichmentId: string, contactKey: string, observation: number) =>
    `duplicate:${enrichmentId}:${contactKey}:${observation}`,
  completed: (enrichmentId: string) => `completed:${enrichmentId}`,
  failed: (enrichmentId: string) => `failed:${enrichmentId}`,
  fallback: (enrichmentId: string, reason: string) => `fallback:${enrichmentId}:${reason}`,
} as const;

/** Streams: one per submitted batch, one per enrichment, one for webhook deliveries, one for API calls. */
export const streams = {
  batch: (batchId: string) => `batch-${batchId}`,
  enrichment: (enrichmentId: string) => `enrichment-${enrichmentId}`,
  deliveries: "deliveries",
  /** Whether deliveries arrive (`deliveries.health`). */
  deliveryHealth: "delivery-health",
  calls: "calls",
  job: (jobId: string) => `job-${jobId}`,
} as const;

/** Index keys events carry, to be found without reading the log (see `EventStore.readByTags`). */
export const tags = {
  job: (jobId: string) => `job:${jobId}`,
  identity: (identity: string) => `identity:${identity}`,
} as const;
