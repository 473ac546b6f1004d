import type { Subscription } from "rxjs";
import { type Random, seededRandom } from "../internal/random.js";
import { assertTimeScale, defaultScheduler, type Scheduler, scaled } from "../internal/time.js";
import { hashString, randomFor, unitFor, uuidFrom } from "./determinism.js";
import { RateWindow } from "./rate-window.js";
import { recordCost, type SimRecord, synthesizeEnrichRecord, synthesizeReverseRecord } from "./synthetic.js";
import { type ValidBatch, validateEnrichRequest, validateReverseRequest } from "./validation.js";
import {
  type DeliverFn,
  type DeliveryCounters,
  type DeliveryLogEntry,
  type WebhookJob,
  WebhookSender,
} from "./webhook-sender.js";

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
}

/** Options of {@link createSimulator}. Durations given explicitly are used as they are. */
export interface SimulatorOptions {
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
  /** Retries of a failed webhook. Default 5. */
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

/** The statuses a simulated job goes through. */
export type SimulatedStatus = "IN_PROGRESS" | "FINISHED" | "CREDITS_INSUFFICIENT";

/** One contact of a simulated job. */
export interface SimulatedContact {
  /** Position in the submitted `data`. */
  index: number;
  /** When it is due to finish, in scheduler time. */
  dueAt: number;
  /** When it finished (scheduler time); absent while running or when never paid for. */
  finishedAt?: number;
  record?: SimRecord;
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
  /** The accepted API keys. */
  readonly apiKeys: readonly string[];
  /** What `GET /account/keys/verify` answers. */
  readonly workspaceId: string;
  /** Cancels every timer and pending delivery; nothing fires afterwards. */
  close(): void;
}

type RouteName = "credits" | "verify" | "startEnrich" | "getEnrich" | "startReverse" | "getReverse";

interface RouteDef {
  pattern: RegExp;
  template: string;
  methods: Partial<Record<string, RouteName>>;
}

const ROUTES: readonly RouteDef[] = [
  { pattern: /^\/account\/credits$/, template: "/account/credits", methods: { GET: "credits" } },
  { pattern: /^\/account\/keys\/verify$/, template: "/account/keys/verify", methods: { GET: "verify" } },
  {
    pattern: /^\/contact\/enrich\/bulk$/,
    template: "/contact/enrich/bulk",
    methods: { POST: "startEnrich" },
  },
  {
    pattern: /^\/contact\/enrich\/bulk\/([^/]+)$/,
    template: "/contact/enrich/bulk/{id}",
    methods: { GET: "getEnrich" },
  },
  {
    pattern: /^\/contact\/reverse\/email\/bulk$/,
    template: "/contact/reverse/email/bulk",
    methods: { POST: "startReverse" },
  },
  {
    pattern: /^\/contact\/reverse\/email\/bulk\/([^/]+)$/,
    template: "/contact/reverse/email/bulk/{id}",
    methods: { GET: "getReverse" },
  },
];

interface ContactState {
  index: number;
  dueAt: number;
  finishedAt?: number;
  record?: SimRecord;
  synthesize: () => SimRecord;
}

interface JobState {
  id: string;
  kind: SimulatedKind;
  ordinal: number;
  name: string;
  apiKey: string;
  apiKeyIndex: number;
  request: unknown;
  createdAt: number;
  status: SimulatedStatus;
  finishedAt?: number;
  credits: number;
  webhookUrl?: string;
  contactFinishedUrl?: string;
  contacts: ContactState[];
  remaining: number;
  /** Contacts by due time (then index), and the position of the next one to finish. */
  queue: ContactState[];
  cursor: number;
  /** The one pending timer of the job: for its next due contact. */
  timer?: Subscription;
  heldContactEvents: Array<{ job: WebhookJob; key: string }>;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

const errorBody = (status: number, code: string, message: string): Response =>
  json(status, { code, message });

const NOT_FOUND_CODES: Record<SimulatedKind, { code: string; message: string }> = {
  enrich: { code: "error.enrichment.not_found", message: "Enrichment ID not found" },
  reverse: { code: "error.reverse.email.not_found", message: "Reverse email ID not found" },
};

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function checkRate(name: string, value: number | undefined): number {
  const rate = value ?? 0;
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new RangeError(`faults.${name} must be a probability in [0, 1], got ${String(value)}`);
  }
  return rate;
}

function checkDuration(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/** Creates an in-process FullEnrich API. Serve it over HTTP with `startSimulator`. */
export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const timeScale = assertTimeScale(options.timeScale ?? 1);
  const seed = options.seed ?? 1;
  const apiKeys = [...(options.apiKeys ?? [DEFAULT_SIMULATOR_API_KEY])];
  if (apiKeys.length === 0) throw new RangeError("apiKeys must hold at least one key");
  const scheduler = options.scheduler ?? defaultScheduler;
  const rateLimit = options.rateLimit ?? 60;
  const rateWindowMs = checkDuration("rateWindowMs", options.rateWindowMs ?? scaled(60_000, timeScale));
  const duration = options.contactDurationMs ?? {
    min: scaled(30_000, timeScale),
    max: scaled(90_000, timeScale),
  };
  checkDuration("contactDurationMs.min", duration.min);
  checkDuration("contactDurationMs.max", duration.max);
  if (duration.max < duration.min)
    throw new RangeError("contactDurationMs.max must be >= contactDurationMs.min");
  const faults = options.faults ?? {};
  const rates = {
    duplicate: checkRate("duplicateDeliveryRate", faults.duplicateDeliveryRate),
    lost: checkRate("lostDeliveryRate", faults.lostDeliveryRate),
    getError: checkRate("getErrorRate", faults.getErrorRate),
    random429: checkRate("random429Rate", faults.random429Rate),
  };
  const latencyMs = checkDuration("faults.latencyMs", faults.latencyMs ?? 0);

  const sender = new WebhookSender({
    scheduler,
    deliver: options.deliver,
    // A real receiver's latency does not shrink with the time scale: never wait less than 2 s.
    timeoutMs: checkDuration(
      "webhookTimeoutMs",
      options.webhookTimeoutMs ?? Math.max(scaled(10_000, timeScale), 2_000),
    ),
    retryIntervalMs: checkDuration(
      "webhookRetryIntervalMs",
      options.webhookRetryIntervalMs ?? scaled(60_000, timeScale),
    ),
    retries: options.webhookRetries ?? 5,
  });
  const window = new RateWindow(Math.max(rateWindowMs, Number.MIN_VALUE));
  const idRandom: Random = randomFor(seed, "ids");
  const callRandom: Random = seededRandom(hashString(`${seed}\u0000calls`));
  const workspaceId = uuidFrom(randomFor(seed, "workspace"));

  let balance = options.credits ?? 1_000_000;
  let closed = false;
  let nextOrdinal = 0;
  const jobs = new Map<string, JobState>();
  const pendingAnswers = new Set<{ timer: Subscription; release: () => void }>();
  const stats: Omit<SimulatorCounters, keyof DeliveryCounters | "busiestWindow"> = {
    calls: 0,
    callsByRoute: {},
    rateLimited: 0,
    serverErrors: 0,
    unauthorized: 0,
    enrichmentsCreated: 0,
  };

  const countRoute = (key: string): void => {
    stats.callsByRoute[key] = (stats.callsByRoute[key] ?? 0) + 1;
  };

  // --- results and webhooks -------------------------------------------------------------------

  const finishedRecords = (job: JobState): SimRecord[] =>
    job.contacts.flatMap((contact) => (contact.record === undefined ? [] : [contact.record]));

  /** The body of GET, of a 402 and of the batch webhook (and, while running, of forceResults). */
  const resultBody = (job: JobState) => ({
    id: job.id,
    name: job.name,
    status: job.status,
    cost: { credits: job.credits },
    data: finishedRecords(job),
  });

  const sendWithFaults = (
    job: WebhookJob,
    key: string,
    extra: { lose?: boolean; after?: () => void } = {},
  ) => {
    const lose = extra.lose === true || unitFor(seed, "lost", job.enrichmentId, key) < rates.lost;
    const duplicate = unitFor(seed, "duplicate", job.enrichmentId, key) < rates.duplicate;
    sender.send(job, { lose, duplicate, onFirstAttemptSettled: extra.after });
  };

  const endJob = (job: JobState, status: SimulatedStatus): void => {
    job.status = status;
    job.finishedAt = scheduler.now();
    job.timer?.unsubscribe();
    job.timer = undefined;
    const releaseHeld = (): void => {
      const held = job.heldContactEvents;
      job.heldContactEvents = [];
      for (const event of held) sendWithFaults(event.job, event.key);
    };
    if (job.webhookUrl === undefined) {
      releaseHeld();
      return;
    }
    const lose = faults.loseBatchWebhook?.({ enrichmentId: job.id, ordinal: job.ordinal }) === true;
    sendWithFaults(
      { url: job.webhookUrl, kind: "batch", enrichmentId: job.id, apiKey: job.apiKey, body: resultBody(job) },
      "batch",
      { lose, after: releaseHeld },
    );
  };

  const finishContact = (job: JobState, contact: ContactState): void => {
    if (closed || job.status !== "IN_PROGRESS") return;
    const record = contact.synthesize();
    const cost = recordCost(record, job.kind);
    if (cost > balance) {
      endJob(job, "CREDITS_INSUFFICIENT");
      return;
    }
    balance -= cost;
    job.credits += cost;
    contact.record = record;
    contact.finishedAt = scheduler.now();
    job.remaining--;
    if (job.contactFinishedUrl !== undefined) {
      const event: WebhookJob = {
        url: job.contactFinishedUrl,
        kind: "contact",
        enrichmentId: job.id,
        apiKey: job.apiKey,
        body: {
          id: job.id,
          name: job.name,
          status: "IN_PROGRESS",
          cost: { credits: job.credits },
          data: [record],
        },
      };
      const key = `contact:${contact.index}`;
      if (faults.contactEventsAfterBatch === true) job.heldContactEvents.push({ job: event, key });
      else sendWithFaults(event, key);
    }
    if (job.remaining === 0) endJob(job, "FINISHED");
  };

  /** One timer per job, always for its next due contact, rather than one per contact. */
  const scheduleNext = (job: JobState): void => {
    const next = job.queue[job.cursor];
    if (next === undefined || closed || job.status !== "IN_PROGRESS") return;
    job.timer = scheduler.schedule(
      () => {
        job.timer = undefined;
        const now = scheduler.now();
        while (job.status === "IN_PROGRESS") {
          const contact = job.queue[job.cursor];
          if (contact === undefined || contact.dueAt > now) break;
          job.cursor++;
          finishContact(job, contact);
        }
        scheduleNext(job);
      },
      Math.max(0, next.dueAt - scheduler.now()),
    );
  };

  // --- routes ---------------------------------------------------------------------------------

  const startJob = async (
    kind: SimulatedKind,
    request: Request,
    apiKeyIndex: number,
    now: number,
  ): Promise<Response> => {
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return errorBody(400, "error.body.invalid", "Body is not valid JSON");
    }
    let batch: ValidBatch<unknown>;
    let synthesizers: Array<() => SimRecord>;
    if (kind === "enrich") {
      const checked = validateEnrichRequest(body);
      if (!checked.ok) return errorBody(400, checked.error.code, checked.error.message);
      batch = checked.batch;
      synthesizers = checked.batch.contacts.map((contact) => () => synthesizeEnrichRecord(contact, seed));
    } else {
      const checked = validateReverseRequest(body);
      if (!checked.ok) return errorBody(400, checked.error.code, checked.error.message);
      batch = checked.batch;
      synthesizers = checked.batch.contacts.map((contact) => () => synthesizeReverseRecord(contact, seed));
    }
    if (closed) return errorBody(503, "error.simulator.closed", "The simulator is closed");

    const ordinal = nextOrdinal++;
    const id = uuidFrom(idRandom);
    const span = duration.max - duration.min;
    const contacts: ContactState[] = synthesizers.map((synthesize, index) => ({
      index,
      // Whole milliseconds: timers cannot fire in between anyway.
      dueAt: Math.round(now + duration.min + span * unitFor(seed, "duration", ordinal, index)),
      synthesize,
    }));
    const job: JobState = {
      id,
      kind,
      ordinal,
      name: batch.name,
      apiKey: apiKeys[apiKeyIndex] as string,
      apiKeyIndex,
      request: body,
      createdAt: now,
      status: "IN_PROGRESS",
      credits: 0,
      contacts,
      remaining: contacts.length,
      queue: [...contacts].sort((a, b) => a.dueAt - b.dueAt || a.index - b.index),
      cursor: 0,
      heldContactEvents: [],
    };
    if (batch.webhookUrl !== undefined) job.webhookUrl = batch.webhookUrl;
    if (batch.contactFinishedUrl !== undefined) job.contactFinishedUrl = batch.contactFinishedUrl;
    jobs.set(id, job);
    stats.enrichmentsCreated++;
    scheduleNext(job);
    return json(200, { enrichment_id: id });
  };

