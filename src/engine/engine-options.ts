import { randomBytes } from "node:crypto";
import type { MeterProvider } from "@opentelemetry/api";
import type { FullEnrichClient } from "../api/client.js";
import { FullEnrichError } from "../api/errors.js";
import type { EnrichField } from "../api/request-schemas.js";
import type { FetchLike } from "../api/transport.js";
import { DEFAULT_CORRELATION_KEY } from "../events/contact-key.js";
import type { Keying } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import { type Logger, toLogger } from "../internal/logger.js";
import { type Random, systemRandom } from "../internal/random.js";
import { assertTimeScale, defaultScheduler, type Scheduler } from "../internal/time.js";
import type { WebhookReceiver } from "../webhooks/receiver.js";
import type { PollLeases } from "./poll-leases.js";
import { DEFAULT_TIMINGS, scaleTimings, type Timings } from "./timings.js";

/** How results are collected: webhooks (polling dormant until needed), polling only, or both. */
export type EngineMode = "webhook" | "polling" | "both";

/** Where the provider should deliver webhooks. */
export interface WebhookSettings {
  /** The public URL the provider POSTs the batch event to. */
  url: string;
  /** Also ask for one event per contact as it finishes. Default false. */
  contactEvents?: boolean;
  /** Where per-contact events go. Default: `url`. */
  contactUrl?: string;
  /**
   * The receiver storing the deliveries, so that the engine hears when one was answered non-2xx
   * (then polling takes over once the provider's retries would be spent).
   */
  receiver?: WebhookReceiver;
  /**
   * The start-up check (webhook mode, with a `receiver` and the fallback on): one signed probe
   * delivery POSTed to `url` and awaited at the receiver, no API call spent (see
   * {@link EnrichmentEngine.webhookCheck}). When it does not arrive, batches are polled from the
   * start (the webhook is still registered, so deliveries are used if they do arrive). `false`:
   * no check. Default: through the global `fetch`, waiting `timeoutMs` = 5 000 ms.
   */
  probe?: false | { fetch?: FetchLike; timeoutMs?: number };
}

/** What {@link EnrichmentEngine.start} takes. */
export interface EngineOptions {
  client: FullEnrichClient;
  store: EventStore;
  /** Webhook settings; without them the engine polls. */
  webhook?: WebhookSettings;
  /** Default: "webhook" when `webhook` is given, else "polling". */
  mode?: EngineMode;
  /**
   * In webhook mode, whether polling takes over when a batch webhook is overdue or a delivery failed
   * here. Default true; false gives a plain webhook integration (what is lost is lost: for comparisons).
   */
  fallback?: boolean;
  /** Contacts per batch, 1..100. Default 100. */
  batchSize?: number;
  /**
   * The reserved `custom` key for the library's correlation id (default `_fxr`; null to never
   * write one), and a `custom` field the user names as each contact's id.
   */
  keying?: { correlationKey?: string | null; idField?: string | null };
  /** Overrides of the built-in timings (at time scale 1). */
  timings?: Partial<Timings>;
  /** Multiplies every built-in duration. Default: the client's. */
  timeScale?: number;
  scheduler?: Scheduler;
  random?: Random;
  logger?: Logger;
  /** Id generator for jobs and batches (no dots). Default: random. */
  newId?: () => string;
  /**
   * Several instances on one log: who polls which enrichment (e.g. `RedisPollLeases`).
   * Default: this instance polls everything it follows.
   */
  leases?: PollLeases;
  /** This instance's name in the leases. Default: random. */
  instanceId?: string;
  /**
   * The most enrichments (and, separately, reverse lookups) running at the provider at once: the
   * provider allows 100 per workspace. Further batches wait their turn (in order) until one
   * finishes, counted from the log, other instances on it included. An enrichment stops counting
   * once it is settled or its webhook deadline passed (by then the provider has finished it).
   * Default 100.
   */
  maxRunning?: number;
  /**
   * Where the engine's metrics go (`fullenrich_rx.results` by source, `.result.delay`,
   * `.store.append.duration`, and the webhook receiver's `.webhook.deliveries`). Default: the global
   * OpenTelemetry meter provider, a no-op until the application registers an SDK (before starting
   * the engine). The client's metrics are the client's option.
   */
  meterProvider?: MeterProvider;
}

