import { type ContactInfo, ContactInfoSchema, type EnrichmentStatus } from "../api/response-schemas.js";
import { stripCorrelation } from "../events/contact-key.js";
import type { EventOf } from "../events/event-types.js";

/** How a result arrived: by a webhook delivery, or by a poll. */
export type ResultSource = "webhook" | "poll";

/** What carried a result: a per-contact event, the batch's final event (webhook), or a poll. */
export type ResultVia = "contact-event" | "batch-event" | "poll";

/** One contact's result, as fullenrich-rx emits it: exactly once per (enrichment, contact key). */
export interface ContactResult {
  enrichmentId: string;
  /** The key the contact was deduplicated under (see `contact-key.ts`). */
  contactKey: string;
  kind: "enrich" | "reverse";
  /**
   * The final status it was resolved with: the batch's final status when it came with the batch
   * (webhook or poll), `FINISHED` when it came alone by a per-contact event. One of the documented
   * statuses, or a string the provider did not document (see {@link EnrichmentStatus}).
   */
  status: EnrichmentStatus;
  /** How it arrived. */
  source: ResultSource;
  via: ResultVia;
  /** `custom` as the user gave it (the library's correlation key removed). */
  custom: Record<string, string>;
  /** The contact as submitted (without the correlation key), or the provider's echo for enrichments started elsewhere. */
  input: Record<string, unknown> | null;
  /** Emails and phones found; null when nothing was found or the batch ended without this contact. */
  contactInfo: ContactInfo | null;
  profile: Record<string, unknown> | null;
  /** Whether anything was found: contact data or a profile (a record with neither still counts as a result). */
  found: boolean;
  /**
   * Whether the provider returned a record for it, found or not; false when its batch ended (out
   * of credits, canceled) before this contact was enriched: a rerun sends it again.
   */
  enriched: boolean;
  batchId: string | null;
  jobId: string | null;
  /** Position of its event in the log: store it as your checkpoint once you have processed it. */
  position: number;
  resolvedAt: number;
  /**
   * A job found it in the log, resolved by an earlier run or another job, and did not send the
   * contact again (no call, no wait). Always false on the engine's `results$`.
   */
  reused: boolean;
}

/** Projects a `contact.resolved` event into the {@link ContactResult} users see. */
export function toContactResult(
  event: EventOf<"contact.resolved">,
  correlationKey: string | null,
): ContactResult {
  const { data } = event;
  const record = data.record;
  const contactInfo = record?.contact_info ? ContactInfoSchema.safeParse(record.contact_info) : undefined;
  const profile = record?.profile;
  const submitted = data.input;
  const input = submitted
    ? withoutCorrelation(submitted, correlationKey)
    : ((record?.input as Record<string, unknown> | undefined) ?? null);
  return {
    enrichmentId: data.enrichmentId,
    contactKey: data.contactKey,
    kind: data.kind,
    status: data.status,
    source: data.source,
    via: data.via,
    custom: stripCorrelation(record?.custom ?? submitted?.custom ?? {}, correlationKey),
    input,
    contactInfo: contactInfo?.success ? contactInfo.data : null,
    profile: profile !== null && typeof profile === "object" ? (profile as Record<string, unknown>) : null,
    found: hasContactData(record),
    enriched: record !== null,
    batchId: data.batchId,
    jobId: data.jobId,
    position: event.position,
    resolvedAt: data.resolvedAt,
    reused: false,
  };
}

function withoutCorrelation(
  contact: Record<string, unknown>,
  correlationKey: string | null,
): Record<string, unknown> {
  if (contact.custom === undefined) return contact;
  const custom = stripCorrelation(contact.custom, correlationKey);
  const { custom: _dropped, ...rest } = contact;
  return Object.keys(custom).length > 0 ? { ...rest, custom } : rest;
}

/** Whether a provider record holds anything found: contact data or a profile. */
export function hasContactData(record: Record<string, unknown> | null): boolean {
  if (record === null) return false;
  const info = record.contact_info as Record<string, unknown> | null | undefined;
  const infoFound =
    info !== null &&
    typeof info === "object" &&
    Object.values(info).some((value) =>
      Array.isArray(value) ? value.length > 0 : value !== null && value !== undefined,
    );
  const profile = record.profile;
  return infoFound || (profile !== null && typeof profile === "object" && Object.keys(profile).length > 0);
}