  const getJob = (kind: SimulatedKind, id: string, url: URL): Response => {
    const job = jobs.get(id);
    if (job === undefined || job.kind !== kind) {
      const notFound = NOT_FOUND_CODES[kind];
      return errorBody(404, notFound.code, notFound.message);
    }
    if (job.status === "IN_PROGRESS") {
      if (url.searchParams.get("forceResults")?.toLowerCase() === "true") return json(200, resultBody(job));
      if (faults.inProgressAs200 === true) {
        return json(200, {
          id: job.id,
          name: job.name,
          status: "IN_PROGRESS",
          cost: { credits: job.credits },
        });
      }
      return errorBody(400, "error.enrichment.in_progress", "Enrichment not ready, try again in 30 seconds");
    }
    return json(job.status === "CREDITS_INSUFFICIENT" ? 402 : 200, resultBody(job));
  };

  const authenticate = (request: Request): Response | number => {
    const header = request.headers.get("authorization");
    if (header === null || header.trim() === "") {
      return errorBody(401, "error.authorization.not_set", "Authorization headers not set");
    }
    const match = /^bearer\s+(.*)$/i.exec(header.trim());
    if (match === null) {
      return errorBody(
        401,
        "error.authorization.not_bearer",
        "Authorization headers do not have prefix 'bearer'",
      );
    }
    const index = apiKeys.indexOf((match[1] ?? "").trim());
    if (index < 0) return errorBody(401, "error.api.key", "Unknown api key");
    return index;
  };

