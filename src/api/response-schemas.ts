import { z } from "zod";

/**
 * Response schemas are lenient, as the provider's own advice goes ("be strict with what you send and
 * lenient with what you receive"): every optional field may be missing or `null`, unknown keys are
 * kept, dates stay strings, a value of the wrong type reads as absent, and entries of a list that do
 * not parse are skipped (the body stored in the log keeps them as sent). They fail only on what
 * fullenrich-rx itself needs: a result's `status`, and `data` being a list when it is there.
 */

/** The provider's error envelope, `{code, message}`. */
export const ApiErrorBodySchema = z.looseObject({
  code: z.string(),
  message: z
    .string()
    .nullish()
    .catch(undefined)
    .transform((message) => message ?? ""),
});
/** The provider's `{code, message}` error body. */
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

/** Every status the provider documents for an enrichment or a reverse lookup. */
export const ENRICHMENT_STATUSES = [
  "CREATED",
  "IN_PROGRESS",
  "CANCELED",
  "CREDITS_INSUFFICIENT",
  "FINISHED",
  "RATE_LIMIT",
  "UNKNOWN",
] as const;
/**
 * A status an enrichment or reverse lookup reports: one the provider documents, or any other string
 * (the live API may send values its documentation does not list).
 */
export type EnrichmentStatus = (typeof ENRICHMENT_STATUSES)[number] | (string & {});

/** The statuses after which nothing more happens to a batch. */
export const FINAL_STATUSES = ["FINISHED", "CREDITS_INSUFFICIENT", "CANCELED"] as const;
/** A status after which nothing more happens to a batch. */
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** The statuses that plainly mean "still running": created (or queued) and in progress. */
export const RUNNING_STATUSES = ["CREATED", "IN_PROGRESS"] as const;

/** Whether a status is final (FINISHED, CREDITS_INSUFFICIENT or CANCELED). */
export function isFinalStatus(status: string): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/**
 * Whether a status is neither final nor plainly running: `RATE_LIMIT` and `UNKNOWN` (listed by the
 * provider, never explained) and any value it does not document. Such a status is "not yet": the
 * enrichment is followed on, but only for a while (see `Timings.unknownStatusCapMs`).
 */
export function isUnknownStatus(status: string): boolean {
  return !isFinalStatus(status) && !(RUNNING_STATUSES as readonly string[]).includes(status);
}

/** A result's status: any non-empty string (see {@link EnrichmentStatus}). */
export const EnrichmentStatusSchema = z
  .string({
    error: (issue) =>
      issue.input === undefined ? "missing" : `expected a string, got ${JSON.stringify(issue.input)}`,
  })
  .min(1, { error: "empty" })
  .transform((status) => status as EnrichmentStatus);

/** Text the provider may send, send as `null` or leave out; a value of another type reads as absent. */
const text = z.string().nullish().catch(undefined);

/** An object the provider may send, send as `null` or leave out; anything else reads as absent. */
function optionalObject<T extends z.ZodType>(schema: T) {
  return schema.nullish().catch(undefined);
}

/**
 * A list whose entries that do not parse are skipped. `null` and absent stay as they are; a value
 * that is not a list reads as absent.
 */
function tolerantList<T extends z.ZodType>(item: T) {
  return z
    .unknown()
    .transform((value): z.output<T>[] | null | undefined => {
      if (value === null) return null;
      if (!Array.isArray(value)) return undefined;
      return value.flatMap((entry: unknown) => {
        const parsed = item.safeParse(entry);
        return parsed.success ? [parsed.data as z.output<T>] : [];
      });
    })
    .optional();
}

/** The statuses the provider documents for an email it found. */
export const EMAIL_STATUSES = [
  "DELIVERABLE",
  "HIGH_PROBABILITY",
  "CATCH_ALL",
  "INVALID",
  "INVALID_DOMAIN",
] as const;
/** An email's status: one the provider documents, or any other string. */
export type EmailStatus = (typeof EMAIL_STATUSES)[number] | (string & {});

