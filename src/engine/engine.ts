import { randomBytes } from "node:crypto";
import {
  concatMap,
  defer,
  filter,
  map,
  Observable,
  retry,
  Subject,
  type Subscription,
  share,
  switchMap,
  tap,
  throwError,
  timer,
} from "rxjs";
import type { FullEnrichClient } from "../api/client.js";
import { errorMessage, FullEnrichError, OutcomeUnknownError } from "../api/errors.js";
import type { EnrichContact, EnrichField, ReverseContact } from "../api/request-schemas.js";
import { DEFAULT_CORRELATION_KEY } from "../events/contact-key.js";
import {
  type DomainEvent,
  dedupKeys,
  type EventOf,
  type Keying,
  newEvent,
  parseEvent,
  streams,
} from "../events/event-types.js";
import { type BatchState, isCleanlyRejected } from "../events/projections/enrichment-state.js";
import { EnrichmentsProjection, type RunningCount } from "../events/projections/enrichments-projection.js";
import type { AppendOptions, EventStore, NewEvent, StoredEvent } from "../events/store.js";
import { type Logger, silentLogger } from "../internal/logger.js";
import { type Random, systemRandom } from "../internal/random.js";
import { abortReason, assertTimeScale, defaultScheduler, type Scheduler, sleep } from "../internal/time.js";
import type { WebhookReceiver } from "../webhooks/receiver.js";
import { type KeyedBatch, keyPreparedBatch, type PreparedBatch, prepareBatches } from "./batches.js";
import { type ContactResult, toContactResult } from "./contact-result.js";
import { EnrichmentJob, type JobStart } from "./job.js";
import { LocalPollLeases, type PollLeases } from "./poll-leases.js";
import { PollingScheduler } from "./polling-scheduler.js";
import { decide } from "./reconcile.js";
import { type LookupKind, RunningLimit } from "./running-limit.js";
import { DEFAULT_TIMINGS, errorDelay, scaleTimings, type Timings, webhookDeadline } from "./timings.js";

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
   * Several instances on one log: who polls which enrichment (e.g. {@link RedisPollLeases}).
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
}

/** Per-job options. */
export interface JobOptions {
  /** The enrichment's name in the provider's dashboard. Default "fullenrich-rx". */
  name?: string;
  /**
   * A stable id makes the job resumable: calling again with the same id and contacts (after a crash)
   * submits only what was never submitted and replays the results from before.
   */
  jobId?: string;
  batchSize?: number;
  /** enrich_fields for contacts that do not list their own. */
  enrichFields?: readonly EnrichField[];
  /**
   * A batch whose POST may have reached the provider without an answer (or whose process died in
   * between): "report" (default) records it as ambiguous and moves on; "resubmit" posts it again,
   * at the risk of paying twice if the first POST did start it.
   */
  onAmbiguous?: "report" | "resubmit";
  signal?: AbortSignal;
}

/** What `resume()` found and did. */
export interface ResumeReport {
  /** Unfinished enrichments now followed again. */
  resumed: { enrichmentId: string; batchId: string; mode: EngineMode; polling: boolean }[];
  /** Batches whose POST may or may not have started an enrichment. */
  ambiguous: { batchId: string; jobId: string; contacts: number; message: string }[];
}

/** Raised when a job id is reused with other contacts. */
export class JobMismatchError extends FullEnrichError {
  override name = "JobMismatchError";
}

const RECONCILER = "fullenrich-rx.reconciler";
/** Events read per page when a subscriber catches up with the log. */
const REPLAY_PAGE = 500;

/**
 * Whether a rerun submits an earlier batch of the job again: one that was never accepted and was
 * either refused outright (nothing started: a bad key, no credits, no network) or, on request
 * (`onAmbiguous: "resubmit"`), left without an answer.
 */
function willResubmit(batch: BatchState, options: JobOptions): boolean {
  if (batch.enrichmentId !== null) return false;
  return isCleanlyRejected(batch) || options.onAmbiguous === "resubmit";
}

function randomId(): string {
  return randomBytes(9).toString("base64url").replace(/[-_]/g, "x");
}

