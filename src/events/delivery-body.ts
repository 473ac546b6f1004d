import { dedupKeys, type EventData, type EventOf, parseEvent } from "./event-types.js";
import type { EventStore } from "./store.js";

/** The text without one leading byte order mark (what a UTF-8 decoder that drops it gives). */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * The text a stored delivery's body is parsed from: its UTF-8 text without a leading byte order
 * mark, or undefined when it is not UTF-8 (stored as base64).
 */
export function storedText(
  stored: Pick<EventData<"webhook.stored">, "body" | "encoding">,
): string | undefined {
  return stored.encoding === "utf8" ? withoutBom(stored.body) : undefined;
}

/**
 * A `webhook.received` event with its payload: as it is when the event carries it, else read from
 * the `webhook.stored` event of the same digest (the body is written once, as it arrived) and
 * parsed. Undefined when that stored body is missing or no longer parses as a JSON object (never
 * the case for a delivery the receiver parsed).
 */
export async function withPayload(
  store: EventStore,
  event: EventOf<"webhook.received">,
): Promise<EventOf<"webhook.received"> | undefined> {
  if (event.data.payload !== undefined) return event;
  const stored = await store.findByDedupKey(dedupKeys.delivery(event.data.digest));
  if (!stored) return undefined;
  const raw = parseEvent(stored);
  if (raw.type !== "webhook.stored") return undefined;
  const text = storedText(raw.data);
  if (text === undefined) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return undefined;
  return { ...event, data: { ...event.data, payload: payload as Record<string, unknown> } };
}
