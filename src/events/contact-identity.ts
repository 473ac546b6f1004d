import { sha256Hex } from "../internal/crypto.js";
import { normaliseDomain, normaliseEmail, normaliseLinkedinUrl, normaliseText } from "./contact-key.js";

/**
 * A contact's identity: what makes two submissions the same request, so that a contact already
 * enriched is not sent (and paid for) again. It covers the normalised input fields (names folded,
 * the domain and LinkedIn URL reduced to their essentials), the `enrich_fields` asked for (the
 * same person asked for phones is another request), and the user's `custom` without the
 * library's correlation key (another CRM id is another row). Reverse lookups: the email and
 * `custom`. A hash: it says nothing about the person in a tag or a log line.
 */
export function contactIdentity(
  kind: "enrich" | "reverse",
  contact: Record<string, unknown>,
  correlationKey: string | null,
): string {
  const custom = Object.entries(
    contact.custom !== null && typeof contact.custom === "object"
      ? (contact.custom as Record<string, unknown>)
      : {},
  )
    .filter(([key, value]) => key !== correlationKey && typeof value === "string")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const fields =
    kind === "reverse"
      ? [normaliseEmail(contact.email)]
      : [
          normaliseText(contact.first_name),
          normaliseText(contact.last_name),
          normaliseDomain(contact.domain),
          normaliseText(contact.company_name),
          normaliseLinkedinUrl(contact.linkedin_url),
          Array.isArray(contact.enrich_fields)
            ? [...new Set(contact.enrich_fields.filter((f): f is string => typeof f === "string"))].sort()
            : null,
        ];
  return sha256Hex(JSON.stringify([1, kind, fields, custom])).slice(0, 32);
}