/**
 * The engine: one observable of results. It submits batches (recording each request before its
 * POST), follows every outstanding enrichment by webhook and/or rate-limited polling, and
 * reconciles every observation from the log, so each contact is emitted exactly once, whichever way
 * it arrived, across duplicates, losses and restarts.
 *
 * @example
 * ```ts
 * const engine = await EnrichmentEngine.start({ client, store });
 * const job = engine.enrich(contacts, { name: "leads" });
 * job.results$.subscribe((result) => console.log(result.contactKey, result.contactInfo));
 * console.log(await job.summary);
 * ```
 */
export class EnrichmentEngine {
  readonly client: FullEnrichClient;
  readonly store: EventStore;
  readonly mode: EngineMode;
  readonly timings: Timings;
  readonly keying: Keying;
  /** Every event of the log, as it is processed, from the engine's start on (hot). */
  readonly events$: Observable<DomainEvent>;
  /** Every contact resolved from the engine's start on, by any job or process (hot). */
  readonly results$: Observable<ContactResult>;

  private readonly projection = new EnrichmentsProjection();
  private readonly events = new Subject<DomainEvent>();
  private readonly scheduler: Scheduler;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly webhook: WebhookSettings | undefined;
  private readonly batchSize: number;
  private readonly newId: () => string;
  private readonly polling: PollingScheduler;
  private readonly inFlight = new Set<string>();
  private readonly runningLimit: RunningLimit;
  private readonly jobCalls = new Map<string, number>();
  private readonly callsChanged = new Subject<string>();
  private readonly subscriptions: Subscription[] = [];
  private startHead = 0;
  private reconciledUpTo = 0;
  /** The last log position the engine processed (projection, reconciliation, `events$`). */
  private processedUpTo = 0;
  private readonly processedWaiters = new Set<{ position: number; resolve: () => void }>();
  private closed = false;
  private failure: Error | null = null;

  private constructor(options: EngineOptions) {
    this.client = options.client;
    this.store = options.store;
    this.webhook = options.webhook;
    this.mode = options.mode ?? (options.webhook ? "webhook" : "polling");
    if (this.mode !== "polling" && !this.webhook) {
      throw new FullEnrichError(
        `${this.mode} mode needs webhook settings (the public URL the provider can reach); without a public URL, use mode "polling"`,
      );
    }
    const timeScale = assertTimeScale(options.timeScale ?? options.client.timeScale);
    this.timings = scaleTimings({ ...DEFAULT_TIMINGS, ...options.timings }, timeScale);
    this.scheduler = options.scheduler ?? defaultScheduler;
    this.random = options.random ?? systemRandom;
    this.logger = options.logger ?? silentLogger;
    this.batchSize = options.batchSize ?? 100;
    this.newId = options.newId ?? randomId;
    this.keying = {
      correlationKey:
        options.keying?.correlationKey === undefined
          ? DEFAULT_CORRELATION_KEY
          : options.keying.correlationKey,
      idField: options.keying?.idField ?? null,
    };
    this.events$ = this.events.asObservable();
    this.results$ = this.events$.pipe(
      filter((event): event is EventOf<"contact.resolved"> => event.type === "contact.resolved"),
      map((event) => toContactResult(event, this.keying.correlationKey)),
      share(),
    );
    this.polling = new PollingScheduler({
      client: this.client,
      store: this.store,
      timings: this.timings,
      scheduler: this.scheduler,
      random: this.random,
      logger: this.logger,
      fallback: options.fallback !== false,
      leases: options.leases ?? new LocalPollLeases(),
      owner: options.instanceId ?? `instance-${randomId()}`,
      onCall: (enrichmentId) => {
        const jobId = this.projection.batchOf(enrichmentId)?.jobId;
        if (jobId !== undefined) this.countCall(jobId);
      },
    });
    this.runningLimit = new RunningLimit({
      max: options.maxRunning ?? 100,
      scheduler: this.scheduler,
      running: (kind, now) => this.runningAtProvider(kind, now),
    });
  }

  /**
   * Enrichments (or reverse lookups) running at the provider as the log tells, leaving out batches
   * this process is submitting (the running limit holds those): accepted and not settled, or
   * requested without an answer yet, until their webhook deadline.
   */
  private runningAtProvider(kind: LookupKind, now: number): RunningCount {
    return this.projection.runningCount(
      kind,
      now,
      (batch) => webhookDeadline(this.timings, batch.acceptedAt ?? batch.requestedAt),
      this.inFlight,
    );
  }

