import { randomFor, uuidFrom } from "./determinism.js";

/**
 * Deterministic synthetic results. What is found for a contact depends only on the simulator
 * seed and the contact's normalised identity, so the same person gives the same record whatever
 * the batch, its position in it or the order in which contacts finish.
 */

/** The fields a contact may ask for. */
export const SIM_ENRICH_FIELDS = [
  "contact.work_emails",
  "contact.personal_emails",
  "contact.phones",
] as const;
/** One of {@link SIM_ENRICH_FIELDS}. */
export type SimEnrichField = (typeof SIM_ENRICH_FIELDS)[number];

/** The statuses the simulator gives to the emails it finds. */
export const SIM_EMAIL_STATUSES = ["DELIVERABLE", "HIGH_PROBABILITY", "CATCH_ALL"] as const;

/** How likely each kind of data is to be found. */
export const FIND_RATES = { workEmail: 0.7, personalEmail: 0.4, phone: 0.5, reverseProfile: 0.6 } as const;

/** What the credit cost of each kind of data found is. */
export const CREDIT_COSTS = { workEmail: 1, personalEmail: 3, phone: 10, reverseProfile: 1 } as const;

/** A contact to enrich, as validated by the simulator. */
export interface SimEnrichContact {
  first_name?: string;
  last_name?: string;
  domain?: string;
  company_name?: string;
  linkedin_url?: string;
  enrich_fields?: readonly string[];
  custom?: Record<string, string>;
}

/** An email to look up, as validated by the simulator. */
export interface SimReverseContact {
  email: string;
  custom?: Record<string, string>;
}

/** An email found. */
export interface SimEmail {
  email: string;
  status: string;
}

/** A phone number found. */
export interface SimPhone {
  number: string;
  region: string;
}

/** `contact_info` of a record (present only when something was found). */
export interface SimContactInfo {
  most_probable_work_email?: SimEmail;
  most_probable_personal_email?: SimEmail;
  most_probable_phone?: SimPhone;
  work_emails: SimEmail[];
  personal_emails: SimEmail[];
  phones: SimPhone[];
}

/** A person's profile, shaped like the provider's (abridged). */
export interface SimProfile {
  id: string;
  full_name: string;
  first_name: string;
  last_name: string;
  headline: string;
  location: { country: string; country_code: string; city: string };
  social_profiles: { professional_network: { url: string; handle: string } };
  employment: {
    current: {
      title: string;
      is_current: boolean;
      /** Deliberately not ISO 8601: the live API sends dates like this. */
      start_at: string;
      company: { name: string; domain: string };
    };
  };
}

/** One result record, for enrichments and reverse lookups alike. */
export interface SimRecord {
  input: Record<string, string>;
  custom: Record<string, string>;
  contact_info?: SimContactInfo;
  profile?: SimProfile;
}

const FIRST_NAMES = ["Alex", "Maria", "Sam", "Priya", "Jonas", "Chloe", "Omar", "Lena", "Diego", "Aiko"];
const LAST_NAMES = [
  "Martin",
  "Garcia",
  "Kim",
  "Novak",
  "Dubois",
  "Okafor",
  "Rossi",
  "Larsen",
  "Silva",
  "Tanaka",
];
const COMPANIES = [
  { name: "Acme Analytics", domain: "acme-analytics.com" },
  { name: "Northwind Labs", domain: "northwindlabs.io" },
  { name: "Blue Harbor", domain: "blueharbor.co" },
  { name: "Quantix", domain: "quantix.dev" },
  { name: "Helios Retail", domain: "heliosretail.com" },
];
const TITLES = [
  "Head of Sales",
  "Software Engineer",
  "Marketing Manager",
  "CTO",
  "Account Executive",
  "Founder",
];
const LOCATIONS = [
  { country: "United States", country_code: "US", city: "San Francisco" },
  { country: "France", country_code: "FR", city: "Paris" },
  { country: "United Kingdom", country_code: "GB", city: "London" },
  { country: "Germany", country_code: "DE", city: "Berlin" },
];
const PERSONAL_PROVIDERS = ["gmail.com", "yahoo.com", "outlook.com"];
const FREE_MAIL = new Set([...PERSONAL_PROVIDERS, "hotmail.com", "icloud.com", "proton.me"]);
/** A date in the shape the live API sometimes sends (month not padded, day 0). */
const NON_ISO_DATE = "2024-1-0T00:00:00Z";

