import type { Random } from "../internal/random.js";
import { randomFor, unitFor } from "./determinism.js";
import type { SimulatedKind } from "./options.js";
import { errorBody, json } from "./routes.js";
import type { JobPlan, JobView, LiveRecord, Shapes } from "./shapes.js";
import {
  linkedinHandle,
  normaliseDomain,
  type SimContactInfo,
  type SimEmail,
  type SimRecord,
} from "./synthetic.js";

/**
 * The `liveShapes` profile: the simulator answers the way integrators report the live API does,
 * where the documentation is silent or shows one tidy shape. Every choice is drawn from the seed.
 * - Records: not-found fields `null` (`most_probable_personal_email: null`, a phone's `region`, an
 *   email's `status`), `contact_info: {}` when nothing was found, unknown keys at every level,
 *   several emails per list with INVALID / INVALID_DOMAIN / CATCH_ALL entries, and the input echoed
 *   renamed and normalised (`company_domain` lower-cased without scheme or `www.`,
 *   `professional_network_url` rebuilt from the handle, no `full_name`).
 * - Bodies: some jobs say `datas` (v1); `data: null` when there are no records.
 * - While a job runs, a GET answers 200 `CREATED`/`IN_PROGRESS` with `data: null` or a 400 whose
 *   code ends in `.in_progress` (a reverse lookup's is `error.reverse.email.in_progress`).
 * - Some jobs pass through `RATE_LIMIT`, `UNKNOWN` or an undocumented status for a while (a webhook
 *   says so), some are canceled halfway (their batch webhook says CANCELED).
 * - A POST at zero balance answers 402; 5xx answers are HTML pages, not JSON; a contact without
 *   `enrich_fields` is refused; a failed webhook is attempted 5 times in all (one reading of "retried
 *   every minute, up to 5 times"); and at most 100 jobs of a kind run at once.
 */

/** Settings of the `liveShapes` profile. Rates are probabilities in [0, 1], drawn per job from the seed. */
export interface LiveShapesOptions {
  /** Share of jobs that pass through a status neither running nor final. Default 0.3. */
  stallRate?: number;
  /** How long such a status lasts. Default 20 000 × timeScale. */
  stallMs?: number;
  /** Share of jobs (of 2 contacts or more) canceled once half their contacts finished. Default 0.1. */
  cancelRate?: number;
  /** Share of jobs whose bodies say `datas` instead of `data`. Default 0.3. */
  datasRate?: number;
  /** Overrides the drawn plan of chosen jobs (e.g. a status that never ends). */
  plan?: (info: {
    id: string;
    ordinal: number;
    kind: SimulatedKind;
    contacts: number;
  }) => Partial<JobPlan> | undefined;
}

/** The statuses a stalled job reports: two the provider lists without explaining, one it does not list. */
export const LIVE_STALL_STATUSES = ["RATE_LIMIT", "UNKNOWN", "PAUSED"] as const;

const NON_ISO_DATE = "2024-1-0T00:00:00Z";
const SOURCES = ["vendor-a", "vendor-b", "vendor-c"];

function pick<T>(list: readonly T[], random: Random): T {
  return list[random.int(list.length)] as T;
}

function rate(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!(chosen >= 0 && chosen <= 1))
    throw new RangeError(`liveShapes.${name} must be in [0, 1], got ${String(value)}`);
  return chosen;
}

/** The echo of a contact's input, renamed and normalised, without `full_name`. */
function liveEcho(input: Record<string, string>): Record<string, string> {
  const echo: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === "full_name") continue;
    if (key === "company_domain") echo[key] = normaliseDomain(value);
    else if (key === "professional_network_url")
      echo[key] = `https://www.linkedin.com/in/${linkedinHandle(value)}`;
    else if (key === "email") echo[key] = value.trim().toLowerCase();
    else echo[key] = value.replace(/\s+/g, " ").trim();
  }
  return echo;
}

/** One uniform draw per decision about one record, each from its own key (see `determinism.ts`). */
type Draw = (decision: string) => number;

/** Emails the providers found but rate lower: INVALID, INVALID_DOMAIN, CATCH_ALL. */
function lesserEmails(found: SimEmail | undefined, draw: Draw, list: string): Record<string, unknown>[] {
  if (found === undefined) return [];
  const [local = "contact", domain = "example.com"] = found.email.split("@");
  const candidates = [
    { email: `${local.replace(/\./g, "")}@${domain}`, status: "INVALID" },
    { email: `${local}@mail.${domain}`, status: "INVALID_DOMAIN" },
    { email: `contact@${domain}`, status: "CATCH_ALL" },
  ];
  return candidates
    .filter((entry) => draw(`${list} ${entry.status}`) < 0.5)
    .map((entry) => ({
      ...entry,
      status: draw(`${list} ${entry.status} null`) < 0.2 ? null : entry.status,
      source: SOURCES[Math.floor(draw(`${list} ${entry.status} source`) * SOURCES.length)],
    }));
}

