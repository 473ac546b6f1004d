import { sha256Hex } from "../internal/crypto.js";
import type { Keying } from "./event-types.js";

/**
 * Contact keys. Records carry no per-contact id, so a record is joined to the contact it answers
 * through, in this order:
 * 1. the library's correlation id, written into `custom` under one reserved key when submitting
 *    (`c:<id>`), unless the user's `custom` is already full;
 * 2. a `custom` field the user names as the id, e.g. `crm_id` (`id:<value>`);
 * 3. a canonical fingerprint of the input as the provider echoes it: normalised names, domain,
 *    company, LinkedIn URL (`f:<hash>`), or the email for reverse lookups (`e:<email>`).
 * With (enrichment id, contact key) it is what deduplicates.
 */

/** The default reserved `custom` key for the correlation id. */
export const DEFAULT_CORRELATION_KEY = "_fxr";

/** Case-folded (ß → ss), accents removed, inner whitespace collapsed, trimmed. */
export function normaliseText(value: unknown): string {
  if (typeof value !== "string") return "";
  return value
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/ß/g, "ss")
    .replace(/\s+/g, " ")
    .trim();
}

/** `https://www.Example.com/about` → `example.com`. */
export function normaliseDomain(value: unknown): string {
  return normaliseText(value)
    .replace(/\s+/g, "")
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
    .replace(/^www\./, "")
    .replace(/[/?#].*$/, "")
    .replace(/\.$/, "");
}

/** `HTTPS://www.linkedin.com/in/Ada/?x=1` → `linkedin.com/in/ada`. */
export function normaliseLinkedinUrl(value: unknown): string {
  return normaliseText(value)
    .replace(/\s+/g, "")
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
    .replace(/^(www|[a-z]{2})\./, "")
    .replace(/[?#].*$/, "")
    .replace(/\/+$/, "");
}

export function normaliseEmail(value: unknown): string {
  return normaliseText(value).replace(/\s/g, "");
}

function field(source: Record<string, unknown>, ...names: string[]): unknown {
  for (const name of names) {
    const value = source[name];
    if (typeof value === "string" && value.trim() !== "") return value;
  }
  return undefined;
}

/**
 * The fingerprint of a contact, from either its request form (`domain`, `linkedin_url`) or the
 * provider's echo (`company_domain`, `professional_network_url`, maybe `full_name`): both give
 * the same key. A LinkedIn URL identifies the person on its own; otherwise the name with the
 * domain (or, without one, the company name).
 */
export function fingerprint(input: Record<string, unknown>): string {
  const email = field(input, "email");
  if (email !== undefined) return `e:${normaliseEmail(email)}`;
  const linkedin = field(input, "linkedin_url", "professional_network_url");
  if (linkedin !== undefined) return `f:${sha256Hex(`li|${normaliseLinkedinUrl(linkedin)}`).slice(0, 24)}`;
  const first = field(input, "first_name");
  const last = field(input, "last_name");
  const name =
    first !== undefined || last !== undefined
      ? normaliseText(`${normaliseText(first)} ${normaliseText(last)}`)
      : normaliseText(field(input, "full_name"));
  const domain = field(input, "domain", "company_domain");
  const company =
    domain === undefined
      ? `co|${normaliseText(field(input, "company_name"))}`
      : `dom|${normaliseDomain(domain)}`;
  return `f:${sha256Hex(`${name}|${company}`).slice(0, 24)}`;
}

function customOf(source: Record<string, unknown>): Record<string, unknown> {
  const custom = source.custom;
  return custom !== null && typeof custom === "object" && !Array.isArray(custom)
    ? (custom as Record<string, unknown>)
    : {};
}

/**
 * The base key of a contact: from its request form (the contact as submitted) or from a record
 * the provider returned (with the echoed `input` and the `custom` it sent back). Both sides give
 * the same key. Duplicates of one base key inside a batch are told apart by {@link withOccurrence}.
 */
export function contactKeyOf(
  keying: Keying,
  side: { custom?: unknown; input?: unknown } | Record<string, unknown>,
  form: "request" | "record",
): string {
  const source = side as Record<string, unknown>;
  const custom = customOf(source);
  if (keying.correlationKey !== null) {
    const id = custom[keying.correlationKey];
    if (typeof id === "string" && id !== "") return `c:${id}`;
  }
  if (keying.idField !== null) {
    const id = custom[keying.idField];
    if (typeof id === "string" && id !== "") return `id:${id}`;
  }
  const input =
    form === "request" ? source : ((source.input as Record<string, unknown> | null | undefined) ?? {});
  return fingerprint(input);
}

/** The n-th (1-based) contact sharing a base key: the first keeps it, later ones get `#n`. */
export function withOccurrence(baseKey: string, occurrence: number): string {
  return occurrence <= 1 ? baseKey : `${baseKey}#${occurrence}`;
}

/**
 * Keys a whole batch: each contact's base key, numbered when several share one (the provider does
 * not deduplicate a bulk, and two identical contacts still get two results).
 */
export function keyBatch(
  keying: Keying,
  contacts: readonly Record<string, unknown>[],
  form: "request" | "record",
): string[] {
  const seen = new Map<string, number>();
  return contacts.map((contact) => {
    const base = contactKeyOf(keying, contact, form);
    const occurrence = (seen.get(base) ?? 0) + 1;
    seen.set(base, occurrence);
    return withOccurrence(base, occurrence);
  });
}

/** The user's `custom`, without the library's reserved key. */
export function stripCorrelation(custom: unknown, correlationKey: string | null): Record<string, string> {
  const result: Record<string, string> = {};
  if (custom === null || typeof custom !== "object") return result;
  for (const [key, value] of Object.entries(custom as Record<string, unknown>)) {
    if (key === correlationKey || typeof value !== "string") continue;
    result[key] = value;
  }
  return result;
}
