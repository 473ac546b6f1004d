import type { SimulatedKind, SimulatorFaults } from "./options.js";
import { errorBody, json } from "./routes.js";
import type { SimRecord } from "./synthetic.js";

/**
 * How the simulator shapes what it sends — records, result and webhook bodies, "not yet" and
 * server-error answers — and what happens to each job on the way (see {@link JobPlan}). The tidy
 * shapes are below; the live API's, in `live-shapes.ts`.
 */

/** A record as the simulator sent it: tidy, or shaped like the live API's (nulls, unknown keys). */
export type SentRecord = SimRecord | LiveRecord;

/** A record shaped like the live API's: not-found fields `null`, unknown keys, a normalised echo. */
export interface LiveRecord {
  input: Record<string, string>;
  custom: Record<string, string> | null;
  contact_info: Record<string, unknown> | null;
  profile: Record<string, unknown> | null;
  [unknownKey: string]: unknown;
}

/** What happens to one job on the way, decided when it is created. */
export interface JobPlan {
  /**
   * A status neither running nor final (`RATE_LIMIT`, `UNKNOWN`, an undocumented value) the job
   * reports once `afterContacts` of its contacts finished, for `forMs` (infinite: for good), its
   * other contacts waiting meanwhile; a webhook with that status is sent when it starts.
   */
  stall: { status: string; afterContacts: number; forMs: number } | null;
  /** The job is canceled once this many of its contacts finished (null: never). */
  cancelAfterContacts: number | null;
  /** Its bodies say `datas` (as v1 did) instead of `data`. */
  datas: boolean;
}

/** A job as the shapes see it. */
export interface JobView {
  id: string;
  kind: SimulatedKind;
  ordinal: number;
  name: string;
  status: string;
  credits: number;
  createdAt: number;
  /** Whether it started running (not waiting for a slot) and whether a contact finished. */
  started: boolean;
  anyFinished: boolean;
  /** Whether it is over. */
  ended: boolean;
  records: SentRecord[];
  plan: JobPlan;
}

/** One way of shaping what the simulator sends. */
export interface Shapes {
  /** The plan of a new job. */
  plan(info: { id: string; ordinal: number; kind: SimulatedKind; contacts: number }): JobPlan;
  /** A finished contact's record as sent (and as the simulator's truth records it). */
  record(record: SimRecord, info: { kind: SimulatedKind; ordinal: number; index: number }): SentRecord;
  /** The body of a result: a GET (final, or forceResults), a 402, a batch or status webhook. */
  resultBody(job: JobView): Record<string, unknown>;
  /** The body of a per-contact event. */
  contactEventBody(job: JobView, record: SentRecord): Record<string, unknown>;
  /** The answer to the `nth` GET (1-based) of a job that is not over. */
  notYet(job: JobView, nth: number): Response;
  /** A 5xx answer. */
  serverError(): Response;
  /** The answer to a POST when the balance is zero, or null to accept it. */
  refuseAtZeroBalance(): Response | null;
  /** Whether a contact without `enrich_fields` is refused with 400. */
  requireEnrichFields: boolean;
  /** Retries of a failed webhook after its first attempt. */
  webhookRetries: number;
}

/** The simulator's tidy shapes: one shape for everything, as the documentation shows it. */
export function tidyShapes(faults: Pick<SimulatorFaults, "inProgressAs200">): Shapes {
  const envelope = (job: JobView) => ({
    id: job.id,
    name: job.name,
    status: job.status,
    cost: { credits: job.credits },
  });
  return {
    plan: () => ({ stall: null, cancelAfterContacts: null, datas: false }),
    record: (record) => record,
    resultBody: (job) => ({ ...envelope(job), data: job.records }),
    contactEventBody: (job, record) => ({ ...envelope(job), status: "IN_PROGRESS", data: [record] }),
    notYet: (job) =>
      faults.inProgressAs200 === true
        ? json(200, envelope(job))
        : errorBody(400, "error.enrichment.in_progress", "Enrichment not ready, try again in 30 seconds"),
    serverError: () => errorBody(500, "error.internal", "Internal server error"),
    refuseAtZeroBalance: () => null,
    requireEnrichFields: false,
    webhookRetries: 5,
  };
}
