import type { MeterProvider } from "@opentelemetry/api";
import pRetry, { AbortError } from "p-retry";
import type { z } from "zod";
import { type Logger, toLogger } from "../internal/logger.js";
import { ApiMetrics, meterOf } from "../internal/metrics.js";
import { abortReason, assertTimeScale, defaultScheduler, type Scheduler } from "../internal/time.js";
import { apiError, expectOk, parseAnswer, type ResultOutcome, readResult } from "./answers.js";
import {
  ApiError,
  errorMessage,
  FullEnrichError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  OutcomeUnknownError,
  RateLimitedError,
  RequestTimeoutError,
  requestIssuesFrom,
  ServerError,
  UnauthorizedError,
} from "./errors.js";
import { type CallJournal, CallLimiter, type CallPriority } from "./limiter.js";
import {
  DEFAULT_ENRICH_FIELDS,
  type StartEnrichmentRequest,
  StartEnrichmentRequestSchema,
  type StartReverseLookupRequest,
  StartReverseLookupRequestSchema,
  withEnrichFields,
} from "./request-schemas.js";
import {
  type Credits,
  CreditsSchema,
  type StartResponse,
  StartResponseSchema,
  type VerifyKey,
  VerifyKeySchema,
} from "./response-schemas.js";
import { type FetchLike, type HttpAnswer, sendRequest } from "./transport.js";
import { LocalWindowBudget } from "./window-budget.js";

/** The public FullEnrich API v2. */
export const DEFAULT_BASE_URL = "https://app.fullenrich.com/api/v2";

/** Enrichments (`/contact/enrich/bulk`) or reverse email lookups (`/contact/reverse/email/bulk`). */
export type LookupKind = "enrich" | "reverse";

const PATHS: Record<LookupKind, string> = {
  enrich: "/contact/enrich/bulk",
  reverse: "/contact/reverse/email/bulk",
};

/** Options of {@link FullEnrichClient}. */
export interface FullEnrichClientOptions {
  /** The workspace API key. It never appears in an error, a log line or an event. */
  apiKey: string;
  /** Default: {@link DEFAULT_BASE_URL}. */
  baseUrl?: string;
  /** Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Calls allowed per window, for the whole account. Default 60. */
  rateLimit?: number;
  /** The window, in ms. Default 60 000 × `timeScale`. */
  rateWindowMs?: number;
  /** Share an existing limiter (and its budget) instead of creating one. */
  limiter?: CallLimiter;
  /** Attempts after the first for retryable failures (429, 5xx, network, timeout). Default 4. */
  retries?: number;
  /** First back-off delay, ms. Default 1 000 × `timeScale`. */
  retryMinDelayMs?: number;
  /** Longest back-off delay, ms. Default 30 000 × `timeScale`. */
  retryMaxDelayMs?: number;
  /** How long the limiter pauses after a 429, ms. Default 5 000 × `timeScale`, doubling while 429s continue. */
  rateLimitPauseMs?: number;
  /** Per-request timeout, ms. Default 30 000 (not scaled: it measures the network, not the provider). */
  timeoutMs?: number;
  /** Multiplies every built-in duration (window, back-off, pauses). Default 1. */
  timeScale?: number;
  scheduler?: Scheduler;
  /** Where retries and 429 pauses are logged (at `info` and `warn`). A pino instance fits as is. */
  logger?: Logger;
  /**
   * Called when a failed attempt is about to be retried (a 429, a 5xx, a network error or a
   * timeout, within `retries`), before the back-off. An error it throws is logged, not raised.
   */
  onRetry?: (retry: RetryInfo) => void;
  /**
   * Called on each 429: every call of this client (its limiter) pauses for `pauseMs`. An error it
   * throws is logged, not raised.
   */
  onRateLimited?: (pause: RateLimitInfo) => void;
  /**
   * Where the client's metrics go (`fullenrich_rx.api.calls` by endpoint and outcome,
   * `.api.rate_limited`, `.api.retries`). Default: the global OpenTelemetry meter provider, a
   * no-op until the application registers an SDK (before creating the client).
   */
  meterProvider?: MeterProvider;
}

/** What {@link FullEnrichClientOptions.onRetry} is told. */
export interface RetryInfo {
  method: "GET" | "POST";
  /** The endpoint, without any query string (e.g. `/contact/enrich/bulk/{id}` with the id). */
  path: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Attempts still allowed after this one. */
  retriesLeft: number;
  error: Error;
}