  /** Creates an engine and replays the log into its projections before resolving. */
  static async start(options: EngineOptions): Promise<EnrichmentEngine> {
    const engine = new EnrichmentEngine(options);
    await engine.run();
    return engine;
  }

  /**
   * Every event after `after` (exclusive): read back from the log up to what the engine has
   * processed, then the engine's own live events — parsed once for every subscriber, and never
   * ahead of `events$` and `results$`.
   */
  replay(after = 0): Observable<DomainEvent> {
    return new Observable<DomainEvent>((subscriber) => {
      let last = after;
      let caughtUp = false;
      const waiting: DomainEvent[] = [];
      const emit = (event: DomainEvent): void => {
        if (event.position <= last) return;
        last = event.position;
        subscriber.next(event);
      };
      const live = this.events.subscribe({
        next: (event) => (caughtUp ? emit(event) : waiting.push(event)),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      const catchUp = async (): Promise<void> => {
        for (;;) {
          const target = this.processedUpTo;
          if (last >= target || subscriber.closed) break;
          // Positions have no gaps: read exactly up to what the engine has processed, no further.
          const page = await this.store.read({ after: last, limit: Math.min(REPLAY_PAGE, target - last) });
          if (page.length === 0) break;
          for (const stored of page) {
            if (stored.position > target || subscriber.closed) break;
            emit(parseEvent(stored));
          }
        }
        caughtUp = true;
        for (const event of waiting.splice(0)) emit(event);
      };
      catchUp().catch((error: unknown) => subscriber.error(error));
      return () => live.unsubscribe();
    });
  }

  /**
   * The store's subscription from `after`; if it fails (a lost database connection), it is opened
   * again after the last event received: no gap, no repeat.
   */
  private tail(after: number): Observable<StoredEvent> {
    let received = after;
    return defer(() => this.store.subscribe(received)).pipe(
      tap((stored) => {
        received = stored.position;
      }),
      retry({
        resetOnSuccess: true,
        delay: (error: unknown, attempt) => {
          if (this.closed) return throwError(() => error);
          this.logger.warn("a log subscription failed; subscribing again", {
            error: errorMessage(error),
            attempt,
          });
          return timer(errorDelay(this.timings, attempt - 1), this.scheduler);
        },
      }),
    );
  }

  /** Every result after the log position `after`: replayed, then live. */
  resultsFrom(after = 0): Observable<ContactResult> {
    return this.replay(after).pipe(
      filter((event): event is EventOf<"contact.resolved"> => event.type === "contact.resolved"),
      map((event) => toContactResult(event, this.keying.correlationKey)),
    );
  }

  /**
   * A named consumer with a checkpoint kept in the store: `results$` starts after the stored
   * checkpoint; call `commit(result.position)` once a result is processed. An app that processes a
   * result and then commits gets each result once across restarts (make the processing idempotent
   * by `contactKey`, or append its outcome with the checkpoint, to close the gap in between).
   */
  consumer(name: string): {
    /** Results after the stored checkpoint: replayed, then live. */
    results$: Observable<ContactResult>;
    /** Stores `position` (a result's `position`) as processed. */
    commit(position: number): Promise<void>;
    /** The stored checkpoint (0 before the first commit). */
    checkpoint(): Promise<number>;
  } {
    const key = `consumer:${name}`;
    return {
      results$: defer(() => this.store.getCheckpoint(key)).pipe(
        switchMap((after) => this.resultsFrom(after)),
      ),
      commit: (position) => this.store.setCheckpoint(key, position),
      checkpoint: () => this.store.getCheckpoint(key),
    };
  }

  /** Enriches contacts. Validates synchronously (throws {@link InvalidRequestError}), then submits in the background. */
  enrich(contacts: readonly EnrichContact[], options: JobOptions = {}): EnrichmentJob {
    return this.submitJob("enrich", contacts, options);
  }

  /** Looks up people from their email addresses. */
  reverseLookup(contacts: readonly (string | ReverseContact)[], options: JobOptions = {}): EnrichmentJob {
    const normalised = contacts.map((contact) =>
      typeof contact === "string" ? { email: contact } : contact,
    );
    return this.submitJob("reverse", normalised, options);
  }

  /**
   * After a restart: every unfinished enrichment in the log is followed again (webhook deadline or
   * polling; at once for those whose expected finish passed while the process was down). Batches
   * whose POST outcome is unknown are reported, never silently re-sent.
   */
  async resume(): Promise<ResumeReport> {
    this.assertOpen();
    const report: ResumeReport = { resumed: [], ambiguous: [] };
    for (const batch of this.projection.unfinished()) {
      this.polling.track(batch, true);
      report.resumed.push({
        enrichmentId: batch.enrichmentId as string,
        batchId: batch.batchId,
        mode: batch.mode,
        polling: this.polling.isPolling(batch.enrichmentId as string),
      });
    }
    for (const batch of this.projection.ambiguous()) {
      if (this.inFlight.has(batch.batchId)) continue;
      const message = await this.markAmbiguous(batch);
      report.ambiguous.push({
        batchId: batch.batchId,
        jobId: batch.jobId,
        contacts: batch.keys.length,
        message,
      });
    }
    return report;
  }

  /** The batches and enrichments in the log, as the engine's projection holds them. */
  snapshot(): { batches: BatchState[]; unfinished: number; ambiguous: number } {
    return {
      batches: [...this.projection.batches()],
      unfinished: this.projection.unfinished().length,
      ambiguous: this.projection.ambiguous().length,
    };
  }

  /**
   * Resolves once the engine has processed the log up to `position`: its projections and `events$`
   * and `results$` have seen everything before. (Jobs wait for it before they complete.)
   */
  whenProcessed(position: number): Promise<void> {
    if (position <= this.processedUpTo || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.processedWaiters.add({ position, resolve }));
  }

  /** Stops polling, timers and the log subscription. The client and the store stay open (they are yours). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.polling.close();
    this.runningLimit.close();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.events.complete();
    this.callsChanged.complete();
    for (const waiter of this.processedWaiters) waiter.resolve();
    this.processedWaiters.clear();
  }

  private async run(): Promise<void> {
    this.startHead = await this.store.head();
    this.reconciledUpTo = await this.store.getCheckpoint(RECONCILER);
    let markReady: () => void = () => {};
    let markFailed: (error: unknown) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    if (this.startHead === 0) markReady();
    const log$ = this.tail(0);
    this.subscriptions.push(
      log$.pipe(concatMap((stored) => defer(() => this.process(parseEvent(stored))))).subscribe({
        next: (position) => {
          if (position >= this.startHead) markReady();
        },
        error: (error: unknown) => {
          this.failure = error instanceof Error ? error : new Error(String(error));
          this.logger.error("the engine stopped reading the log", { error: this.failure.message });
          markFailed(error);
          this.events.error(error);
        },
      }),
    );
    if (this.webhook?.receiver) {
      this.subscriptions.push(
        this.webhook.receiver.failures$.subscribe((failure) =>
          this.polling.deliveryFailed(failure.enrichmentId, failure.at),
        ),
      );
    }
    await ready;
  }

  /** The log, one event at a time: projection, reconciliation, reactions, then subscribers. */
  private async process(event: DomainEvent): Promise<number> {
    this.projection.evolve(event);
    if (event.position > this.reconciledUpTo) {
      const decisions = decide(this.projection, event, {
        defaultKeying: this.keying,
        now: this.scheduler.now(),
      });
      // Folded before they are read back, so that the next observation sees this one's outcome.
      for (const decision of decisions)
        for (const decided of decision.events) this.projection.evolve(decided);
      for (const [index, decision] of decisions.entries()) {
        const last = index === decisions.length - 1;
        await this.appendReliably(
          decision.stream,
          decision.events,
          last ? { checkpoint: { name: RECONCILER, position: event.position } } : {},
        );
      }
    }
    if (event.position > this.startHead) this.react(event);
    this.runningLimit.recheck();
    this.events.next(event);
    this.processedUpTo = event.position;
    for (const waiter of this.processedWaiters) {
      if (waiter.position <= event.position) {
        this.processedWaiters.delete(waiter);
        waiter.resolve();
      }
    }
    return event.position;
  }

  private react(event: DomainEvent): void {
    switch (event.type) {
      case "enrichment.accepted": {
        const batch = this.projection.batch(event.data.batchId);
        if (batch && !this.projection.isSettled(event.data.enrichmentId)) this.polling.track(batch);
        return;
      }
      case "enrichment.completed":
      case "enrichment.failed":
        this.polling.settled(event.data.enrichmentId);
        return;
      default:
        return;
    }
  }

  /**
   * Appends, retrying with back-off while the store fails: a decision must not be lost. Resolves
   * with the position of the last event (appended now, or already stored under its dedup key).
   */
  private async appendReliably(
    stream: string,
    events: NewEvent[],
    options: AppendOptions = {},
  ): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.store.append(stream, events, options);
        return Math.max(
          0,
          ...result.appended.map((e) => e.position),
          ...result.duplicates.map((d) => d.position),
        );
      } catch (error) {
        if (this.closed) throw error;
        this.logger.warn("appending to the log failed; retrying", { error: errorMessage(error), attempt });
        await sleep(errorDelay(this.timings, attempt), this.scheduler);
      }
    }
  }

  private submitJob(
    kind: "enrich" | "reverse",
    contacts: readonly unknown[],
    options: JobOptions,
  ): EnrichmentJob {
    this.assertOpen();
    const prepared = prepareBatches(kind, contacts, {
      batchSize: options.batchSize ?? this.batchSize,
      correlationKey: this.keying.correlationKey,
      ...(options.enrichFields ? { enrichFields: options.enrichFields } : {}),
    });
    const jobId = options.jobId ?? this.newId();
    let resolveStart: (start: JobStart) => void = () => {};
    const start = new Promise<JobStart>((resolve) => {
      resolveStart = resolve;
    });
    const submission = this.submitBatches(kind, jobId, prepared, options, resolveStart);
    submission.catch(() => resolveStart({ after: Number.MAX_SAFE_INTEGER, superseded: new Set() }));
    return new EnrichmentJob({
      id: jobId,
      kind,
      total: prepared.reduce((sum, batch) => sum + batch.contacts.length, 0),
      batchCount: prepared.length,
      start,
      submission,
      replay: (after) => this.replay(after),
      whenProcessed: (position) => this.whenProcessed(position),
      apiCalls: () => this.jobCalls.get(jobId) ?? 0,
      apiCalls$: this.callsChanged.pipe(filter((id) => id === jobId)),
      correlationKey: this.keying.correlationKey,
      scheduler: this.scheduler,
    });
  }

  private async submitBatches(
    kind: "enrich" | "reverse",
    jobId: string,
    prepared: PreparedBatch[],
    options: JobOptions,
    resolveStart: (start: JobStart) => void,
  ): Promise<void> {
    const prior = this.projection.latestBatchesOfJob(jobId);
    const positions = [...prior.values()].map((batch) => batch.position);
    const superseded = new Set(
      [...prior.values()].filter((batch) => willResubmit(batch, options)).map((batch) => batch.batchId),
    );
    resolveStart({
      after: positions.length > 0 ? Math.min(...positions) - 1 : await this.store.head(),
      superseded,
    });
    const name = options.name?.trim() || "fullenrich-rx";
    await Promise.all(
      prepared.map((batch) => {
        const batchName = prepared.length > 1 ? `${name} (${batch.batchIndex + 1}/${prepared.length})` : name;
        return this.submitOrContinue(kind, jobId, batchName, batch, prior.get(batch.batchIndex), options);
      }),
    );
  }

  private async submitOrContinue(
    kind: "enrich" | "reverse",
    jobId: string,
    name: string,
    batch: PreparedBatch,
    prior: BatchState | undefined,
    options: JobOptions,
  ): Promise<void> {
    if (prior) {
      if (prior.contactsDigest !== batch.contactsDigest) {
        throw new JobMismatchError(
          `job ${jobId} already holds different contacts in batch ${batch.batchIndex + 1}: use another job id (or another store) for other contacts`,
        );
      }
      if (prior.enrichmentId !== null) {
        if (!this.projection.isSettled(prior.enrichmentId)) this.polling.track(prior, true);
        return;
      }
      if (!willResubmit(prior, options)) {
        if (!this.inFlight.has(prior.batchId)) await this.markAmbiguous(prior);
        return;
      }
    }
    const release = await this.runningLimit.acquire(kind, options.signal);
    try {
      const keyed = keyPreparedBatch(batch, this.newId(), this.keying);
      const position = await this.submitBatch(kind, jobId, name, keyed, options.signal);
      // Until the engine has seen the answer, the log does not count this batch yet.
      await this.whenProcessed(position);
    } finally {
      release();
    }
  }

  /** Records the request, POSTs, records the answer (resolving with its position). Never POSTs twice. */
  private async submitBatch(
    kind: "enrich" | "reverse",
    jobId: string,
    name: string,
    batch: KeyedBatch,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const { batchId } = batch;
    const webhookUrl = this.mode === "polling" ? null : (this.webhook?.url ?? null);
    const contactWebhookUrl =
      this.mode !== "polling" && this.webhook?.contactEvents
        ? (this.webhook.contactUrl ?? this.webhook.url)
        : null;
    this.inFlight.add(batchId);
    try {
      await this.store.append(
        streams.batch(batchId),
        [
          newEvent(
            "enrichment.requested",
            {
              batchId,
              jobId,
              batchIndex: batch.batchIndex,
              contactsDigest: batch.contactsDigest,
              kind,
              name,
              contacts: batch.submitted.map((contact, index) => ({
                key: batch.keys[index] as string,
                contact,
              })),
              keying: this.keying,
              webhookUrl,
              contactWebhookUrl,
              mode: this.mode,
              requestedAt: this.scheduler.now(),
            },
            dedupKeys.requested(batchId),
          ),
        ],
        { expectedVersion: "no-stream" },
      );
      const body = {
        name,
        ...(webhookUrl ? { webhook_url: webhookUrl } : {}),
        ...(contactWebhookUrl ? { webhook_events: { contact_finished: contactWebhookUrl } } : {}),
        data: batch.submitted,
      };
      let enrichmentId: string;
      try {
        if (signal?.aborted) throw abortReason(signal);
        const requestOptions = { onCall: () => this.countCall(jobId), ...(signal ? { signal } : {}) };
        const response =
          kind === "enrich"
            ? await this.client.startEnrichment(
                body as Parameters<FullEnrichClient["startEnrichment"]>[0],
                requestOptions,
              )
            : await this.client.startReverseLookup(
                body as Parameters<FullEnrichClient["startReverseLookup"]>[0],
                requestOptions,
              );
        enrichmentId = response.enrichment_id;
      } catch (error) {
        const outcomeUnknown = error instanceof OutcomeUnknownError;
        this.logger.warn("a batch was not accepted", { batchId, outcomeUnknown, error: errorMessage(error) });
        return await this.appendReliably(streams.batch(batchId), [
          newEvent(
            "enrichment.rejected",
            {
              batchId,
              outcomeUnknown,
              error: describeError(error),
              rejectedAt: this.scheduler.now(),
            },
            dedupKeys.rejected(batchId),
          ),
        ]);
      }
      return await this.appendReliably(streams.batch(batchId), [
        newEvent(
          "enrichment.accepted",
          { batchId, enrichmentId, acceptedAt: this.scheduler.now() },
          dedupKeys.accepted(batchId),
        ),
      ]);
    } finally {
      this.inFlight.delete(batchId);
    }
  }

  /** A batch requested but never answered: recorded as ambiguous (once) so that its job can settle. */
  private async markAmbiguous(batch: BatchState): Promise<string> {
    const message =
      batch.rejected?.error.message ??
      "the request was recorded but the process stopped before FullEnrich's answer: the batch may or may not be running; it is not re-sent (check the provider's dashboard; to send it again, rerun with onAmbiguous: \"resubmit\", on the command line --on-ambiguous resubmit)";
    if (batch.rejected === null) {
      await this.appendReliably(streams.batch(batch.batchId), [
        newEvent(
          "enrichment.rejected",
          {
            batchId: batch.batchId,
            outcomeUnknown: true,
            error: { name: "InterruptedSubmission", message },
            rejectedAt: this.scheduler.now(),
          },
          dedupKeys.rejected(batch.batchId),
        ),
      ]);
    }
    return message;
  }

  private countCall(jobId: string): void {
    this.jobCalls.set(jobId, (this.jobCalls.get(jobId) ?? 0) + 1);
    this.callsChanged.next(jobId);
  }

  private assertOpen(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new FullEnrichError("the engine is closed");
  }
}

function describeError(error: unknown): { name: string; message: string; status?: number; code?: string } {
  const described: { name: string; message: string; status?: number; code?: string } = {
    name: error instanceof Error ? error.name : "Error",
    message: errorMessage(error),
  };
  const { status, code } = error as { status?: unknown; code?: unknown };
  if (typeof status === "number") described.status = status;
  if (typeof code === "string" && code !== "") described.code = code;
  return described;
}