  const answer = async (request: Request): Promise<Response> => {
    const now = scheduler.now();
    if (closed) return errorBody(503, "error.simulator.closed", "The simulator is closed");
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const fullPath = url.pathname.replace(/\/+$/, "");
    const path = fullPath.startsWith(`${SIMULATOR_API_PREFIX}/`)
      ? fullPath.slice(SIMULATOR_API_PREFIX.length)
      : "";
    const route = ROUTES.find((candidate) => candidate.pattern.test(path));
    if (route === undefined) {
      countRoute(`${method} (unknown)`);
      return errorBody(404, "error.route.not_found", `No route ${method} ${url.pathname}`);
    }
    countRoute(`${method} ${route.template}`);
    const name = route.methods[method];
    if (name === undefined) {
      return json(
        405,
        { code: "error.method.not_allowed", message: `Method ${method} not allowed on ${route.template}` },
        { allow: Object.keys(route.methods).join(", ") },
      );
    }

    const auth = authenticate(request);
    if (typeof auth !== "number") {
      stats.unauthorized++;
      return auth;
    }
    window.recordArrival(now);
    if (window.acceptedInWindow(now) >= rateLimit || callRandom.chance(rates.random429)) {
      stats.rateLimited++;
      return errorBody(429, "error.rate.limit", "Too many requests. Try again in 1m");
    }
    window.recordAccepted(now);

    const id = safeDecode(route.pattern.exec(path)?.[1] ?? "");
    if ((name === "getEnrich" || name === "getReverse") && callRandom.chance(rates.getError)) {
      stats.serverErrors++;
      return errorBody(500, "error.internal", "Internal server error");
    }
    switch (name) {
      case "credits":
        return json(200, { balance });
      case "verify":
        return json(200, { workspace_id: workspaceId });
      case "startEnrich":
        return startJob("enrich", request, auth, now);
      case "startReverse":
        return startJob("reverse", request, auth, now);
      case "getEnrich":
        return getJob("enrich", id, url);
      case "getReverse":
        return getJob("reverse", id, url);
    }
  };

