import { SIM_ENRICH_FIELDS, type SimEnrichContact, type SimReverseContact } from "./synthetic.js";

/**
 * Request validation with the provider's error codes, checked in the provider's order: the first
 * failing rule decides the answer.
 */

/** A rejected request: the `{code, message}` body of a 400. */
export interface ValidationFailure {
  code: string;
  message: string;
}

/** A request body that passed validation. */
export interface ValidBatch<T> {
  name: string;
  webhookUrl?: string;
  contactFinishedUrl?: string;
  contacts: T[];
}

/** The result of validating a start request. */
export type ValidationResult<T> =
  | { ok: true; batch: ValidBatch<T> }
  | { ok: false; error: ValidationFailure };

const MAX_CONTACTS = 100;
const MAX_CUSTOM_KEYS = 10;
const MAX_CUSTOM_VALUE = 100;
const WEBHOOK_MESSAGE = "Webhook URL must be start with http or https";

type JsonObject = Record<string, unknown>;

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A failed rule, wrapped so that it can never be mistaken for a valid value. */
class Rejected {
  constructor(readonly failure: ValidationFailure) {}
}

const reject = (code: string, message: string): Rejected => new Rejected({ code, message });
const isBlank = (value: unknown): boolean => typeof value !== "string" || value.trim() === "";
const isAbsent = (value: unknown): boolean => value === undefined || value === null;
const isWebhookUrl = (value: unknown): value is string =>
  typeof value === "string" && /^https?:\/\//i.test(value);
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

function checkEnvelope(body: JsonObject): Rejected | ValidBatch<unknown> {
  if (isBlank(body.name)) return reject("error.enrichment.name.empty", "Enrichment name not set");
  if (!isAbsent(body.webhook_url) && !isWebhookUrl(body.webhook_url)) {
    return reject("error.enrichment.webhook_url", WEBHOOK_MESSAGE);
  }
  let contactFinished: unknown;
  if (!isAbsent(body.webhook_events)) {
    if (!isJsonObject(body.webhook_events)) return reject("error.enrichment.webhook_url", WEBHOOK_MESSAGE);
    contactFinished = body.webhook_events.contact_finished;
    if (!isAbsent(contactFinished) && !isWebhookUrl(contactFinished)) {
      return reject("error.enrichment.webhook_url", WEBHOOK_MESSAGE);
    }
  }
  if (!Array.isArray(body.data) || body.data.length === 0) {
    return reject("error.enrichment.data.empty", "Data is empty");
  }
  if (body.data.length > MAX_CONTACTS) {
    return reject("error.enrichment.data.exceeded", `Data contains too many contacts (max: ${MAX_CONTACTS})`);
  }
  const batch: ValidBatch<unknown> = { name: body.name as string, contacts: body.data };
  if (isWebhookUrl(body.webhook_url)) batch.webhookUrl = body.webhook_url;
  if (isWebhookUrl(contactFinished)) batch.contactFinishedUrl = contactFinished;
  return batch;
}

function checkCustom(custom: unknown): Rejected | Record<string, string> | undefined {
  if (isAbsent(custom)) return undefined;
  if (!isJsonObject(custom)) {
    return reject("error.enrichment.custom.value.type", "Custom field must be an object of strings");
  }
  if (Object.keys(custom).length > MAX_CUSTOM_KEYS) {
    return reject(
      "error.enrichment.custom.key.exceeded",
      `Custom field contains too many keys (max: ${MAX_CUSTOM_KEYS} keys)`,
    );
  }
  for (const value of Object.values(custom)) {
    if (typeof value !== "string") {
      return reject("error.enrichment.custom.value.type", "Custom field values must be strings");
    }
    if (value.length > MAX_CUSTOM_VALUE) {
      return reject(
        "error.enrichment.custom.value.exceeded",
        `Custom field value max len exceeded (max: ${MAX_CUSTOM_VALUE} character)`,
      );
    }
  }
  return custom as Record<string, string>;
}

