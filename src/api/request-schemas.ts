import { z } from "zod";

/** The fields FullEnrich can look for. */
export const ENRICH_FIELDS = ["contact.work_emails", "contact.personal_emails", "contact.phones"] as const;
/** Checks an enrich field, with an error listing the valid ones. */
export const EnrichFieldSchema = z.enum(ENRICH_FIELDS, {
  error: (issue) => `must be one of ${ENRICH_FIELDS.join(", ")} (got ${JSON.stringify(issue.input)})`,
});
/** A field FullEnrich can look for: work emails, personal emails, phones. */
export type EnrichField = z.infer<typeof EnrichFieldSchema>;

/**
 * The fields asked for when the caller names none: work emails only. Every contact is sent with
 * explicit `enrich_fields`, since the live API may require them. The public OpenAPI
 * (`RequestPostContactBulkEnrichContact.enrich_fields`, API v2.0.0) documents no `default` — its
 * request example lists all three fields — so this one is fullenrich-rx's documented choice (the
 * CLI's `--fields` default): the cheapest field (1 credit, against 3 for a personal email and 10
 * for a phone), and what a request without the field has been taken to mean, so that sending it
 * explicitly never spends credits the caller did not ask for.
 */
export const DEFAULT_ENRICH_FIELDS: readonly EnrichField[] = ["contact.work_emails"];

/**
 * A contact with explicit `enrich_fields`: its own, else `fields`, else {@link DEFAULT_ENRICH_FIELDS}.
 * The contact is returned as it is when it lists its own.
 */
export function withEnrichFields<T extends { enrich_fields?: readonly EnrichField[] | undefined }>(
  contact: T,
  fields: readonly EnrichField[] = DEFAULT_ENRICH_FIELDS,
): T & { enrich_fields: EnrichField[] } {
  if (contact.enrich_fields !== undefined) return contact as T & { enrich_fields: EnrichField[] };
  return { ...contact, enrich_fields: [...fields] };
}

/** The provider's limits on a request, enforced here before anything is sent. */
export const LIMITS = {
  contactsPerBatch: 100,
  customKeys: 10,
  customValueLength: 100,
} as const;

const customValue = z
  .string({
    error: (issue) =>
      `custom values must be strings (FullEnrich rejects numbers), got ${issue.input === null ? "null" : typeof issue.input}`,
  })
  .max(LIMITS.customValueLength, {
    error: (issue) =>
      `custom values may be at most ${LIMITS.customValueLength} characters, got ${String((issue.input as string).length)}`,
  });

/**
 * `custom`: string keys to string values, returned unchanged in every result. At most 10 keys
 * (one provider schema says 20; the API rejects more than 10), values at most 100 characters.
 */
export const CustomSchema = z
  .record(z.string().min(1, { error: "custom keys must not be empty" }), customValue)
  .refine((custom) => Object.keys(custom).length <= LIMITS.customKeys, {
    error: (issue) =>
      `custom may hold at most ${LIMITS.customKeys} keys, got ${Object.keys(issue.input as object).length}`,
  });
/** `custom`: at most 10 string keys to strings of at most 100 characters, echoed in every result. */
export type Custom = z.infer<typeof CustomSchema>;

const optionalText = z.string().optional();
const isBlank = (value: string | undefined): boolean => value === undefined || value.trim() === "";

/** One contact to enrich, exactly as the API takes it. */
export const EnrichContactSchema = z
  .strictObject({
    first_name: optionalText,
    last_name: optionalText,
    domain: optionalText,
    company_name: optionalText,
    linkedin_url: optionalText,
    enrich_fields: z.array(EnrichFieldSchema).min(1, { error: "must list at least one field" }).optional(),
    custom: CustomSchema.optional(),
  })
  .superRefine((contact, ctx) => {
    if (!isBlank(contact.linkedin_url)) return;
    if (isBlank(contact.first_name)) {
      ctx.addIssue({
        code: "custom",
        path: ["first_name"],
        message: "is required unless linkedin_url is given",
      });
    }
    if (isBlank(contact.last_name)) {
      ctx.addIssue({
        code: "custom",
        path: ["last_name"],
        message: "is required unless linkedin_url is given",
      });
    }
    if (isBlank(contact.domain) && isBlank(contact.company_name)) {
      ctx.addIssue({
        code: "custom",
        path: ["domain"],
        message: "domain or company_name is required unless linkedin_url is given",
      });
    }
  });
/** A contact to enrich: names with a domain or company name, or a LinkedIn URL; optional fields and `custom`. */
export type EnrichContact = z.infer<typeof EnrichContactSchema>;

/**
 * What is wrong with an email to look up, by a light check only: exactly one `@`, something before
 * it, a domain holding a dot (not at either end), no whitespace. Anything else is left to the
 * provider, which may accept addresses a strict RFC check refuses (`&`, `=`, internationalised
 * domains). Null when it passes.
 */
export function emailProblem(email: string): string | null {
  if (/\s/u.test(email)) return "contains whitespace";
  const parts = email.split("@");
  if (parts.length !== 2) return parts.length === 1 ? "has no @" : "has more than one @";
  const [local = "", domain = ""] = parts;
  if (local === "") return "has nothing before the @";
  if (!domain.includes(".") || domain.startsWith(".") || domain.endsWith(".")) {
    return "needs a domain with a dot after the @ (e.g. example.com)";
  }
  return null;
}

const reverseEmail = z
  .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
  .superRefine((email, ctx) => {
    const problem = emailProblem(email);
    if (problem !== null) {
      ctx.addIssue({
        code: "custom",
        message: `is not an email address: ${problem} (got ${JSON.stringify(email)})`,
      });
    }
  });

/** One email to look up, exactly as the API takes it. */
export const ReverseContactSchema = z.strictObject({
  email: reverseEmail,
  custom: CustomSchema.optional(),
});
/** An email to look up, with optional `custom`. */
export type ReverseContact = z.infer<typeof ReverseContactSchema>;

const webhookUrl = z.string().refine((value) => /^https?:\/\//i.test(value) && URL.canParse(value), {
  error: "must be an absolute http:// or https:// URL",
});

const envelope = {
  name: z
    .string({ error: "is required" })
    .refine((name) => name.trim() !== "", { error: "must not be empty" }),
  webhook_url: webhookUrl.optional(),
  webhook_events: z.strictObject({ contact_finished: webhookUrl.optional() }).optional(),
};

const batchOf = <T extends z.ZodType>(contact: T) =>
  z
    .array(contact)
    .min(1, { error: "must hold at least one contact" })
    .max(LIMITS.contactsPerBatch, {
      error: (issue) =>
        `may hold at most ${LIMITS.contactsPerBatch} contacts, got ${(issue.input as unknown[]).length}`,
    });

/** Body of `POST /contact/enrich/bulk`. */
export const StartEnrichmentRequestSchema = z.strictObject({
  ...envelope,
  data: batchOf(EnrichContactSchema),
});
/** The body of `POST /contact/enrich/bulk`: a name, optional webhook URLs, 1..100 contacts. */
export type StartEnrichmentRequest = z.infer<typeof StartEnrichmentRequestSchema>;

/** Body of `POST /contact/reverse/email/bulk`. */
export const StartReverseLookupRequestSchema = z.strictObject({
  ...envelope,
  data: batchOf(ReverseContactSchema),
});
/** The body of `POST /contact/reverse/email/bulk`: a name, optional webhook URLs, 1..100 emails. */
export type StartReverseLookupRequest = z.infer<typeof StartReverseLookupRequestSchema>;