/** What {@link FullEnrichClientOptions.onRateLimited} is told. */
export interface RateLimitInfo {
  method: "GET" | "POST";
  path: string;
  /** How long every call of the client now waits, ms (doubling while 429s follow each other). */
  pauseMs: number;
  /** 429s in a row, this one included. */
  consecutive: number;
}

/** Per-call options. */
export interface RequestOptions {
  signal?: AbortSignal;
  priority?: CallPriority;
  /** Overrides the client's `retries` for this call (0: a single attempt). */
  retries?: number;
  /** Called once for every HTTP request this call sends (each retry attempt too). */
  onCall?: () => void;
  /**
   * Awaited before each attempt leaves, once it holds its rate-limit slot (e.g. to record durably
   * that it is being sent). If it throws, nothing is sent and the call rejects with that error.
   */
  beforeSend?: () => Promise<void>;
}

export { isInProgressCode, type ResultOutcome } from "./answers.js";

/** Counters of a client. */
export interface ClientStats {
  /** HTTP requests sent (every attempt). */
  calls: number;
  /** Attempts that were retried. */
  retries: number;
  /** 429 answers received. */
  rateLimited: number;
}

/**
 * The FullEnrich API client. One object for all calls: every call and every retry attempt passes
 * through one {@link CallLimiter}, so the account's budget is never exceeded in any sliding window.
 *
 * @example
 * ```ts
 * const client = new FullEnrichClient({ apiKey: process.env.FULLENRICH_API_KEY! });
 * const { enrichment_id } = await client.startEnrichment({
 *   name: "leads",
 *   data: [{ first_name: "Ada", last_name: "Lovelace", domain: "example.com" }],
 * });
 * const outcome = await client.getResult("enrich", enrichment_id);
 * ```
 */
export class FullEnrichClient {
  readonly #apiKey: string;
  readonly baseUrl: string;
  readonly limiter: CallLimiter;
  readonly timeScale: number;
  private readonly ownsLimiter: boolean;
  private readonly fetchImpl: FetchLike;
  private readonly scheduler: Scheduler;
  private readonly logger: Logger;
  private readonly retries: number;
  private readonly retryMinDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly pauseMs: number;
  private readonly timeoutMs: number;
  private readonly hooks: Pick<FullEnrichClientOptions, "onRetry" | "onRateLimited">;
  private readonly metrics: ApiMetrics;
  private consecutive429 = 0;
  private budgetSeeded = false;
  private readonly counters: ClientStats = { calls: 0, retries: 0, rateLimited: 0 };

  constructor(options: FullEnrichClientOptions) {
    if (typeof options.apiKey !== "string" || options.apiKey.trim() === "") {
      throw new FullEnrichError("an API key is required (set FULLENRICH_API_KEY or pass apiKey)");
    }
    this.#apiKey = options.apiKey;
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    if (!URL.canParse(this.baseUrl) || !/^https?:$/.test(new URL(this.baseUrl).protocol)) {
      throw new FullEnrichError(
        `the base URL ${JSON.stringify(options.baseUrl)} is not an http:// or https:// URL (the public API is ${DEFAULT_BASE_URL})`,
      );
    }
    this.timeScale = assertTimeScale(options.timeScale ?? 1);
    this.scheduler = options.scheduler ?? defaultScheduler;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.logger = toLogger(options.logger);
    this.retries = options.retries ?? 4;
    this.retryMinDelayMs = options.retryMinDelayMs ?? 1_000 * this.timeScale;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 30_000 * this.timeScale;
    this.pauseMs = options.rateLimitPauseMs ?? 5_000 * this.timeScale;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.hooks = { onRetry: options.onRetry, onRateLimited: options.onRateLimited };
    this.metrics = new ApiMetrics(meterOf(options.meterProvider));
    this.ownsLimiter = options.limiter === undefined;
    this.limiter =
      options.limiter ??
      new CallLimiter(
        new LocalWindowBudget(
          options.rateLimit ?? 60,
          options.rateWindowMs ?? 60_000 * this.timeScale,
          this.scheduler,
        ),
        this.scheduler,
      );
  }

  /**
   * Starts a bulk enrichment. Validates first: a broken rule throws {@link InvalidRequestError} and
   * nothing is sent. Every contact is sent with explicit `enrich_fields`: a contact that lists none
   * gets {@link DEFAULT_ENRICH_FIELDS}.
   */
  async startEnrichment(
    request: StartEnrichmentRequest,
    options: RequestOptions = {},
  ): Promise<StartResponse> {
    const body = validate(StartEnrichmentRequestSchema, request);
    return this.start(
      "enrich",
      { ...body, data: body.data.map((contact) => withEnrichFields(contact)) },
      options,
    );
  }

