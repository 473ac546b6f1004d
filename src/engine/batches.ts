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
  batchIndex: number;
  /** The contacts as the user gave them (defaults applied). */
  contacts: SubmittedContact[];
  /** Each contact's identity (see `contact-identity.ts`). */
  identities: string[];
  /** SHA-256 of `contacts`. */
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
 * Validates every contact of a job (issues name the contact's index in the job and the field) and
 * the batch size, and applies the default enrich fields. Throws {@link InvalidRequestError}.
 */
export function prepareContacts(
  kind: "enrich" | "reverse",
  contacts: readonly unknown[],
  options: { batchSize: number; enrichFields?: readonly EnrichField[]; correlationKey: string | null },
): SubmittedContact[] {
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
    // Explicit enrich_fields on every enrichment contact: its own, the job's, else the default
    // (the identity of a contact covers what it asks for).
    valid.push(
      kind === "enrich"
        ? withEnrichFields(
            value as SubmittedContact & { enrich_fields?: EnrichField[] },
            options.enrichFields,
          )
        : value,
    );
  });
  if (issues.length > 0) throw new InvalidRequestError(issues);
  return valid;
}

/** Splits contacts (with their identities) into batches of at most `batchSize`, numbered from `firstIndex`. */
export function splitIntoBatches(
  contacts: readonly { contact: SubmittedContact; identity: string }[],
  batchSize: number,
  firstIndex = 0,
): PreparedBatch[] {
  const batches: PreparedBatch[] = [];
  for (let start = 0; start < contacts.length; start += batchSize) {
    const slice = contacts.slice(start, start + batchSize);
    const plain = slice.map((item) => item.contact);
    batches.push({
      batchIndex: firstIndex + batches.length,
      contacts: plain,
      identities: slice.map((item) => item.identity),
      contactsDigest: sha256Hex(JSON.stringify(plain)),
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
 * holds 10 keys); and every contact's key.
 */
export function keyPreparedBatch(batch: PreparedBatch, batchId: string, keying: Keying): KeyedBatch {
  const submitted = batch.contacts.map((contact, index) => {
    const custom = contact.custom ?? {};
    if (keying.correlationKey === null || Object.keys(custom).length >= LIMITS.customKeys) return contact;
    const withId = { ...custom, [keying.correlationKey]: correlationId(batchId, index) };
    CustomSchema.parse(withId);
    return { ...contact, custom: withId };
  });
  return { ...batch, batchId, submitted, keys: keyBatch(keying, submitted, "request") };
}
