import type { Scheduler } from "../internal/time.js";
import type { LiveShapesOptions } from "./live-shapes.js";
import type { SentRecord } from "./shapes.js";
import type { DeliverFn, DeliveryCounters, DeliveryLogEntry } from "./webhook-sender.js";

/**
 * The simulator's public shapes: its options and faults, its counters, the snapshots of what it
 * ran, and the {@link Simulator} interface itself.
 */

/** Every route of the simulated API lives under this prefix, as on the provider. */
export const SIMULATOR_API_PREFIX = "/api/v2";

/** The API key accepted when no `apiKeys` option is given. */
export const DEFAULT_SIMULATOR_API_KEY = "sim-key";

/**
 * Misbehaviours the simulator can be told to show. Every rate is a probability in [0, 1]; the
 * decisions are drawn from the seed, so a run can be replayed.
 */
export interface SimulatorFaults {
  /** Probability that a webhook answered 2xx is sent once more, same bytes, right after. */
  duplicateDeliveryRate?: number;
  /** Probability that a webhook is silently never sent. */
  lostDeliveryRate?: number;
  /**
   * Webhooks never arrive: every delivery (batch and per-contact) due while this holds is silently
   * never sent, as when a tunnel or a firewall swallows them: no refused connection, no retry, the
   * receiver sees nothing. `true`: for the whole run; a window: deliveries due in
   * [`fromMs`, `untilMs`) of scheduler time (either end open when left out).
   */
  webhooksNeverArrive?: boolean | { fromMs?: number; untilMs?: number };
  /**
   * Return true to drop the batch webhook of an enrichment. `ordinal` is the 0-based creation
   * order among all enrichments and reverse lookups of this simulator.
   */
  loseBatchWebhook?: (info: { enrichmentId: string; ordinal: number }) => boolean;
  /** Hold per-contact events and send them only after the batch event's first attempt. */
  contactEventsAfterBatch?: boolean;
  /** Probability that a GET of results answers `500 {code:"error.internal"}`. */
  getErrorRate?: number;
  /** Probability that any authenticated call answers 429, whatever the window holds. */
  random429Rate?: number;
  /** Delay added before every answer, in scheduler milliseconds. */
  latencyMs?: number;
  /**
   * A running enrichment's GET answers `200 {id, name, status: "IN_PROGRESS", cost}` without
   * `data`, instead of the documented `400 error.enrichment.in_progress`.
   */
  inProgressAs200?: boolean;
  /**
   * Return true to answer the POST of a job with a 5xx after the job started (it runs on, and its
   * webhooks are sent): the ambiguous answer a client must not retry blindly.
   */
  serverErrorAfterStart?: (info: { ordinal: number }) => boolean;
  /**
   * Return true to drop the connection of a job's POST after the job started, without an answer
   * (over HTTP the socket is destroyed; in process, `handle` rejects with
   * {@link AnswerDroppedError}): it runs on, and its webhooks are sent.
   */
  dropAnswerAfterStart?: (info: { ordinal: number }) => boolean;
}

/**
 * A provider slower than documented: each contact takes 60–240 s (instead of 30–90 s), at time
 * scale 1; pass `timeScale` to scale it like the defaults. Use as `contactDurationMs`.
 */
export function slowProviderContactMs(timeScale = 1): { min: number; max: number } {
  return { min: 60_000 * timeScale, max: 240_000 * timeScale };
}

/** What `Simulator.handle` rejects with when a fault drops the connection instead of answering. */
export class AnswerDroppedError extends Error {
  override name = "AnswerDroppedError";
  constructor() {
    super("the simulator dropped the connection without answering (a fault)");
  }
}

/**
 * How the simulator answers: `"tidy"` (the default) in the one shape the documentation shows;
 * `"liveShapes"` the way integrators report the live API does (see {@link LiveShapesOptions}).
 */
export type SimulatorProfile = "tidy" | "liveShapes";