  /** Starts a bulk reverse email lookup. Validates first, like {@link startEnrichment}. */
  async startReverseLookup(
    request: StartReverseLookupRequest,
    options: RequestOptions = {},
  ): Promise<StartResponse> {
    const body = validate(StartReverseLookupRequestSchema, request);
    return this.start("reverse", body, options);
  }

  /** Reads a bulk enrichment's result. See {@link ResultOutcome}. */
  getEnrichment(
    enrichmentId: string,
    options: RequestOptions & { forceResults?: boolean } = {},
  ): Promise<ResultOutcome> {
    return this.getResult("enrich", enrichmentId, options);
  }

  /** Reads a bulk reverse lookup's result. */
  getReverseLookup(
    enrichmentId: string,
    options: RequestOptions & { forceResults?: boolean } = {},
  ): Promise<ResultOutcome> {
    return this.getResult("reverse", enrichmentId, options);
  }

  /**
   * Reads a result of either kind. 404 throws {@link NotFoundError}; 401 {@link UnauthorizedError};
   * other errors after the retries are spent throw the last {@link ApiError}, network or timeout error.
   */
  async getResult(
    kind: LookupKind,
    enrichmentId: string,
    options: RequestOptions & { forceResults?: boolean } = {},
  ): Promise<ResultOutcome> {
    if (enrichmentId.trim() === "") throw new FullEnrichError("an enrichment id is required");
    const query = options.forceResults ? "?forceResults=true" : "";
    const path = `${PATHS[kind]}/${encodeURIComponent(enrichmentId)}${query}`;
    const answer = await this.call("GET", path, undefined, { priority: "poll", ...options }, true);
    return readResult(answer, options.forceResults === true);
  }

  /** `GET /account/credits`. */
  async getCredits(options: RequestOptions = {}): Promise<Credits> {
    const answer = await this.call("GET", "/account/credits", undefined, options, true);
    return parseAnswer(CreditsSchema, expectOk(answer));
  }

  /** `GET /account/keys/verify`: resolves when the key is valid, throws {@link UnauthorizedError} when not. */
  async verifyKey(options: RequestOptions = {}): Promise<VerifyKey> {
    const answer = await this.call("GET", "/account/keys/verify", undefined, options, true);
    return parseAnswer(VerifyKeySchema, expectOk(answer));
  }

  /**
   * Records every call this client lets through, durably, before it leaves (see
   * {@link CallJournal}). The first journal attached stays; returns whether this one was attached.
   */
  attachCallJournal(journal: CallJournal): boolean {
    return this.limiter.attachJournal(journal);
  }

  /**
   * Counts calls a stopped process made (their start times, as its journal recorded them) in this
   * client's budget, once: a rerun right after a crash stays inside the account's limit. Each is
   * taken to have ended by its start plus the request timeout, or by now if that is sooner. A
   * budget shared between processes (Redis) saw those calls already and ignores this.
   */
  seedBudget(startedAt: readonly number[]): void {
    if (this.budgetSeeded) return;
    this.budgetSeeded = true;
    const now = this.scheduler.now();
    this.limiter.budget.seed?.(startedAt.map((at) => Math.min(now, at + this.timeoutMs)));
    this.limiter.noteEarlierCalls(startedAt);
  }

  /** HTTP calls sent, retries and 429s so far. */
  stats(): ClientStats {
    return { ...this.counters };
  }

  /** Stops the limiter if this client created it. */
  async close(): Promise<void> {
    if (this.ownsLimiter) await this.limiter.stop();
  }