const SPECIAL_LETTERS: Record<string, string> = {
  ø: "o",
  æ: "ae",
  œ: "oe",
  ß: "ss",
  ł: "l",
  đ: "d",
  ð: "d",
  þ: "th",
  ı: "i",
};

/** Lowercase, ASCII-folded, with spaces and anything not `[a-z0-9-]` removed. */
export function foldForEmail(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[øæœßłđðþı]/g, (letter) => SPECIAL_LETTERS[letter] ?? "")
    .replace(/\s+/g, "")
    .replace(/[^a-z0-9-]/g, "");
}

function isBlank(value: string | undefined): value is undefined {
  return value === undefined || value.trim() === "";
}

function capitalise(word: string): string {
  return word.length === 0 ? word : word[0]?.toUpperCase() + word.slice(1).toLowerCase();
}

function pick<T>(list: readonly T[], unit: number): T {
  return list[Math.min(list.length - 1, Math.floor(unit * list.length))] as T;
}

/** The handle of a LinkedIn profile URL (`.../in/<handle>/`), or the URL's last path segment. */
export function linkedinHandle(url: string): string {
  const match = /\/in\/([^/?#]+)/i.exec(url);
  if (match?.[1] !== undefined) return decodeURIComponent(match[1]);
  const segments =
    url
      .split(/[?#]/)[0]
      ?.split("/")
      .filter((part) => part !== "") ?? [];
  return segments.at(-1) ?? url.trim();
}

/** Name words found in a handle or email local part: alphabetic tokens (trailing digits dropped). */
function nameWords(text: string): string[] {
  return text
    .split(/[-_.+\s]+/)
    .map((word) => word.replace(/\d+$/, ""))
    .filter((word) => /^[\p{L}]+$/u.test(word))
    .map(capitalise);
}

function namesFrom(text: string, units: readonly number[]): { first: string; last: string } {
  const words = nameWords(text);
  const first = words[0] ?? pick(FIRST_NAMES, units[0] ?? 0);
  const last = words.length > 1 ? words.slice(1).join(" ") : pick(LAST_NAMES, units[1] ?? 0);
  return { first, last };
}

/** A domain as the simulator keys it: lower-cased, without scheme, `www.` or path. */
export function normaliseDomain(domain: string): string {
  return domain
    .trim()
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, "")
    .replace(/^www\./, "")
    .split(/[/?#]/)[0] as string;
}

function companyFromDomain(domain: string): string {
  const label = domain.split(".")[0] ?? domain;
  return label.split("-").map(capitalise).join(" ");
}

function domainFromCompany(name: string): string {
  const slug = foldForEmail(name).replace(/-/g, "");
  return `${slug === "" ? "company" : slug}.com`;
}

function emailLocal(first: string, last: string): string {
  const parts = [foldForEmail(first), foldForEmail(last)].filter((part) => part !== "");
  return parts.length === 0 ? "contact" : parts.join(".");
}

function digits(units: readonly number[]): string {
  return units.map((unit) => String(Math.floor(unit * 10))).join("");
}

function phoneFor(regionUnit: number, units: readonly number[]): SimPhone {
  const d = digits(units);
  const region = pick(["US", "FR", "GB"], regionUnit);
  if (region === "US") return { number: `+1 555-${d.slice(0, 3)}-${d.slice(3, 7)}`, region };
  if (region === "FR") {
    return { number: `+33 6 ${d.slice(0, 2)} ${d.slice(2, 4)} ${d.slice(4, 6)} ${d.slice(6, 8)}`, region };
  }
  return { number: `+44 7${d.slice(0, 3)} ${d.slice(3, 9)}`, region };
}

/** The identity a contact's results are keyed on: its LinkedIn handle, or its names and company. */
export function contactIdentity(contact: SimEnrichContact): string {
  if (!isBlank(contact.linkedin_url)) return `li:${linkedinHandle(contact.linkedin_url).toLowerCase()}`;
  const company = !isBlank(contact.domain)
    ? normaliseDomain(contact.domain)
    : foldForEmail(contact.company_name ?? "");
  return `np:${foldForEmail(contact.first_name ?? "")}|${foldForEmail(contact.last_name ?? "")}|${company}`;
}

function draws(seed: number, ...key: string[]): number[] {
  const random = randomFor(seed, ...key);
  return Array.from({ length: 32 }, () => random.next());
}

/** The echo of an enrichment contact: given fields only, renamed as the provider does. */
function echoInput(contact: SimEnrichContact): Record<string, string> {
  const input: Record<string, string> = {};
  const given = (value: string | undefined): value is string => typeof value === "string" && value !== "";
  if (given(contact.first_name)) input.first_name = contact.first_name;
  if (given(contact.last_name)) input.last_name = contact.last_name;
  if (given(contact.first_name) && given(contact.last_name)) {
    input.full_name = `${contact.first_name} ${contact.last_name}`;
  }
  if (given(contact.domain)) input.company_domain = contact.domain;
  if (given(contact.company_name)) input.company_name = contact.company_name;
  if (given(contact.linkedin_url)) input.professional_network_url = contact.linkedin_url;
  return input;
}

/**
 * The record the simulator returns for an enrichment contact. `enrich_fields` missing means
 * `["contact.work_emails"]`; only the fields asked for can be found.
 */
export function synthesizeEnrichRecord(contact: SimEnrichContact, seed: number): SimRecord {
  const identity = contactIdentity(contact);
  const u = draws(seed, "enrich", identity);
  const at = (index: number): number => u[index] ?? 0;
  const fields = new Set(contact.enrich_fields ?? ["contact.work_emails"]);
  const hasLinkedin = !isBlank(contact.linkedin_url);

  const handle = hasLinkedin ? linkedinHandle(contact.linkedin_url ?? "") : "";
  const derived = namesFrom(handle, [at(20), at(21)]);
  const first = isBlank(contact.first_name) ? derived.first : contact.first_name.trim();
  const last = isBlank(contact.last_name) ? derived.last : contact.last_name.trim();

  let company: { name: string; domain: string };
  if (!isBlank(contact.domain)) {
    const domain = normaliseDomain(contact.domain);
    company = {
      name: isBlank(contact.company_name) ? companyFromDomain(domain) : contact.company_name,
      domain,
    };
  } else if (!isBlank(contact.company_name)) {
    company = { name: contact.company_name, domain: domainFromCompany(contact.company_name) };
  } else {
    company = pick(COMPANIES, at(22));
  }

  const workEmail: SimEmail | undefined =
    fields.has("contact.work_emails") && at(0) < FIND_RATES.workEmail
      ? { email: `${emailLocal(first, last)}@${company.domain}`, status: pick(SIM_EMAIL_STATUSES, at(1)) }
      : undefined;
  const personalEmail: SimEmail | undefined =
    fields.has("contact.personal_emails") && at(2) < FIND_RATES.personalEmail
      ? {
          email: `${emailLocal(first, last).replace(".", "")}@${pick(PERSONAL_PROVIDERS, at(3))}`,
          status: pick(SIM_EMAIL_STATUSES, at(4)),
        }
      : undefined;
  const phone: SimPhone | undefined =
    fields.has("contact.phones") && at(5) < FIND_RATES.phone ? phoneFor(at(6), u.slice(7, 16)) : undefined;

  const record: SimRecord = { input: echoInput(contact), custom: contact.custom ?? {} };
  if (workEmail !== undefined || personalEmail !== undefined || phone !== undefined) {
    // Key order as the provider sends it: the most probable values first, then the lists.
    record.contact_info = {
      ...(workEmail === undefined ? {} : { most_probable_work_email: workEmail }),
      ...(personalEmail === undefined ? {} : { most_probable_personal_email: personalEmail }),
      ...(phone === undefined ? {} : { most_probable_phone: phone }),
      work_emails: workEmail === undefined ? [] : [{ ...workEmail }],
      personal_emails: personalEmail === undefined ? [] : [{ ...personalEmail }],
      phones: phone === undefined ? [] : [{ ...phone }],
    };
  }
  if (hasLinkedin) {
    record.profile = buildProfile({
      seed,
      identity,
      first,
      last,
      url: contact.linkedin_url ?? "",
      handle,
      company,
      units: [at(23), at(24)],
    });
  }
  return record;
}

function buildProfile(parts: {
  seed: number;
  identity: string;
  first: string;
  last: string;
  url: string;
  handle: string;
  company: { name: string; domain: string };
  units: readonly number[];
}): SimProfile {
  const title = pick(TITLES, parts.units[0] ?? 0);
  const fullName = [parts.first, parts.last].filter((part) => part !== "").join(" ");
  return {
    id: uuidFrom(randomFor(parts.seed, "profile", parts.identity)),
    full_name: fullName,
    first_name: parts.first,
    last_name: parts.last,
    headline: `${title} at ${parts.company.name}`,
    location: { ...pick(LOCATIONS, parts.units[1] ?? 0) },
    social_profiles: { professional_network: { url: parts.url, handle: parts.handle } },
    employment: {
      current: {
        title,
        is_current: true,
        start_at: NON_ISO_DATE,
        company: { name: parts.company.name, domain: parts.company.domain },
      },
    },
  };
}

/** The record the simulator returns for a reverse email lookup (a profile is found ~60% of the time). */
export function synthesizeReverseRecord(contact: SimReverseContact, seed: number): SimRecord {
  const email = contact.email.trim();
  const identity = `em:${email.toLowerCase()}`;
  const u = draws(seed, "reverse", identity);
  const at = (index: number): number => u[index] ?? 0;
  const record: SimRecord = { input: { email: contact.email }, custom: contact.custom ?? {} };
  if (at(0) >= FIND_RATES.reverseProfile) return record;

  const [local = "", rawDomain = ""] = email.split("@");
  const { first, last } = namesFrom(local, [at(1), at(2)]);
  const domain = rawDomain.toLowerCase();
  const company = FREE_MAIL.has(domain)
    ? pick(COMPANIES, at(3))
    : { name: companyFromDomain(domain), domain };
  const handle = [foldForEmail(first), foldForEmail(last)].filter((part) => part !== "").join("-");
  record.profile = buildProfile({
    seed,
    identity,
    first,
    last,
    url: `https://www.linkedin.com/in/${handle}`,
    handle,
    company,
    units: [at(4), at(5)],
  });
  return record;
}

/**
 * Credits a record costs: 1 per work email, 3 per personal email and 10 per phone found; a
 * reverse lookup costs 1 when a profile was found. Nothing found costs nothing.
 */
export function recordCost(record: SimRecord, kind: "enrich" | "reverse"): number {
  if (kind === "reverse") return record.profile === undefined ? 0 : CREDIT_COSTS.reverseProfile;
  const info = record.contact_info;
  if (info === undefined) return 0;
  return (
    info.work_emails.length * CREDIT_COSTS.workEmail +
    info.personal_emails.length * CREDIT_COSTS.personalEmail +
    info.phones.length * CREDIT_COSTS.phone
  );
}