/** Options of {@link createSimulator}. Durations given explicitly are used as they are. */
export interface SimulatorOptions {
  /** Default "tidy". */
  profile?: SimulatorProfile;
  /** Settings of the `liveShapes` profile. */
  liveShapes?: LiveShapesOptions;
  /** Keys accepted as `Authorization: Bearer <key>`. Default `["sim-key"]`. */
  apiKeys?: string[];
  /** Multiplies every default duration (1 = the provider's timings). Default 1. */
  timeScale?: number;
  /** Seed of every random decision. Default 1. */
  seed?: number;
  /** Calls accepted per window, account-wide. Default 60. */
  rateLimit?: number;
  /** Length of the rate-limit window. Default 60 000 × timeScale. */
  rateWindowMs?: number;
  /** How long one contact takes, drawn uniformly. Default 30 000–90 000 × timeScale. */
  contactDurationMs?: { min: number; max: number };
  /** Starting balance. Default 1 000 000. */
  credits?: number;
  /**
   * At most this many enrichments (and, separately, this many reverse lookups) run at once, as on
   * the provider (100 per workspace); further ones wait, in order, with status `CREATED`, and start
   * when one ends. Default: 100 under `liveShapes`, no limit under `tidy`.
   */
  runningLimit?: number;
  /** Retries of a failed webhook after its first attempt. Default 5 (4 under `liveShapes`: 5 attempts in all). */
  webhookRetries?: number;
  /** Wait before retrying a webhook. Default 60 000 × timeScale. */
  webhookRetryIntervalMs?: number;
  /** A webhook attempt with no answer after this long fails. Default 10 000 × timeScale, at least 2 000. */
  webhookTimeoutMs?: number;
  /** How webhooks are POSTed. Default: the global `fetch`. */
  deliver?: DeliverFn;
  /** The clock and timers. Default: RxJS `asyncScheduler`. */
  scheduler?: Scheduler;
  faults?: SimulatorFaults;
}

/** Counters of everything the simulator saw and did. */
export interface SimulatorCounters extends DeliveryCounters {
  /** Every request handled. */
  calls: number;
  /** Requests per route, e.g. `"POST /contact/enrich/bulk"` or `"GET /contact/enrich/bulk/{id}"`. */
  callsByRoute: Record<string, number>;
  /** Most calls that reached an authenticated route within any one rate window (429s included). */
  busiestWindow: number;
  /** 429 answers, random ones included. */
  rateLimited: number;
  /** 5xx answers. */
  serverErrors: number;
  /** 401 answers. */
  unauthorized: number;
  /** Enrichments and reverse lookups started. */
  enrichmentsCreated: number;
}

/** Which endpoint family a job belongs to. */
export type SimulatedKind = "enrich" | "reverse";

/**
 * The statuses a simulated job goes through: `CREATED` while it waits for a running slot,
 * `IN_PROGRESS`, then `FINISHED`, `CREDITS_INSUFFICIENT` or `CANCELED`.
 */
export type SimulatedStatus =
  | "CREATED"
  | "IN_PROGRESS"
  | "FINISHED"
  | "CREDITS_INSUFFICIENT"
  | "CANCELED"
  /** Under `liveShapes`, for a while: `RATE_LIMIT`, `UNKNOWN` or an undocumented value. */
  | (string & {});

/** One contact of a simulated job. */
export interface SimulatedContact {
  /** Position in the submitted `data`. */
  index: number;
  /** When it is due to finish, in scheduler time (infinite while its job waits for a running slot). */
  dueAt: number;
  /** When it finished (scheduler time); absent while running or when never paid for. */
  finishedAt?: number;
  /** Its record, exactly as sent (tidy, or live-shaped under `liveShapes`): the simulator's truth. */
  record?: SentRecord;
}

/** A snapshot of one enrichment or reverse lookup. */
export interface SimulatedEnrichment {
  id: string;
  kind: SimulatedKind;
  name: string;
  /** Index in `apiKeys` of the key that started it. */
  apiKeyIndex: number;
  /** The request body, as parsed. */
  request: unknown;
  createdAt: number;
  /** When it started running: later than `createdAt` when it waited for a running slot. */
  startedAt?: number;
  status: SimulatedStatus;
  finishedAt?: number;
  /** Credits charged so far. */
  credits: number;
  contacts: SimulatedContact[];
}

/** A FullEnrich-compatible API running in-process. */
export interface Simulator {
  /** Answers one API request (the whole API, under {@link SIMULATOR_API_PREFIX}). */
  handle(request: Request): Promise<Response>;
  /** A copy of the counters. */
  counters(): SimulatorCounters;
  /** Snapshots of every job, in creation order. */
  enrichments(): SimulatedEnrichment[];
  /** Every webhook attempt with a known outcome. */
  deliveries(): DeliveryLogEntry[];
  /** The account's current credit balance. */
  balance(): number;
  /** Sets the credit balance (e.g. to provoke CREDITS_INSUFFICIENT). */
  setBalance(credits: number): void;
  /**
   * Cancels a job that has not ended, as from the provider's dashboard: it ends `CANCELED` with the
   * records found so far, and its batch webhook is sent. False when it is unknown or already over.
   */
  cancel(enrichmentId: string): boolean;
  /** The accepted API keys. */
  readonly apiKeys: readonly string[];
  /** What `GET /account/keys/verify` answers. */
  readonly workspaceId: string;
  /** Cancels every timer and pending delivery; nothing fires afterwards. */
  close(): void;
}
