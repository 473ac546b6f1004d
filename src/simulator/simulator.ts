import type { Subscription } from "rxjs";
import { type Random, seededRandom } from "../internal/random.js";
import { assertTimeScale, defaultScheduler, scaled } from "../internal/time.js";
import { hashString, randomFor, unitFor, uuidFrom } from "./determinism.js";
import { JobRunner } from "./jobs.js";
import { liveShapes } from "./live-shapes.js";
import {
  AnswerDroppedError,
  DEFAULT_SIMULATOR_API_KEY,
  type SimulatedKind,
  type Simulator,
  type SimulatorCounters,
  type SimulatorFaults,
  type SimulatorOptions,
} from "./options.js";
import { RateWindow } from "./rate-window.js";
import { authenticate, errorBody, json, matchRoute, NOT_FOUND_CODES } from "./routes.js";
import { tidyShapes } from "./shapes.js";
import { type SimRecord, synthesizeEnrichRecord, synthesizeReverseRecord } from "./synthetic.js";
import { type ValidBatch, validateEnrichRequest, validateReverseRequest } from "./validation.js";
import {
  type DeliveryCounters,
  type SendControls,
  type WebhookJob,
  WebhookSender,
} from "./webhook-sender.js";

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

/** Whether a delivery due at `now` is swallowed by the `webhooksNeverArrive` fault. */
function neverArrives(fault: SimulatorFaults["webhooksNeverArrive"], now: number): boolean {
  if (fault === undefined || fault === false) return false;
  if (fault === true) return true;
  return (
    now >= (fault.fromMs ?? Number.NEGATIVE_INFINITY) && now < (fault.untilMs ?? Number.POSITIVE_INFINITY)
  );
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
  const live = options.profile === "liveShapes";
  const faults = options.faults ?? {};
  const shapes = live ? liveShapes(seed, timeScale, options.liveShapes) : tidyShapes(faults);
  const runningLimit = options.runningLimit ?? (live ? 100 : Number.POSITIVE_INFINITY);
  if (!(runningLimit >= 1))
    throw new RangeError(`runningLimit must be at least 1, got ${String(runningLimit)}`);
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
    retries: options.webhookRetries ?? shapes.webhookRetries,
  });
  const window = new RateWindow(Math.max(rateWindowMs, Number.MIN_VALUE));
  const idRandom: Random = randomFor(seed, "ids");
  const callRandom: Random = seededRandom(hashString(`${seed}\u0000calls`));
  const workspaceId = uuidFrom(randomFor(seed, "workspace"));

  let balance = options.credits ?? 1_000_000;
  let closed = false;
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

  const sendWithFaults = (
    job: WebhookJob,
    key: string,
    controls: Pick<SendControls, "lose" | "onFirstAttemptSettled"> = {},
  ): void => {
    const lose =
      controls.lose === true ||
      neverArrives(faults.webhooksNeverArrive, scheduler.now()) ||
      unitFor(seed, "lost", job.enrichmentId, key) < rates.lost;
    const duplicate = unitFor(seed, "duplicate", job.enrichmentId, key) < rates.duplicate;
    sender.send(job, { lose, duplicate, onFirstAttemptSettled: controls.onFirstAttemptSettled });
  };

  const runner = new JobRunner({
    scheduler,
    seed,
    duration,
    runningLimit,
    faults,
    shapes,
    send: sendWithFaults,
    balance: () => balance,
    spend: (credits) => {
      balance -= credits;
    },
  });
  const { jobs } = runner;

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
      const checked = validateEnrichRequest(body, { requireEnrichFields: shapes.requireEnrichFields });
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
    const refusal = balance <= 0 ? shapes.refuseAtZeroBalance() : null;
    if (refusal !== null) return refusal;

    const job = runner.start(
      {
        id: uuidFrom(idRandom),
        kind,
        name: batch.name,
        apiKey: apiKeys[apiKeyIndex] as string,
        apiKeyIndex,
        request: body,
        synthesizers,
        ...(batch.webhookUrl === undefined ? {} : { webhookUrl: batch.webhookUrl }),
        ...(batch.contactFinishedUrl === undefined ? {} : { contactFinishedUrl: batch.contactFinishedUrl }),
      },
      now,
    );
    stats.enrichmentsCreated++;
    if (faults.dropAnswerAfterStart?.({ ordinal: job.ordinal }) === true) throw new AnswerDroppedError();
    if (faults.serverErrorAfterStart?.({ ordinal: job.ordinal }) === true) {
      stats.serverErrors++;
      return shapes.serverError();
    }
    return json(200, { enrichment_id: job.id });
  };

  const getJob = (kind: SimulatedKind, id: string, url: URL): Response => {
    const job = jobs.get(id);
    if (job === undefined || job.kind !== kind) {
      const notFound = NOT_FOUND_CODES[kind];
      return errorBody(404, notFound.code, notFound.message);
    }
    if (job.state !== "ended") {
      if (url.searchParams.get("forceResults")?.toLowerCase() === "true")
        return json(200, runner.resultBody(job));
      return shapes.notYet(runner.view(job), ++job.gets);
    }
    return json(job.status === "CREDITS_INSUFFICIENT" ? 402 : 200, runner.resultBody(job));
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
      return shapes.serverError();
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
        if (error instanceof AnswerDroppedError) throw error;
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
    enrichments: () => runner.snapshots(),
    deliveries: () => sender.log(),
    balance: () => balance,
    setBalance(credits: number): void {
      balance = credits;
    },
    cancel: (enrichmentId) => runner.cancel(enrichmentId),
    close(): void {
      if (closed) return;
      closed = true;
      runner.close();
      sender.close();
      for (const pending of pendingAnswers) {
        pending.timer.unsubscribe();
        pending.release();
      }
      pendingAnswers.clear();
    },
  };
}