  const delayed = (response: Response): Promise<Response> => {
    if (latencyMs <= 0 || closed) return Promise.resolve(response);
    return new Promise<Response>((resolve) => {
      const pending = {
        timer: scheduler.schedule(() => {
          pendingAnswers.delete(pending);
          resolve(response);
        }, latencyMs),
        release: () => resolve(response),
      };
      pendingAnswers.add(pending);
    });
  };

  return {
    apiKeys,
    workspaceId,
    async handle(request: Request): Promise<Response> {
      stats.calls++;
      let response: Response;
      try {
        response = await answer(request);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        response = errorBody(500, "error.internal", `Simulator failure: ${message}`);
        stats.serverErrors++;
      }
      return delayed(response);
    },
    counters(): SimulatorCounters {
      return {
        ...stats,
        callsByRoute: { ...stats.callsByRoute },
        busiestWindow: window.busiestWindow(),
        ...sender.counters(),
      };
    },
    enrichments(): SimulatedEnrichment[] {
      return [...jobs.values()].map((job) => {
        const snapshot: SimulatedEnrichment = {
          id: job.id,
          kind: job.kind,
          name: job.name,
          apiKeyIndex: job.apiKeyIndex,
          request: job.request,
          createdAt: job.createdAt,
          status: job.status,
          credits: job.credits,
          contacts: job.contacts.map((contact) => {
            const copy: SimulatedContact = { index: contact.index, dueAt: contact.dueAt };
            if (contact.finishedAt !== undefined) copy.finishedAt = contact.finishedAt;
            if (contact.record !== undefined) copy.record = contact.record;
            return copy;
          }),
        };
        if (job.finishedAt !== undefined) snapshot.finishedAt = job.finishedAt;
        return snapshot;
      });
    },
    deliveries: () => sender.log(),
    balance: () => balance,
    setBalance(credits: number): void {
      balance = credits;
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const job of jobs.values()) {
        job.timer?.unsubscribe();
        job.timer = undefined;
        job.heldContactEvents = [];
      }
      sender.close();
      for (const pending of pendingAnswers) {
        pending.timer.unsubscribe();
        pending.release();
      }
      pendingAnswers.clear();
    },
  };
}