  /** `await using client = new FullEnrichClient(…)`: {@link close} at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async start(kind: LookupKind, body: unknown, options: RequestOptions): Promise<StartResponse> {
    const operation = kind === "enrich" ? "starting the enrichment" : "starting the reverse lookup";
    try {
      const answer = await this.call("POST", PATHS[kind], body, { priority: "submit", ...options }, false);
      return parseAnswer(StartResponseSchema, expectOk(answer));
    } catch (error) {
      if (mayHaveStarted(error)) throw new OutcomeUnknownError(operation, { cause: error });
      throw error;
    }
  }

  /**
   * One logical call: attempts go through the limiter one by one, p-retry waits between them.
   * `idempotent: false` (POST) retries only what surely did not reach the provider.
   */
  private async call(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    options: RequestOptions,
    idempotent: boolean,
  ): Promise<HttpAnswer> {
    const { signal } = options;
    const attempt = async (): Promise<HttpAnswer> => {
      const answer = await this.limiter.run(
        () => {
          options.onCall?.();
          return this.send(method, path, body, signal);
        },
        {
          priority: options.priority ?? "read",
          ...(signal ? { signal } : {}),
          ...(options.beforeSend ? { beforeSend: options.beforeSend } : {}),
        },
      );
      if (answer.status === 429) {
        this.counters.rateLimited++;
        this.consecutive429++;
        const pause = Math.min(this.pauseMs * 2 ** (this.consecutive429 - 1), this.limiter.budget.windowMs);
        const info: RateLimitInfo = {
          method,
          path: redactPath(path),
          pauseMs: pause,
          consecutive: this.consecutive429,
        };
        this.logger.warn("FullEnrich answered 429 (rate limited): every call pauses", { ...info });
        this.metrics.rateLimited(method, path);
        this.notify("onRateLimited", () => this.hooks.onRateLimited?.(info));
        await this.limiter.pause(pause);
        throw apiError(answer);
      }
      this.consecutive429 = 0;
      if (answer.status >= 500) throw apiError(answer);
      return answer;
    };
    return pRetry(
      async () => {
        try {
          return await attempt();
        } catch (error) {
          if (!isRetryable(error, idempotent)) throw new AbortError(error as Error);
          throw error;
        }
      },
      {
        retries: options.retries ?? this.retries,
        factor: 2,
        minTimeout: this.retryMinDelayMs,
        maxTimeout: this.retryMaxDelayMs,
        randomize: true,
        ...(signal ? { signal } : {}),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          const where = { method, path: redactPath(path) };
          if (retriesLeft === 0) {
            this.logger.debug("FullEnrich call failed", { ...where, error: error.message });
            return;
          }
          this.counters.retries++;
          this.metrics.retry(method, path);
          this.logger.info("FullEnrich call failed; retrying after a back-off", {
            ...where,
            attempt: attemptNumber,
            retriesLeft,
            error: error.message,
          });
          const info: RetryInfo = { ...where, attempt: attemptNumber, retriesLeft, error };
          this.notify("onRetry", () => this.hooks.onRetry?.(info));
        },
      },
    );
  }

  /** Runs a user's hook; what it throws is logged, never raised into the call. */
  private notify(hook: "onRetry" | "onRateLimited", run: () => void): void {
    try {
      run();
    } catch (error) {
      this.logger.warn(`the client's ${hook} hook threw`, { error: errorMessage(error) });
    }
  }

  private async send(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<HttpAnswer> {
    // Aborted while its slot was being granted: it never leaves (an abort listener added now would
    // never fire, and the request would go out).
    if (signal?.aborted) throw abortReason(signal);
    this.counters.calls++;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#apiKey}`,
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      const answer = await sendRequest(
        this.fetchImpl,
        `${this.baseUrl}${path}`,
        { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) },
        { timeoutMs: this.timeoutMs, scheduler: this.scheduler, ...(signal ? { signal } : {}) },
      );
      this.metrics.call(method, path, String(answer.status));
      return answer;
    } catch (error) {
      const outcome = signal?.aborted
        ? "aborted"
        : error instanceof RequestTimeoutError
          ? "timeout"
          : "network-error";
      this.metrics.call(method, path, outcome);
      throw error;
    }
  }
}

function validate<S extends z.ZodType>(schema: S, request: unknown): z.output<S> {
  const parsed = schema.safeParse(request);
  if (!parsed.success) throw new InvalidRequestError(requestIssuesFrom(parsed.error));
  return parsed.data;
}

function isRetryable(error: unknown, idempotent: boolean): boolean {
  if (error instanceof RateLimitedError) return true;
  if (error instanceof NetworkError) return idempotent || !error.sent;
  if (error instanceof ServerError || error instanceof RequestTimeoutError) return idempotent;
  return false;
}

function mayHaveStarted(error: unknown): boolean {
  if (error instanceof NetworkError) return error.sent;
  return error instanceof ServerError || error instanceof RequestTimeoutError;
}

/** Ids in paths are not secret, but keep logs free of anything after the resource. */
function redactPath(path: string): string {
  return path.replace(/\?.*$/, "");
}
