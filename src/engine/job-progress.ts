import type { EnrichmentStatus } from "../api/response-schemas.js";
import type { BatchesByPhase, BatchPhase } from "./batch-phase.js";

/** The figures of a job's progress, its batches and its failures. */

/**
 * Where a batch of a job stands: its POST left (`requested`), the provider took it (`accepted`),
 * it ended (`completed`, `failed`), the provider refused it (`rejected`), its POST got no answer
 * (`ambiguous`), or the job stopped waiting for it (`aborted`: the job's signal; `timed-out`: the
 * job's `maxWaitMs`).
 */
export type BatchProgressState =
  | "requested"
  | "accepted"
  | "completed"
  | "failed"
  | "rejected"
  | "ambiguous"
  | JobStopReason;

/** Why a job stopped before every row had its result: its signal aborted, or its `maxWaitMs` passed. */
export type JobStopReason = "aborted" | "timed-out";

/** Where one batch of a job stands. */
export interface BatchProgress {
  /** Its position in the run that sent it (0-based). */
  batchIndex: number;
  batchId: string;
  /** This job's contacts in it. */
  size: number;
  state: BatchProgressState;
  enrichmentId: string | null;
  /** This job's contacts resolved from it so far. */
  resolved: number;
  /** Why it failed, was rejected or is ambiguous. */
  message: string | null;
  credits: number | null;
  /** The provider reported the batch's final status. */
  finalStatus: EnrichmentStatus | null;
  /** When its POST left (null before it did). */
  requestedAt: number | null;
  /** When the provider accepted it (null before, or never). */
  acceptedAt: number | null;
  /** What it waits for now. */
  phase: BatchPhase;
  /** Sent by an earlier run (or another job): this run follows it. */
  followed: boolean;
  /** The job's input rows (0-based indexes) whose contacts it holds. */
  rows: number[];
}

/** A job's progress, as its events tell it. */
export interface JobProgress {
  jobId: string;
  /** Contacts (rows) in the job. */
  total: number;
  /** Rows with their result so far (each exactly once). */
  resolved: number;
  /** Of those, how many came with something found (contact data or a profile). */
  found: number;
  byStatus: Record<string, number>;
  bySource: { webhook: number; poll: number };
  /** Rows whose result was already in the log: no call, no wait. */
  reused: number;
  /** Contacts this run POSTed (each once, however many rows hold it). */
  sent: number;
  /** Rows that ended without a result (their batch failed, was refused, or is ambiguous). */
  failed: number;
  batches: { total: number; submitted: number; accepted: number; completed: number; failed: number };
  /** The batches holding the job's contacts, by what they wait for. */
  batchesByPhase: BatchesByPhase;
  /**
   * When the batches running at the provider are expected to have finished (the latest of their
   * expected finishes, by the provider's timings as the log saw them, or as documented until
   * enough batches were seen); null when none runs. In the past: overdue.
   */
  expectedFinishAt: number | null;
  /** Credits spent by the batches of this job (this run's, and the earlier runs' it follows). */
  credits: number;
  /** Every row has its result or its failure: nothing more will come. */
  settled: boolean;
  /**
   * The job stopped before every row had its result (its rows left are failures with this
   * state), or null: it ran to its end (or still runs).
   */
  stopped: JobStopReason | null;
}

/** A job's progress before anything happened. */
export function initialProgress(jobId: string, total: number): JobProgress {
  return {
    jobId,
    total,
    resolved: 0,
    found: 0,
    byStatus: {},
    bySource: { webhook: 0, poll: 0 },
    reused: 0,
    sent: 0,
    failed: 0,
    batches: { total: 0, submitted: 0, accepted: 0, completed: 0, failed: 0 },
    batchesByPhase: { queued: 0, running: 0, waitingForWebhook: 0, polling: 0, done: 0 },
    expectedFinishAt: null,
    credits: 0,
    settled: total === 0,
    stopped: null,
  };
}

/** Why contacts of a job ended without a result. */
export interface JobFailure {
  /** The batch they were in (null: none was sent). */
  batchId: string | null;
  state: BatchProgress["state"];
  message: string;
}

/** Contacts of a job that ended without a result, grouped by batch and reason. */
export interface FailedContacts extends JobFailure {
  batchIndex: number;
  enrichmentId: string | null;
  requestedAt: number | null;
  /** How many distinct contacts. */
  contacts: number;
  /** Their rows in the job's input (0-based). */
  rows: number[];
}
