import { describeIssues } from "../api/errors.js";
import { EnrichmentResultSchema, isFinalStatus } from "../api/response-schemas.js";

/** A delivery body that passed parsing. */
export interface ParsedDelivery {
  /**
   * "batch": the enrichment's final event; "contact": any other delivery — one contact finished (a
   * per-contact event), or a status that is not final. Its records resolve their contacts; it never
   * completes the batch.
   */
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
const utf8Exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes a body as UTF-8 (a leading byte order mark dropped), or undefined when it is not valid UTF-8. */
export function decodeUtf8(rawBody: Uint8Array): string | undefined {
  try {
    return utf8.decode(rawBody);
  } catch {
    return undefined;
  }
}

/**
 * Decodes a body as UTF-8 keeping every character, a leading byte order mark included (so that the
 * text encodes back to the same bytes), or undefined when it is not valid UTF-8.
 */
export function decodeUtf8Exactly(rawBody: Uint8Array): string | undefined {
  try {
    return utf8Exact.decode(rawBody);
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
 * Parses a webhook body: the batch event (a final status, the same body as GET's) or any other
 * delivery — a per-contact event (`IN_PROGRESS`, one record), or a status that is not final
 * (`CREATED`, `RATE_LIMIT`, `UNKNOWN`, an undocumented value), with or without records — for
 * enrichments and reverse lookups alike. Parsing is lenient (see `response-schemas.ts`): a delivery
 * is refused (then quarantined) only when fullenrich-rx cannot tell which enrichment it belongs to
 * (no `id`, no `status`, `data` not a list) or, for a delivery that is not final, which contact one
 * of its records answers.
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
    return { ok: false, reason: `does not match the delivery schema: ${describeIssues(parsed.error)}` };
  }
  const { id, status, data } = parsed.data;
  if (typeof id !== "string" || id.trim() === "") {
    return { ok: false, reason: "does not say which enrichment it belongs to: id: missing" };
  }
  const final = isFinalStatus(status);
  const listed = listedRecords(json as Record<string, unknown>);
  if (!final && data.length < listed) {
    return {
      ok: false,
      reason: `a ${status} delivery with ${listed - data.length} of its ${listed} records saying neither which contact they answer (no custom, no input) nor anything fullenrich-rx can read`,
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

/** How many entries the body lists, in `data` or else in the v1 `datas`. */
function listedRecords(body: Record<string, unknown>): number {
  const count = (list: unknown): number => (Array.isArray(list) ? list.length : 0);
  return count(body.data) || count(body.datas);
}