function checkEnrichContact(raw: unknown, requireEnrichFields: boolean): Rejected | SimEnrichContact {
  const contact = isJsonObject(raw) ? raw : {};
  if (isBlank(contact.linkedin_url)) {
    if (isBlank(contact.first_name))
      return reject("error.enrichment.first_name.empty", "First name cannot be empty");
    if (isBlank(contact.last_name))
      return reject("error.enrichment.last_name.empty", "Last name cannot be empty");
    if (isBlank(contact.domain) && isBlank(contact.company_name)) {
      return reject("error.enrichment.domain.empty", "Domain cannot be empty");
    }
  }
  let fields: string[] | undefined;
  if (requireEnrichFields && isAbsent(contact.enrich_fields)) {
    return reject("error.enrichment.enrich_fields.empty", "enrichFields cannot be empty");
  }
  if (!isAbsent(contact.enrich_fields)) {
    const given = contact.enrich_fields;
    if (Array.isArray(given) && given.length === 0) {
      return reject("error.enrichment.enrich_fields.empty", "enrichFields cannot be empty");
    }
    const list: unknown[] = Array.isArray(given) ? given : [given];
    for (const field of list) {
      if (typeof field !== "string" || !(SIM_ENRICH_FIELDS as readonly string[]).includes(field)) {
        return reject(
          "error.enrichment.enrich_field.value",
          `enrichField '${String(field)}' not valid must be contact.work_emails or contact.phones or contact.personal_emails`,
        );
      }
    }
    fields = list as string[];
  }
  const custom = checkCustom(contact.custom);
  if (custom instanceof Rejected) return custom;

  const valid: SimEnrichContact = {};
  const first = text(contact.first_name);
  const last = text(contact.last_name);
  const domain = text(contact.domain);
  const company = text(contact.company_name);
  const linkedin = text(contact.linkedin_url);
  if (first !== undefined) valid.first_name = first;
  if (last !== undefined) valid.last_name = last;
  if (domain !== undefined) valid.domain = domain;
  if (company !== undefined) valid.company_name = company;
  if (linkedin !== undefined) valid.linkedin_url = linkedin;
  if (fields !== undefined) valid.enrich_fields = fields;
  if (custom !== undefined) valid.custom = custom;
  return valid;
}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

function checkReverseContact(raw: unknown): Rejected | SimReverseContact {
  const contact = isJsonObject(raw) ? raw : {};
  if (isBlank(contact.email)) return reject("error.reverse.email.empty", "Email cannot be empty");
  const email = contact.email as string;
  if (!EMAIL_PATTERN.test(email.trim())) return reject("error.reverse.email.invalid", "Email is invalid");
  const custom = checkCustom(contact.custom);
  if (custom instanceof Rejected) return custom;
  return custom === undefined ? { email } : { email, custom };
}

function checkBatch<T>(body: unknown, checkContact: (raw: unknown) => Rejected | T): ValidationResult<T> {
  if (!isJsonObject(body)) {
    return { ok: false, error: { code: "error.body.invalid", message: "Body is not a valid JSON object" } };
  }
  const envelope = checkEnvelope(body);
  if (envelope instanceof Rejected) return { ok: false, error: envelope.failure };
  const contacts: T[] = [];
  for (const raw of envelope.contacts) {
    const checked = checkContact(raw);
    if (checked instanceof Rejected) return { ok: false, error: checked.failure };
    contacts.push(checked);
  }
  return { ok: true, batch: { ...envelope, contacts } };
}

/**
 * Validates the body of `POST /contact/enrich/bulk` (already parsed from JSON). With
 * `requireEnrichFields`, a contact without `enrich_fields` is refused, as the live API may do.
 */
export function validateEnrichRequest(
  body: unknown,
  options: { requireEnrichFields?: boolean } = {},
): ValidationResult<SimEnrichContact> {
  return checkBatch(body, (raw) => checkEnrichContact(raw, options.requireEnrichFields === true));
}

/** Validates the body of `POST /contact/reverse/email/bulk` (already parsed from JSON). */
export function validateReverseRequest(body: unknown): ValidationResult<SimReverseContact> {
  return checkBatch(body, checkReverseContact);
}
