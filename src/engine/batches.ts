import type { z } from "zod";
import { InvalidRequestError, type RequestIssue, requestIssuesFrom } from "../api/errors.js";
import {
  CustomSchema,
  EnrichContactSchema,
  type EnrichField,
  LIMITS,
  ReverseContactSchema,
  withEnrichFields,
} from "../api/request-schemas.js";
import { keyBatch } from "../events/contact-key.js";
import type { Keying } from "../events/event-types.js";
import { sha256Hex } from "../internal/crypto.js";

/** A contact to submit, either kind. */
export type SubmittedContact = Record<string, unknown> & { custom?: Record<string, string> };

/** One batch of a job, ready to be recorded and POSTed. */
export interface PreparedBatch {
  kind: "enrich" | "reverse";
  batchIndex: number;
  /** The contacts as the user gave them (defaults applied). */
  contacts: SubmittedContact[];
  /** SHA-256 of `contacts`: a rerun of the job must hold the same ones. */
  contactsDigest: string;
}

/** A batch with its id, correlation ids and keys. */
export interface KeyedBatch extends PreparedBatch {
  batchId: string;
  /** The contacts as POSTed: with the correlation id in `custom` where there was room. */
  submitted: SubmittedContact[];
  keys: string[];
}

/**
 * Validates every contact of a job (issues name the contact's index in the job and the field), applies
 * the default enrich fields, and splits the job into batches of at most `batchSize` (≤ 100).
 */
export function prepareBatches(
  kind: "enrich" | "reverse",
  contacts: readonly unknown[],
  options: { batchSize: number; enrichFields?: readonly EnrichField[]; correlationKey: string | null },
): PreparedBatch[] {
  if (
    !Number.isInteger(options.batchSize) ||
    options.batchSize < 1 ||
    options.batchSize > LIMITS.contactsPerBatch
  ) {
    throw new InvalidRequestError([
      {
        field: "batchSize",
        message: `must be an integer from 1 to ${LIMITS.contactsPerBatch}, got ${options.batchSize}`,
      },
    ]);
  }
  if (contacts.length === 0)
    throw new InvalidRequestError([{ field: "contacts", message: "no contacts to submit" }]);
  const schema: z.ZodType = kind === "enrich" ? EnrichContactSchema : ReverseContactSchema;
  const issues: RequestIssue[] = [];
  const valid: SubmittedContact[] = [];
  contacts.forEach((contact, index) => {
    const parsed = schema.safeParse(contact);
    if (!parsed.success) {
      for (const issue of requestIssuesFrom(parsed.error)) {
        issues.push({
          index,
          field: issue.field === "request" ? "contact" : issue.field,
          message: issue.message,
        });
      }
      return;
    }
    const value = parsed.data as SubmittedContact;
    if (
      options.correlationKey !== null &&
      value.custom &&
      Object.hasOwn(value.custom, options.correlationKey)
    ) {
      issues.push({
        index,
        field: `custom.${options.correlationKey}`,
        message: "is reserved for fullenrich-rx's correlation id (choose another correlationKey to use it)",
      });
      return;
    }
    if (kind === "enrich" && value.enrich_fields === undefined && options.enrichFields !== undefined) {
      value.enrich_fields = [...options.enrichFields];
    }
    valid.push(value);
  });
  if (issues.length > 0) throw new InvalidRequestError(issues);
  const batches: PreparedBatch[] = [];
  for (let start = 0; start < valid.length; start += options.batchSize) {
    const slice = valid.slice(start, start + options.batchSize);
    batches.push({
      kind,
      batchIndex: batches.length,
      contacts: slice,
      contactsDigest: sha256Hex(JSON.stringify(slice)),
    });
  }
  return batches;
}

/** The correlation id of the `index`-th contact of a batch: `<batchId>.<index>`. */
export function correlationId(batchId: string, index: number): string {
  return `${batchId}.${index}`;
}

/**
 * The contacts as POSTed: the correlation id written into each contact's `custom` (unless it already
 * holds 10 keys) and, for enrichments, explicit `enrich_fields` on every contact (the documented
 * default, `DEFAULT_ENRICH_FIELDS`, when neither the contact nor the job named any); and
 * every contact's key. (The default is applied here rather than in {@link prepareBatches}, so that
 * the contacts digest of a job recorded before it was sent explicitly stays the same.)
 */
export function keyPreparedBatch(batch: PreparedBatch, batchId: string, keying: Keying): KeyedBatch {
  const submitted = batch.contacts.map((given, index) => {
    const contact =
      batch.kind === "enrich"
        ? withEnrichFields(given as SubmittedContact & { enrich_fields?: EnrichField[] })
        : given;
    const custom = contact.custom ?? {};
    if (keying.correlationKey === null || Object.keys(custom).length >= LIMITS.customKeys) return contact;
    const withId = { ...custom, [keying.correlationKey]: correlationId(batchId, index) };
    CustomSchema.parse(withId);
    return { ...contact, custom: withId };
  });
  return { ...batch, batchId, submitted, keys: keyBatch(keying, submitted, "request") };
}