/** An email found: `{email, status}`, either possibly `null`. */
export const EmailSchema = z.looseObject({
  email: text,
  status: text.transform((status) => status as EmailStatus | null | undefined),
});
/** An email found, as the provider sent it. */
export type Email = z.infer<typeof EmailSchema>;

/** A phone number found: `{number, region}`, either possibly `null`. */
export const PhoneSchema = z.looseObject({ number: text, region: text });
/** A phone number found, as the provider sent it. */
export type Phone = z.infer<typeof PhoneSchema>;

/**
 * What was found for a contact: the most probable email and phone, and every one found. Absent,
 * `null` or `{}` when nothing was found. Entries that do not parse are left out of this view.
 */
export const ContactInfoSchema = z.looseObject({
  most_probable_work_email: optionalObject(EmailSchema),
  most_probable_personal_email: optionalObject(EmailSchema),
  most_probable_phone: optionalObject(PhoneSchema),
  work_emails: tolerantList(EmailSchema),
  personal_emails: tolerantList(EmailSchema),
  phones: tolerantList(PhoneSchema),
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

/**
 * One contact's record, for enrichments and reverse lookups alike. Any JSON object is a record:
 * each field that is missing, `null` or of another type than documented reads as absent.
 */
export const ResultRecordSchema = z.looseObject({
  input: optionalObject(RecordInputSchema),
  custom: optionalObject(z.record(z.string(), z.unknown())),
  contact_info: optionalObject(ContactInfoSchema),
  profile: optionalObject(ProfileSchema),
});
/** One contact's record in a result or a delivery. */
export type ResultRecord = z.infer<typeof ResultRecordSchema>;

/**
 * Whether a record says which contact it answers: records carry no per-contact id, so it needs a
 * `custom` holding a string, or an echoed `input` holding a non-empty string.
 */
export function identifiesContact(record: ResultRecord): boolean {
  const hasText = (object: Record<string, unknown> | null | undefined, nonEmpty: boolean): boolean =>
    Object.values(object ?? {}).some(
      (value) => typeof value === "string" && (!nonEmpty || value.trim() !== ""),
    );
  return hasText(record.custom, false) || hasText(record.input, true);
}

/**
 * `data` (or `datas`): a list of records, `null` or absent. Entries that are not records, or that do
 * not say which contact they answer, are skipped: nothing can be resolved from them (the body
 * stored in the log keeps them).
 */
const records = z
  .array(z.unknown(), { error: (issue) => `expected a list of records, got ${typeName(issue.input)}` })
  .nullish()
  .transform((list) =>
    (list ?? []).flatMap((entry) => {
      const parsed = ResultRecordSchema.safeParse(entry);
      return parsed.success && identifiesContact(parsed.data) ? [parsed.data] : [];
    }),
  );

/**
 * The body of a GET result, a 402, and of every webhook delivery. Older v1 bodies said `datas`
 * instead of `data`; both are read into `data`. `data: null` (sent while an enrichment runs) is no
 * records.
 */
export const EnrichmentResultSchema = z
  .looseObject({
    id: text,
    name: text,
    status: EnrichmentStatusSchema,
    cost: optionalObject(z.looseObject({ credits: z.number().nullish().catch(undefined) })),
    data: records,
    datas: records,
  })
  .transform(({ datas, data, ...rest }) => ({ ...rest, data: data.length > 0 ? data : datas }));
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

function typeName(value: unknown): string {
  if (value === null) return "null";
  return Array.isArray(value) ? "a list" : typeof value;
}

/**
 * Whether records are those of a reverse email lookup (their echo holds an `email` and no name)
 * rather than of an enrichment. Deliveries do not say which endpoint started them.
 */
export function inferLookupKind(records: unknown): "enrich" | "reverse" {
  if (!Array.isArray(records)) return "enrich";
  const reverse = records.some((record: unknown) => {
    const input = (record as { input?: Record<string, unknown> } | null)?.input;
    return typeof input?.email === "string" && input.first_name == null && input.last_name == null;
  });
  return reverse ? "reverse" : "enrich";
}
