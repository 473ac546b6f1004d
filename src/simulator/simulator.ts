import type { Subscription } from "rxjs";
import { type Random, seededRandom } from "../internal/random.js";
import { assertTimeScale, defaultScheduler, scaled } from "../internal/time.js";
import { hashString, randomFor, unitFor, uuidFrom } from "./determinism.js";
import {
  DEFAULT_SIMULATOR_API_KEY,
  type SimulatedContact,
  type SimulatedEnrichment,
  type SimulatedKind,
  type SimulatedStatus,
  type Simulator,
  type SimulatorCounters,
  type SimulatorOptions,
} from "./options.js";
import { RateWindow } from "./rate-window.js";
import { authenticate, errorBody, json, matchRoute, NOT_FOUND_CODES } from "./routes.js";
import { recordCost, type SimRecord, synthesizeEnrichRecord, synthesizeReverseRecord } from "./synthetic.js";
import { type ValidBatch, validateEnrichRequest, validateReverseRequest } from "./validation.js";
import { type DeliveryCounters, type WebhookJob, WebhookSender } from "./webhook-sender.js";

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

  const answer = async (request: Request): Promise<Response> => {
    const now = scheduler.now();
    if (closed) return errorBody(503, "error.simulator.closed", "The simulator is closed");
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const route = matchRoute(method, url);
    countRoute(route.routeKey);
    if (route.refused !== undefined) return route.refused;
    const { name, id } = route;

    const auth = authenticate(request, apiKeys);
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
