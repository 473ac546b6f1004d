import { filter, map, type Observable, type Subscription, share } from "rxjs";
import { FullEnrichError } from "../api/errors.js";
import type { EnrichContact, ReverseContact } from "../api/request-schemas.js";
import type { DomainEvent, EventOf } from "../events/event-types.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import { EngineMetrics, meterOf, observeDeliveries } from "../internal/metrics.js";
import { AmbiguityWatch } from "./ambiguity-watch.js";
import { BatchSubmitter } from "./batch-submitter.js";
import { StoreCallJournal } from "./call-journal.js";
import { type ResultConsumer, resultConsumer } from "./consumer.js";
import { type ContactResult, toContactResult } from "./contact-result.js";
import {
  type EngineOptions,
  type JobOptions,
  type ResolvedEngineOptions,
  type ResumeReport,
  resolveEngineOptions,
} from "./engine-options.js";
import type { EnrichmentJob } from "./job.js";
import { JobCalls } from "./job-calls.js";
import { Jobs } from "./jobs.js";
import { KnownContacts } from "./known-contacts.js";
import { ProviderTimings } from "./learned-timings.js";
import { LogFollower } from "./log-follower.js";
import { LocalPollLeases } from "./poll-leases.js";
import { PollingScheduler } from "./polling-scheduler.js";
import { ProjectionKeeper } from "./projection-keeper.js";
import { Reconciler } from "./reconciler.js";
import { resumeFollowing } from "./resume.js";
import { RunningAtProvider, RunningLimit } from "./running-limit.js";
import { timedStore } from "./timed-store.js";
import { checkWebhookPath, DEFAULT_PROBE_TIMEOUT_MS, type WebhookCheck } from "./webhook-check.js";

