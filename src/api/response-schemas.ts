import { z } from "zod";

/**
 * Response schemas are lenient: unknown keys are kept, optional fields stay optional and dates
 * stay strings. They fail only on what fullenrich-rx itself needs.
 */

/** The provider's error envelope, `{code, message}`. */
export const ApiErrorBodySchema = z.looseObject({
  code: z.string(),
  message: z.string().optional().default(""),
});
/** The provider's `{code, message}` error body. */
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

/** Every status an enrichment or reverse lookup can report. */
export const ENRICHMENT_STATUSES = [
  "CREATED",
  "IN_PROGRESS",
  "CANCELED",
  "CREDITS_INSUFFICIENT",
  "FINISHED",
  "RATE_LIMIT",
  "UNKNOWN",
] as const;
/** A status an enrichment or reverse lookup reports. */
export type EnrichmentStatus = (typeof ENRICHMENT_STATUSES)[number];

/** The statuses after which nothing more happens to a batch. */
export const FINAL_STATUSES = ["FINISHED", "CREDITS_INSUFFICIENT", "CANCELED"] as const;
/** A status after which nothing more happens to a batch. */
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** Whether a status is final (FINISHED, CREDITS_INSUFFICIENT or CANCELED). */
export function isFinalStatus(status: string): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export const EnrichmentStatusSchema = z.enum(ENRICHMENT_STATUSES, {
  error: (issue) => `unknown enrichment status ${JSON.stringify(issue.input)}`,
});

const text = z.string().optional();

export const EmailSchema = z.looseObject({ email: text, status: text });
export const PhoneSchema = z.looseObject({ number: text, region: text });

/** What was found for a contact. Absent when nothing was found. */
export const ContactInfoSchema = z.looseObject({
  most_probable_work_email: EmailSchema.nullish(),
  most_probable_personal_email: EmailSchema.nullish(),
  most_probable_phone: PhoneSchema.nullish(),
  work_emails: z.array(EmailSchema).nullish(),
  personal_emails: z.array(EmailSchema).nullish(),
  phones: z.array(PhoneSchema).nullish(),
});
/** Emails and phones found for a contact. */
export type ContactInfo = z.infer<typeof ContactInfoSchema>;

/**
 * The echo of a contact's input. The provider renames fields (`domain` comes back as
 * `company_domain`, `linkedin_url` as `professional_network_url`, sometimes with a `full_name`);
 * reverse lookups echo `email`.
 */
export const RecordInputSchema = z.looseObject({
  first_name: text,
  last_name: text,
  full_name: text,
  company_domain: text,
  domain: text,
  company_name: text,
  professional_network_url: text,
  linkedin_url: text,
  email: text,
});
/** The provider's echo of a contact's input. */
export type RecordInput = z.infer<typeof RecordInputSchema>;

/** A person's profile: kept as the provider sent it (its dates are not always ISO). */
export const ProfileSchema = z.record(z.string(), z.unknown());
/** A person's professional profile, as the provider sent it. */
export type Profile = z.infer<typeof ProfileSchema>;

/** One contact's record, for enrichments and reverse lookups alike. */
export const ResultRecordSchema = z.looseObject({
  input: RecordInputSchema.nullish(),
  custom: z.record(z.string(), z.unknown()).nullish(),
  contact_info: ContactInfoSchema.nullish(),
  profile: ProfileSchema.nullish(),
});
/** One contact's record in a result or a delivery. */
export type ResultRecord = z.infer<typeof ResultRecordSchema>;

/**
 * The body of a GET result, a 402, and of every webhook delivery. Older v1 bodies said `datas`
 * instead of `data`; both are read into `data`.
 */
export const EnrichmentResultSchema = z
  .looseObject({
    id: z.string().optional(),
    name: z.string().optional(),
    status: EnrichmentStatusSchema,
    cost: z.looseObject({ credits: z.number().optional() }).nullish(),
    data: z.array(ResultRecordSchema).nullish(),
    datas: z.array(ResultRecordSchema).nullish(),
  })
  .transform(({ datas, data, ...rest }) => ({ ...rest, data: data ?? datas ?? [] }));
/** A parsed result body (GET, 402, or webhook delivery); `data` always present. */
export type EnrichmentResult = z.output<typeof EnrichmentResultSchema>;

/** `POST /contact/enrich/bulk` and `POST /contact/reverse/email/bulk` answer with the new id. */
export const StartResponseSchema = z.looseObject({ enrichment_id: z.string().min(1) });
/** The answer of a start call: the new enrichment's id. */
export type StartResponse = z.infer<typeof StartResponseSchema>;

/** `GET /account/credits`. */
export const CreditsSchema = z.looseObject({ balance: z.number() });
/** The workspace's credit balance. */
export type Credits = z.infer<typeof CreditsSchema>;

/** `GET /account/keys/verify`. */
export const VerifyKeySchema = z.looseObject({ workspace_id: z.string() });
/** The workspace a valid key belongs to. */
export type VerifyKey = z.infer<typeof VerifyKeySchema>;

/**
 * Whether records are those of a reverse email lookup (their echo holds an `email` and no name)
 * rather than of an enrichment. Deliveries do not say which endpoint started them.
 */
export function inferLookupKind(records: unknown): "enrich" | "reverse" {
  if (!Array.isArray(records)) return "enrich";
  const reverse = records.some((record: unknown) => {
    const input = (record as { input?: Record<string, unknown> } | null)?.input;
    return (
      typeof input?.email === "string" && input.first_name === undefined && input.last_name === undefined
    );
  });
  return reverse ? "reverse" : "enrich";
}
