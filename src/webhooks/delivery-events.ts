import { inferLookupKind } from "../api/response-schemas.js";
import { dataTextProblem } from "../events/data-text.js";
import { storedText, withoutBom } from "../events/delivery-body.js";
import { dedupKeys, type EventData, newEvent } from "../events/event-types.js";
import type { NewEvent } from "../events/store.js";
import { type DeliveryParse, decodeUtf8Exactly, parseDeliveryText } from "./delivery-payload.js";

/** What a `webhook.stored` event holds: the delivery's bytes, as text when they are UTF-8. */
export type StoredDelivery = EventData<"webhook.stored">;

/**
 * The `webhook.stored` event of a verified delivery: its body as UTF-8 text, every character kept
 * (base64 when it is not UTF-8), so that it encodes back to the bytes the signature and the digest
 * were computed over; nothing parsed. Its dedup key, `delivery:<sha256>`, makes a retry of the same bytes a
 * duplicate (also of a delivery stored by an earlier version as `webhook.received`).
 *
 * A body that is UTF-8 without a NUL byte (every real delivery) goes to the store as bytes
 * ({@link NewEvent.dataText}): the SQLite store writes its text in SQL, in its writer thread, and
 * this thread never decodes nor escapes it (for a 200 KB batch event, most of what storing it
 * cost here). The returned data decodes its `body` on first access only.
 */
export function storedEvent(
  rawBody: Uint8Array,
  fields: Omit<StoredDelivery, "body" | "encoding">,
): { event: NewEvent; data: StoredDelivery } {
  // Bytes the store would refuse as DataText (not UTF-8, or holding a NUL byte) are stored below,
  // as their decoded text or as base64.
  if (dataTextProblem(rawBody) === undefined) {
    const bytes = Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
    const { digest, verified, receivedAt } = fields;
    let body: string | undefined;
    const data = { digest, encoding: "utf8", verified, receivedAt } as StoredDelivery;
    Object.defineProperty(data, "body", {
      enumerable: true,
      get: () => {
        body ??= bytes.toString("utf8");
        return body;
      },
    });
    const event: NewEvent = newEvent("webhook.stored", data, dedupKeys.delivery(digest));
    // The same JSON as the data's, key for key: {"digest":…,"body":…,"encoding":"utf8",…}.
    event.dataText = {
      before: `{"digest":${JSON.stringify(digest)},"body":`,
      utf8: rawBody,
      after: `,"encoding":"utf8","verified":${JSON.stringify(verified)},"receivedAt":${JSON.stringify(receivedAt)}}`,
    };
    return { event, data };
  }
  const text = decodeUtf8Exactly(rawBody);
  const data: StoredDelivery = {
    digest: fields.digest,
    body: text ?? Buffer.from(rawBody).toString("base64"),
    encoding: text === undefined ? "base64" : "utf8",
    verified: fields.verified,
    receivedAt: fields.receivedAt,
  };
  return { event: newEvent("webhook.stored", data, dedupKeys.delivery(fields.digest)), data };
}

/**
 * What parsing a stored delivery comes to: `webhook.received` when it parses (what the engine
 * needs to route it, without the payload: that is the stored body, read from there rather than
 * written twice), else `webhook.quarantined` (raw body and reason kept, for an operator), both
 * under the dedup key `parsed@<position>` (the position of the delivery's `webhook.stored`), so that
 * a delivery gets one outcome whoever parses it, and however often.
 */
export function parsedOutcome(
  stored: StoredDelivery,
  position: number,
): { event: NewEvent; parsed: DeliveryParse } {
  const text = storedText(stored);
  const parsed = parseDeliveryText(text);
  const dedupKey = dedupKeys.parsed(position);
  const { digest, verified, receivedAt } = stored;
  if (parsed.ok) {
    const { event, enrichmentId, payload } = parsed.delivery;
    const kind = inferLookupKind(payload.data ?? payload.datas);
    const status = typeof payload.status === "string" ? payload.status : undefined;
    const data = {
      digest,
      event,
      enrichmentId,
      kind,
      verified,
      receivedAt,
      ...(status === undefined ? {} : { status }),
    };
    return { event: newEvent("webhook.received", data, dedupKey), parsed };
  }
  const event = newEvent(
    "webhook.quarantined",
    { digest, reason: parsed.reason, body: stored.body, encoding: stored.encoding, verified, receivedAt },
    dedupKey,
  );
  return { event, parsed };
}

/** What the receiver reports of a parsed delivery (its counters, `deliveries$`): the payload left out. */
export type ParseSummary =
  | { ok: true; event: "batch" | "contact"; enrichmentId: string }
  | { ok: false; reason: string };

/** The outcome event of the delivery stored at `position` ({@link parsedOutcome}), and its summary. */
export function parseStored(
  stored: StoredDelivery,
  position: number,
): { event: NewEvent; summary: ParseSummary } {
  const { event, parsed } = parsedOutcome(stored, position);
  const summary: ParseSummary = parsed.ok
    ? { ok: true, event: parsed.delivery.event, enrichmentId: parsed.delivery.enrichmentId }
    : { ok: false, reason: parsed.reason };
  return { event, summary };
}

/**
 * The `webhook.received` event of a parsed delivery, with its data's JSON text made by splicing the
 * body's text (which JSON.parse accepted, so it is JSON) in as `payload`, instead of serialising
 * the parsed payload again: for a large body that costs as much as parsing it. The text parses to
 * `{...fields, payload: JSON.parse(text)}`, which is `data`. Whitespace around the body's JSON is
 * JSON whitespace, valid where it lands; a byte order mark is not, and is dropped (the UTF-8
 * decoder already removes one; a second would have failed JSON.parse).
 */
export function receivedEvent(
  fields: Omit<EventData<"webhook.received">, "payload">,
  payload: EventData<"webhook.received">["payload"],
  text: string,
  dedupKey: string,
): NewEvent {
  const body = withoutBom(text);
  const head = JSON.stringify({
    digest: fields.digest,
    event: fields.event,
    enrichmentId: fields.enrichmentId,
    verified: fields.verified,
    receivedAt: fields.receivedAt,
    ...(fields.reprocessedAt === undefined ? {} : { reprocessedAt: fields.reprocessedAt }),
  });
  const event: NewEvent = newEvent("webhook.received", { ...fields, payload }, dedupKey);
  event.dataJson = `${head.slice(0, -1)},"payload":${body}}`;
  return event;
}

/**
 * The enrichment id of a body whose first key is `"id"` (as the provider writes them), read without
 * parsing it; null otherwise. A hint for logs and for the engine's fallback when a delivery could
 * not be stored, never used to decide anything about the delivery itself.
 */
export function peekEnrichmentId(rawBody: Uint8Array): string | null {
  const start = Buffer.from(rawBody.buffer, rawBody.byteOffset, Math.min(rawBody.byteLength, 256)).toString(
    "latin1",
  );
  const match = /^\s*\{\s*"id"\s*:\s*"([A-Za-z0-9._:-]{1,128})"/.exec(start);
  return match ? (match[1] as string) : null;
}