function liveContactInfo(info: SimContactInfo | undefined, draw: Draw): Record<string, unknown> {
  if (info === undefined) {
    // Nothing found; now and then an address that was found but is invalid.
    if (draw("nothing found") >= 0.2) return {};
    return {
      most_probable_work_email: null,
      most_probable_personal_email: null,
      most_probable_phone: null,
      work_emails: [{ email: "info@unreachable.example", status: "INVALID_DOMAIN" }],
      personal_emails: null,
      phones: [],
    };
  }
  const regionless = draw("region") < 0.3;
  const phone = (entry: { number: string; region: string }) => ({
    ...entry,
    region: regionless ? null : entry.region,
  });
  const list = <T>(name: string, entries: T[]): T[] | null =>
    entries.length === 0 && draw(`${name} null`) < 0.5 ? null : entries;
  return {
    most_probable_work_email: info.most_probable_work_email ?? null,
    most_probable_personal_email: info.most_probable_personal_email ?? null,
    most_probable_phone: info.most_probable_phone === undefined ? null : phone(info.most_probable_phone),
    work_emails: list("work", [
      ...info.work_emails,
      ...lesserEmails(info.most_probable_work_email, draw, "work"),
    ]),
    personal_emails: list("personal", [
      ...info.personal_emails,
      ...lesserEmails(info.most_probable_personal_email, draw, "personal"),
    ]),
    phones: list("phones", info.phones.map(phone)),
    sources_checked: 3 + Math.floor(draw("sources") * 18),
  };
}

/** The `liveShapes` profile's shapes and plans (see the module's comment). */
export function liveShapes(seed: number, timeScale: number, options: LiveShapesOptions = {}): Shapes {
  const rates = {
    stall: rate("stallRate", options.stallRate, 0.3),
    cancel: rate("cancelRate", options.cancelRate, 0.1),
    datas: rate("datasRate", options.datasRate, 0.3),
  };
  const stallMs = options.stallMs ?? 20_000 * timeScale;
  const listKey = (job: JobView) => (job.plan.datas ? "datas" : "data");
  const envelope = (job: JobView, status: string) => ({
    id: job.id,
    name: job.name,
    status,
    cost: { credits: job.credits },
    created_at: new Date(job.createdAt).toISOString(),
  });
  return {
    plan(info) {
      const drawn: JobPlan = {
        stall:
          unitFor(seed, "live-stall", info.ordinal) < rates.stall
            ? {
                status: pick(LIVE_STALL_STATUSES, randomFor(seed, "live-stall-status", info.ordinal)),
                afterContacts: Math.floor(info.contacts / 2),
                forMs: stallMs,
              }
            : null,
        cancelAfterContacts:
          info.contacts >= 2 && unitFor(seed, "live-cancel", info.ordinal) < rates.cancel
            ? Math.ceil(info.contacts / 2)
            : null,
        datas: unitFor(seed, "live-datas", info.ordinal) < rates.datas,
      };
      return { ...drawn, ...options.plan?.(info) };
    },
    record(record: SimRecord, info): LiveRecord {
      const draw: Draw = (decision) => unitFor(seed, "live-record", decision, info.ordinal, info.index);
      const custom = Object.keys(record.custom).length > 0 ? { ...record.custom } : null;
      return {
        input: liveEcho(record.input),
        custom,
        contact_info: info.kind === "reverse" ? null : liveContactInfo(record.contact_info, draw),
        profile: record.profile === undefined ? null : { ...record.profile, updated_at: NON_ISO_DATE },
        enriched_at: NON_ISO_DATE,
      };
    },
    resultBody: (job) => ({
      ...envelope(job, job.status),
      [listKey(job)]: job.records.length > 0 ? job.records : null,
      ...(job.ended ? { finished_at: NON_ISO_DATE } : {}),
    }),
    contactEventBody: (job, record) => ({ ...envelope(job, "IN_PROGRESS"), [listKey(job)]: [record] }),
    notYet(job, nth) {
      const stalled = job.status !== "IN_PROGRESS" && job.status !== "CREATED";
      if (stalled || unitFor(seed, "live-get", job.id, nth) < 0.5) {
        const status = stalled ? job.status : job.started && job.anyFinished ? "IN_PROGRESS" : "CREATED";
        return json(200, { ...envelope(job, status), cost: null, data: null });
      }
      return job.kind === "reverse"
        ? errorBody(400, "error.reverse.email.in_progress", "Reverse email lookup not ready, try again later")
        : errorBody(400, "error.enrichment.in_progress", "Enrichment not ready, try again in 30 seconds");
    },
    serverError: () =>
      new Response(
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        {
          status: 502,
          headers: { "content-type": "text/html" },
        },
      ),
    refuseAtZeroBalance: () => errorBody(402, "error.credits.insufficient", "Not enough credits"),
    requireEnrichFields: true,
    webhookRetries: 4,
  };
}
