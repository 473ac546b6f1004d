import { EnrichmentResultSchema, isFinalStatus } from "../api/response-schemas.js";

/** A delivery body that passed parsing. */
export interface ParsedDelivery {
  /** "batch": the enrichment's final event; "contact": one contact finished (per-contact event). */
  event: "batch" | "contact";
  enrichmentId: string;
  status: string;
  /** The JSON object as received (unknown keys kept). */
  payload: Record<string, unknown>;
  /** Number of records it holds. */
  records: number;
}

/** The outcome of {@link parseDelivery}: the delivery, or why it could not be read. */
export type DeliveryParse = { ok: true; delivery: ParsedDelivery } | { ok: false; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a body as UTF-8, or undefined when it is not valid UTF-8. */
export function decodeUtf8(rawBody: Uint8Array): string | undefined {
  try {
    return utf8.decode(rawBody);
  } catch {
    return undefined;
  }
}

/**
 * JSON.parse's message without the excerpt of the body V8 quotes in some of them (`Unexpected token
 * 'x', "…" is not valid JSON`): the reason is logged, and bodies hold personal data.
 */
function jsonErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, " (excerpt omitted)");
}

/**
 * Deepest nesting of objects and arrays kept as a structured payload. Real deliveries nest about 6
 * levels; SQLite's json_valid() refuses more than 1000 and JSON.stringify overflows the stack a
 * little further, so a deeper body could never be appended: it is quarantined (as text) instead of
 * failing with 503 on every retry.
 */
export const MAX_PAYLOAD_DEPTH = 128;

/**
 * Whether parsed JSON nests objects/arrays more than `levels` deep (the value itself is level 1).
 * Walks containers only, and never recurses more than `levels` times.
 */
function deeperThan(value: object, levels: number): boolean {
  if (levels === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (typeof item === "object" && item !== null && deeperThan(item, levels - 1)) return true;
    }
    return false;
  }
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item === "object" && item !== null && deeperThan(item, levels - 1)) return true;
  }
  return false;
}

/** {@link parseDelivery} of a body's UTF-8 text, as {@link decodeUtf8} gave it (undefined: not UTF-8). */
export function parseDeliveryText(text: string | undefined): DeliveryParse {
  return text === undefined ? { ok: false, reason: "not valid UTF-8" } : parseDelivery(text);
}

/**
 * Parses a webhook body: the batch event (a final status, the same body as GET's) or a per-contact
 * event (`IN_PROGRESS`, one record), for enrichments and reverse lookups alike. It needs the
 * enrichment's `id` and a known status; anything else is reported with a reason.
 */
export function parseDelivery(text: string): DeliveryParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${jsonErrorMessage(error)}` };
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return { ok: false, reason: "not a JSON object" };
  }
  if (deeperThan(json, MAX_PAYLOAD_DEPTH)) {
    return { ok: false, reason: `nested deeper than ${MAX_PAYLOAD_DEPTH} levels` };
  }
  const parsed = EnrichmentResultSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.map(String).join(".") || "body"}: ${issue.message}`)
      .join("; ");
    return { ok: false, reason: `does not match the delivery schema: ${where}` };
  }
  const { id, status, data } = parsed.data;
  if (id === undefined || id === "")
    return { ok: false, reason: "does not match the delivery schema: id: missing" };
  const final = isFinalStatus(status);
  if (!final && data.length === 0) {
    return {
      ok: false,
      reason: `a ${status} delivery without records is neither a batch nor a contact event`,
    };
  }
  return {
    ok: true,
    delivery: {
      event: final ? "batch" : "contact",
      enrichmentId: id,
      status,
      payload: json as Record<string, unknown>,
      records: data.length,
    },
  };
}