/**
 * The engine: one observable of results. It submits batches (recording each request as its POST
 * leaves; contacts already enriched in the log are reused, not sent again), follows every
 * outstanding enrichment by webhook and/or rate-limited polling, and
 * reconciles every observation from the log, so each contact is emitted exactly once, whichever way
 * it arrived, across duplicates, losses and restarts.
 *
 * A facade over pieces that each own one thing: the `LogFollower` (following the log), the
 * `Reconciler` (deciding what observations imply), the `BatchSubmitter` (record → POST →
 * record), the `PollingScheduler` (who is polled when), the `RunningLimit` (the
 * provider's 100 running enrichments) and `Jobs` (splitting, resuming and submitting jobs).
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
  /** Every contact resolved from the engine's start on, by any job or process (hot). */
  readonly results$: Observable<ContactResult>;

  /**
   * The provider's timings as this log saw them: the expected finish, first poll, probe time and
   * webhook deadline of a batch of a given size, learned from the completion times in the log
   * (the documented 30–90 s until enough batches were seen).
   */
  readonly providerTimings: ProviderTimings;

  private readonly options: ResolvedEngineOptions;
  private readonly keeper: ProjectionKeeper;
  private readonly projection: EnrichmentsProjection;
  private readonly follower: LogFollower;
  private readonly reconciler: Reconciler;
  private readonly submitter: BatchSubmitter;
  private readonly polling: PollingScheduler;
  private readonly runningLimit: RunningLimit;
  private readonly ambiguity: AmbiguityWatch;
  private readonly calls: JobCalls;
  private readonly jobs: Jobs;
  private readonly subscriptions: Subscription[] = [];
  private readonly metrics: EngineMetrics;
  private readonly stopObserving: (() => void)[] = [];
  private readonly closing = new AbortController();
  private closed = false;
  private check: Promise<WebhookCheck | null> = Promise.resolve(null);

  private constructor(options: ResolvedEngineOptions, keeper: ProjectionKeeper, metrics: EngineMetrics) {
    this.options = options;
    this.metrics = metrics;
    this.keeper = keeper;
    this.projection = keeper.projection;
    const { store, timings, scheduler, logger } = options;
    const reliable = { store, timings, scheduler, logger, isClosed: () => this.closed };
    this.calls = new JobCalls(this.projection);
    this.providerTimings = new ProviderTimings(timings, this.projection);
    this.follower = new LogFollower({ store, timings, scheduler, logger });
    this.reconciler = new Reconciler({ ...reliable, projection: this.projection, keying: options.keying });
    this.submitter = new BatchSubmitter({
      ...reliable,
      client: options.client,
      mode: options.mode,
      webhook: options.webhook,
      keying: options.keying,
      countCall: (jobId) => this.calls.count(jobId),
    });
    this.polling = new PollingScheduler({
      client: options.client,
      store,
      timings,
      provider: this.providerTimings,
      scheduler,
      random: options.random,
      logger,
      fallback: options.fallback,
      deliveries: this.projection,
      leases: options.leases ?? new LocalPollLeases(),
      owner: options.instanceId,
      calls: this.calls,
    });
    this.runningLimit = new RunningLimit({
      max: options.maxRunning,
      scheduler,
      running: new RunningAtProvider(this.projection, timings, this.submitter),
    });
    this.ambiguity = new AmbiguityWatch({ ...reliable, projection: this.projection, log: this.follower });
    this.jobs = new Jobs({
      ...reliable,
      projection: this.projection,
      known: new KnownContacts(store),
      submitter: this.submitter,
      runningLimit: this.runningLimit,
      polling: this.polling,
      ambiguity: this.ambiguity,
      log: this.follower,
      calls: this.calls,
      rateBudget: options.client.limiter,
      keying: options.keying,
      provider: this.providerTimings,
      batchSize: options.batchSize,
      newId: options.newId,
      closing: this.closing.signal,
    });
    this.results$ = this.follower.events$.pipe(
      filter((event): event is EventOf<"contact.resolved"> => event.type === "contact.resolved"),
      map((event) => toContactResult(event, options.keying.correlationKey)),
      share(),
    );
  }

  /**
   * Creates an engine and replays the log into its projections before resolving. From then on,
   * every call its client makes is recorded in the log before it leaves, and the client's rate
   * budget counts the calls the log recorded in the last window (a rerun right after a crash
   * stays inside the account's limit). POSTs whose answer was lost in webhook mode are watched
   * until a delivery names them or their webhook deadline passes.
   */
  static async start(engineOptions: EngineOptions): Promise<EnrichmentEngine> {
    const resolved = resolveEngineOptions(engineOptions);
    const meter = meterOf(resolved.meterProvider);
    const metrics = new EngineMetrics(meter);
    const options = { ...resolved, store: timedStore(resolved.store, metrics) };
    const { client, store, logger, webhook } = options;
    const keeper = await ProjectionKeeper.load({ store, logger });
    const engine = new EnrichmentEngine(options, keeper, metrics);
    const receiver = webhook?.receiver;
    if (receiver) engine.stopObserving.push(observeDeliveries(meter, () => receiver.counters()));
    await engine.reconciler.start();
    const following = engine.follower.start((event, live) => engine.handle(event, live), keeper.from);
    if (webhook?.receiver) {
      engine.subscriptions.push(
        webhook.receiver.failures$.subscribe((failure) =>
          engine.polling.deliveryFailed(failure.enrichmentId, failure.at),
        ),
      );
    }
    await following;
    client.seedBudget(engine.projection.recentCalls());
    client.attachCallJournal(new StoreCallJournal(store, logger));
    engine.ambiguity.watchAll();
    engine.check = engine.checkWebhook();
    return engine;
  }

  /**
   * The start-up check of the webhook path (webhook mode with a receiver): whether a signed probe
   * delivery POSTed to the public URL reached the receiver, what was tried and what happened. It
   * runs in the background from `start` on; when the probe did not arrive, the engine polls this
   * run's batches (`deliveries.health` "failing" is in the log) until a delivery arrives. Null
   * when there was no check (polling or "both" mode, no receiver, `probe: false`, no fallback).
   */
  get webhookCheck(): Promise<WebhookCheck | null> {
    return this.check;
  }

  /**
   * A named consumer with a checkpoint kept in the store: `results$` starts after the stored
   * checkpoint; call `commit(result.position)` once a result is processed. An app that processes a
   * result and then commits gets each result once across restarts (make the processing idempotent
   * by `contactKey`, or append its outcome with the checkpoint, to close the gap in between).
   */
  consumer(name: string): ResultConsumer {
    return resultConsumer(this.options.store, this.follower, this.options.keying.correlationKey, name);
  }

  /** Enriches contacts. Validates synchronously (throws {@link InvalidRequestError}), then submits in the background. */
  enrich(contacts: readonly EnrichContact[], options: JobOptions = {}): EnrichmentJob {
    this.assertOpen();
    return this.jobs.start("enrich", contacts, options);
  }

  /** Looks up people from their email addresses. */
  reverseLookup(contacts: readonly (string | ReverseContact)[], options: JobOptions = {}): EnrichmentJob {
    this.assertOpen();
    const normalised = contacts.map((contact) =>
      typeof contact === "string" ? { email: contact } : contact,
    );
    return this.jobs.start("reverse", normalised, options);
  }

  /**
   * After a restart: every unfinished enrichment in the log is followed again (webhook deadline or
   * polling; at once for those whose expected finish passed while the process was down). Batches
   * whose POST got no answer are awaited while a webhook may still name them (webhook mode, until
   * their webhook deadline), and otherwise reported; never silently re-sent.
   */
  async resume(): Promise<ResumeReport> {
    this.assertOpen();
    return this.follower.exclusive(() =>
      resumeFollowing({
        projection: this.projection,
        polling: this.polling,
        submitter: this.submitter,
        ambiguity: this.ambiguity,
        timings: this.options.timings,
      }),
    );
  }

  private async checkWebhook(): Promise<WebhookCheck | null> {
    const { mode, webhook, fallback, scheduler, client, logger } = this.options;
    if (mode !== "webhook" || !fallback || !webhook?.receiver || webhook.probe === false) return null;
    try {
      const check = await checkWebhookPath({
        url: webhook.url,
        receiver: webhook.receiver,
        baseUrl: client.baseUrl,
        fetch: webhook.probe?.fetch ?? ((url, init) => fetch(url, init)),
        timeoutMs: webhook.probe?.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
        scheduler,
      });
      if (check.arrived) logger.info("webhook path checked: a probe delivery reached the receiver");
      else if (!this.closed) await this.polling.deliveriesFail(`start-up check: ${check.detail}`);
      return check;
    } catch (error) {
      logger.warn("could not check the webhook path", { error: (error as Error).message });
      return null;
    }
  }

  /** Stops polling, timers and the log subscription. The client and the store stay open (they are yours). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new FullEnrichError("the engine was closed before the batch was sent"));
    this.polling.close();
    this.ambiguity.close();
    this.runningLimit.close();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    for (const stop of this.stopObserving.splice(0)) stop();
    // A snapshot of where the log was handled up to, so that the next start replays little.
    if (!this.follower.failure) await this.follower.exclusive(() => this.keeper.flush());
    this.follower.close();
    this.calls.close();
  }

  /** `await using engine = await EnrichmentEngine.start(…)`: {@link close} at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The log, one event at a time: projection, reconciliation, reactions, then what ended leaves memory. */
  private async handle(event: DomainEvent, live: boolean): Promise<void> {
    await this.keeper.prepare(event);
    this.projection.evolve(event);
    await this.reconciler.reconcile(event);
    if (live) {
      this.react(event);
      this.measure(event);
    }
    this.keeper.settle(event);
    this.runningLimit.recheck();
  }

  /**
   * What the engine does about a new event: follow an accepted batch, watch one whose answer was
   * lost, stop following a settled one, note that deliveries arrive.
   */
  private react(event: DomainEvent): void {
    switch (event.type) {
      case "enrichment.accepted": {
        this.ambiguity.settled(event.data.batchId);
        const batch = this.projection.batch(event.data.batchId);
        // A batch of a stopped job (its POST was on the wire when it stopped) is not followed.
        if (batch && !this.projection.isSettled(event.data.enrichmentId) && !this.jobs.isStopped(batch.jobId))
          this.polling.track(batch);
        return;
      }
      case "enrichment.rejected": {
        const batch = this.projection.batch(event.data.batchId);
        if (batch) this.ambiguity.watch(batch);
        return;
      }
      case "enrichment.completed":
      case "enrichment.failed":
        this.polling.settled(event.data.enrichmentId);
        return;
      case "webhook.received":
        // A delivery arrived: the path works (a quarantined one parsed again later proves nothing).
        if (event.data.reprocessedAt === undefined) this.polling.deliveryReceived(event.data.enrichmentId);
        return;
      default:
        return;
    }
  }

  /** A result this engine saw resolved: counted by source, its delay since its batch's POST. */
  private measure(event: DomainEvent): void {
    if (event.type !== "contact.resolved") return;
    const { batchId, source, via, resolvedAt } = event.data;
    const requestedAt = batchId === null ? null : (this.projection.batch(batchId)?.requestedAt ?? null);
    this.metrics.result(source, via, requestedAt === null ? null : resolvedAt - requestedAt);
  }

  private assertOpen(): void {
    const failure = this.follower.failure;
    if (failure) throw failure;
    if (this.closed) throw new FullEnrichError("the engine is closed");
  }
}