/** Per-job options. */
export interface JobOptions {
  /** The enrichment's name in the provider's dashboard. Default "fullenrich-rx". */
  name?: string;
  /**
   * The job's id in the log (default: random). Whatever the id, a job sends only contacts that are
   * neither enriched in the log nor running there: a rerun after a crash sends what never left and
   * takes the rest from the log.
   */
  jobId?: string;
  batchSize?: number;
  /** enrich_fields for contacts that do not list their own. */
  enrichFields?: readonly EnrichField[];
  /**
   * A batch whose POST may have reached the provider without an answer (or whose process died in
   * between). In webhook mode it is first awaited: a delivery naming its contacts settles it. When
   * that cannot happen (polling mode) or did not by its webhook deadline: "report" (default)
   * records it as ambiguous and moves on; "resubmit" posts it again, at the risk of paying twice
   * if the first POST did start it.
   */
  onAmbiguous?: "report" | "resubmit";
  /**
   * Send every contact, even those already enriched in the log (which are otherwise reused: no
   * call, no credits). Default false.
   */
  refresh?: boolean;
  /**
   * Results older than this (ms) are stale: their contacts are sent again instead of reused.
   * Default: no limit.
   */
  maxAgeMs?: number;
  /**
   * Aborts the whole job: nothing more of it is sent (batches waiting their turn are dropped; a
   * POST already on the wire is not cut: its answer is recorded, so that its batch is accepted
   * rather than ambiguous, and the job settles right after), polling stops for its enrichments (those another running job
   * waits on go on), its rows without a result fail as `aborted`, and the job settles: `summary`
   * resolves with `stopped: "aborted"`, `results$` completes. Results that arrive later (a webhook)
   * are still recorded in the log: a rerun takes them from there.
   */
  signal?: AbortSignal;
  /**
   * The longest the job waits for its results, in ms from the `enrich()` call (not scaled by
   * `timeScale`). When it passes, the job stops as on an abort, with `timed-out`: rows without a
   * result fail, nothing more is sent, and its enrichments are no longer polled. Default: no limit
   * (the engine's own `timings.maxWaitMs` per enrichment still applies).
   */
  maxWaitMs?: number;
}

/** What `resume()` found and did. */
export interface ResumeReport {
  /** Unfinished enrichments now followed again. */
  resumed: { enrichmentId: string; batchId: string; mode: EngineMode; polling: boolean }[];
  /**
   * Batches whose POST got no answer, awaited until `until` (their webhook deadline): a delivery
   * naming their contacts settles them.
   */
  awaitingDelivery: { batchId: string; jobId: string; contacts: number; until: number }[];
  /** Batches whose POST may or may not have started an enrichment, and that nothing will settle. */
  ambiguous: { batchId: string; jobId: string; contacts: number; message: string }[];
}

/** The engine's options with every default applied. */
export interface ResolvedEngineOptions {
  client: FullEnrichClient;
  store: EventStore;
  webhook: WebhookSettings | undefined;
  mode: EngineMode;
  fallback: boolean;
  batchSize: number;
  keying: Keying;
  timings: Timings;
  scheduler: Scheduler;
  random: Random;
  logger: Logger;
  newId: () => string;
  leases: PollLeases | undefined;
  instanceId: string;
  maxRunning: number;
  meterProvider: MeterProvider | undefined;
}

/** A random id without dots or dashes (ids of jobs, batches and instances). */
export function randomId(): string {
  return randomBytes(9).toString("base64url").replace(/[-_]/g, "x");
}

/** Applies the defaults; throws {@link FullEnrichError} on a contradiction (webhook mode without a URL). */
export function resolveEngineOptions(options: EngineOptions): ResolvedEngineOptions {
  const mode = options.mode ?? (options.webhook ? "webhook" : "polling");
  if (mode !== "polling" && !options.webhook) {
    throw new FullEnrichError(
      `${mode} mode needs webhook settings (the public URL the provider can reach); without a public URL, use mode "polling"`,
    );
  }
  const timeScale = assertTimeScale(options.timeScale ?? options.client.timeScale);
  return {
    client: options.client,
    store: options.store,
    webhook: options.webhook,
    mode,
    fallback: options.fallback !== false,
    batchSize: options.batchSize ?? 100,
    keying: {
      correlationKey:
        options.keying?.correlationKey === undefined
          ? DEFAULT_CORRELATION_KEY
          : options.keying.correlationKey,
      idField: options.keying?.idField ?? null,
    },
    timings: scaleTimings({ ...DEFAULT_TIMINGS, ...options.timings }, timeScale),
    scheduler: options.scheduler ?? defaultScheduler,
    random: options.random ?? systemRandom,
    logger: toLogger(options.logger),
    newId: options.newId ?? randomId,
    leases: options.leases,
    instanceId: options.instanceId ?? `instance-${randomId()}`,
    maxRunning: options.maxRunning ?? 100,
    meterProvider: options.meterProvider,
  };
}
