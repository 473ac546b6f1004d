import type { Subscription } from "rxjs";
import { dedupKeys, type EventData, newEvent, streams } from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import type { EventStore } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import type { Scheduler } from "../internal/time.js";
import { DeliveryHealth } from "./delivery-health.js";
import type { ProviderTimings } from "./learned-timings.js";
import { LocalPollLeases, type PollLeases } from "./poll-leases.js";
import {
  observeOnce,
  type PollDeps,
  type PollOutcome,
  type PollStep,
  pollUntilSettled,
} from "./poll-waiter.js";
import { failedDeliveryDeadline, type Timings } from "./timings.js";

type FallbackReason = EventData<"fallback.activated">["reason"];

interface Tracked {
  batch: BatchState;
  enrichmentId: string;
  /** When polling takes over if the batch webhook has not come (webhook mode). */
  deadline: { at: number; reason: FallbackReason; timer: Subscription } | null;
  /** Polling is wanted from `startAt` on (it runs only while this instance holds the lease). */
  polling: { startAt: number } | null;
  waiter: Subscription | null;
  /** Renews the lease while held; retries to take it while another instance holds it. */
  leaseTimer: Subscription | null;
  /** When the running waiter sends its next poll (in the past: due, or on the wire). */
  nextPollAt: number | null;
  /** A webhook delivery of it was stored (webhook mode): it is never probed. */
  delivered: boolean;
  /** When it is probed (one poll: did it finish without a delivery?), while it waits on its webhook. */
  probe: { at: number; timer: Subscription } | null;
  /** Its probe on the wire. */
  probeCall: AbortController | null;
}

/** Whether the log holds a webhook delivery of an enrichment. */
export interface DeliveriesQuery {
  webhookSeen(enrichmentId: string): boolean;
}

const FAILING_DETAIL =
  "webhook deliveries are failing here (a probed batch had finished without one, or the start-up probe never arrived): polled instead";

/** When one of some enrichments is polled next, as far as this process knows. */
export interface NextPoll {
  enrichmentId: string;
  at: number;
  /**
   * The enrichment waits on its webhook: `at` is when, if no delivery came by then, it is probed
   * with one poll (at its expected finish plus slack) or polling takes over (its deadline). False: `at` is a poll of this process (in the past when it is due and
   * waits for a rate-limit slot, or is on the wire).
   */
  fallback: boolean;
}

/** Reads when enrichments are polled next (see {@link PollingScheduler.nextPoll}). */
export interface NextPollQuery {
  /** The earliest next poll (or polling takeover) among these enrichments, or null. */
  nextPoll(enrichmentIds: Iterable<string>): NextPoll | null;
}

/** What the scheduler needs. */
export interface PollingSchedulerDeps extends PollDeps {
  store: EventStore;
  logger: Logger;
  scheduler: Scheduler;
  timings: Timings;
  /** The provider's timings as the log saw them (expected finish, first poll, deadlines). */
  provider: ProviderTimings;
  /** Whether polling may take over in webhook mode (and overdue batches are probed). */
  fallback: boolean;
  /** Which enrichments already had a delivery (not probed when followed again). */
  deliveries?: DeliveriesQuery;
  /** Who polls what when several instances share the log. */
  leases: PollLeases;
  /** This instance's name in the leases. */
  owner: string;
}

/**
 * Decides, per outstanding enrichment, when it is polled:
 * - polling and "both" modes: from the expected minimum after acceptance;
 * - webhook mode: not at all, unless its batch event is overdue (expected finish + the provider's
 *   retry window + slack), or this receiver answered one of its deliveries non-2xx (then once the
 *   provider's retries would be spent), or, on resume, its expected finish passed while the
 *   process was down, or deliveries are failing. Each activation is recorded as a
 *   `fallback.activated` event.
 * - webhook mode, noticing an outage: a batch with no delivery by its expected finish plus slack is
 *   *probed* with one poll (one probe at a time). Found finished: deliveries are failing (see
 *   {@link DeliveryHealth}), every batch waiting on its webhook is polled (at once when overdue),
 *   and so are new batches, until a delivery arrives again. Found running: a slow batch, no
 *   outage; probes pause, and the batch keeps waiting on its webhook.
 * The expected finish, first poll and deadlines come from the timings learned from the log
 * ({@link ProviderTimings}).
 * Polling stops as soon as the enrichment settles, however it settled. With several instances,
 * only the holder of an enrichment's lease polls it; the others retry to take the lease over.
 */
export class PollingScheduler implements NextPollQuery {
  private readonly tracked = new Map<string, Tracked>();
  /** Batches whose probe is due while another one is on the wire. */
  private readonly awaitingProbe = new Set<Tracked>();
  private readonly health: DeliveryHealth;
  private readonly shared: boolean;
  private closed = false;

  constructor(
    private readonly deps: PollingSchedulerDeps,
    private readonly onOutcome: (enrichmentId: string, outcome: PollOutcome) => void = () => {},
  ) {
    this.shared = !(deps.leases instanceof LocalPollLeases);
    this.health = new DeliveryHealth(deps);
  }

  /** Webhook deliveries are failing here: batches in webhook mode are polled until one arrives. */
  get deliveriesFailing(): boolean {
    return this.health.failing;
  }

  /** Enrichments being watched or polled. */
  get size(): number {
    return this.tracked.size;
  }

  /** Whether polling is wanted for the enrichment (by this instance, or by the lease holder). */
  isPolling(enrichmentId: string): boolean {
    return this.tracked.get(enrichmentId)?.polling != null;
  }

  /**
   * The earliest next poll (or polling takeover) among these enrichments; null when none of them is
   * watched here, or another instance holds their leases.
   */
  nextPoll(enrichmentIds: Iterable<string>): NextPoll | null {
    let next: NextPoll | null = null;
    for (const enrichmentId of enrichmentIds) {
      const entry = this.tracked.get(enrichmentId);
      const at = entry ? this.nextOf(entry) : null;
      if (at !== null && (next === null || at.at < next.at)) next = { enrichmentId, ...at };
    }
    return next;
  }

  /** Starts watching an accepted batch according to its mode. `resumed`: after a restart. */
  track(batch: BatchState, resumed = false): void {
    const enrichmentId = batch.enrichmentId;
    if (this.closed || enrichmentId === null || batch.acceptedAt === null || this.tracked.has(enrichmentId)) {
      return;
    }
    const entry: Tracked = {
      batch,
      enrichmentId,
      deadline: null,
      polling: null,
      waiter: null,
      leaseTimer: null,
      nextPollAt: null,
      delivered: this.deps.deliveries?.webhookSeen(enrichmentId) ?? false,
      probe: null,
      probeCall: null,
    };
    this.tracked.set(enrichmentId, entry);
    const { provider, scheduler } = this.deps;
    const now = scheduler.now();
    const size = batch.keys.length;
    if (batch.mode !== "webhook") {
      this.wantPolling(entry, Math.max(now, batch.acceptedAt + provider.firstPollDelayMs(size)));
      return;
    }
    if (!this.deps.fallback) return;
    if (resumed && provider.expectedFinish(batch.acceptedAt, size) <= now) {
      void this.activate(
        entry,
        "resumed-overdue",
        "its expected finish passed while this process was down: its deliveries may have gone to a closed port",
      );
      return;
    }
    if (this.health.failing) {
      const startAt = Math.max(now, batch.acceptedAt + provider.firstPollDelayMs(size));
      void this.activate(entry, "deliveries-failing", FAILING_DETAIL, startAt);
      return;
    }
    this.arm(entry, provider.webhookDeadline(batch.acceptedAt, size), "deadline");
    if (!entry.delivered) this.armProbe(entry, provider.probeAt(batch.acceptedAt, size));
  }

  /**
   * A webhook delivery was stored (for this enrichment, or for one another process follows): its
   * batch is not probed, and deliveries work again if they were failing.
   */
  deliveryReceived(enrichmentId: string): void {
    const entry = this.tracked.get(enrichmentId);
    if (entry) {
      entry.delivered = true;
      this.cancelProbe(entry);
    }
    void this.health.deliveryArrived();
  }

  /**
   * Deliveries do not arrive (the start-up probe delivery never came): every batch waiting on its
   * webhook, and every new one, is polled until a delivery arrives.
   */
  async deliveriesFail(detail: string): Promise<void> {
    if (!this.deps.fallback) return;
    if (await this.health.declareFailing(detail, null)) this.pollAllWaiting();
  }

  /** This receiver answered a delivery with non-2xx: poll once the provider's retries would be spent. */
  deliveryFailed(enrichmentId: string | null, failedAt: number): void {
    if (!this.deps.fallback) return;
    const at = failedDeliveryDeadline(this.deps.timings, failedAt);
    const targets = enrichmentId === null ? [...this.tracked.values()] : [this.tracked.get(enrichmentId)];
    for (const entry of targets) {
      if (entry && entry.polling === null && (entry.deadline === null || at < entry.deadline.at)) {
        this.arm(entry, at, "delivery-failed");
        // The delivery reached this receiver (its store failed): no outage to find out about.
        this.cancelProbe(entry);
      }
    }
  }

  /** The enrichment settled (completed or failed): stop everything about it and give its lease up. */
  settled(enrichmentId: string): void {
    const entry = this.tracked.get(enrichmentId);
    if (!entry) return;
    this.tracked.delete(enrichmentId);
    this.cancelProbe(entry);
    entry.probeCall?.abort();
    entry.deadline?.timer.unsubscribe();
    entry.leaseTimer?.unsubscribe();
    const held = entry.waiter !== null;
    entry.waiter?.unsubscribe();
    if (held && this.shared)
      void this.deps.leases.release(enrichmentId, this.deps.owner).catch(() => undefined);
  }

  /** Stops everything, giving every lease up. */
  close(): void {
    for (const id of [...this.tracked.keys()]) this.settled(id);
    this.closed = true;
  }

  private nextOf(entry: Tracked): { at: number; fallback: boolean } | null {
    if (entry.polling === null) {
      const at = Math.min(
        entry.deadline?.at ?? Number.POSITIVE_INFINITY,
        entry.probe?.at ?? Number.POSITIVE_INFINITY,
      );
      return Number.isFinite(at) ? { at, fallback: true } : null;
    }
    if (entry.waiter === null) {
      // Polling again after an error's back-off; or the lease is another instance's.
      if (entry.deadline) return { at: entry.deadline.at, fallback: false };
      if (entry.leaseTimer !== null) return null;
    }
    return entry.nextPollAt === null ? null : { at: entry.nextPollAt, fallback: false };
  }

  private arm(entry: Tracked, at: number, reason: FallbackReason): void {
    entry.deadline?.timer.unsubscribe();
    const { scheduler } = this.deps;
    const timer = scheduler.schedule(
      () => {
        entry.deadline = null;
        const detail =
          reason === "deadline"
            ? "no batch webhook by its expected finish plus the provider's retry window"
            : "a delivery got a non-2xx answer here and the provider's retries would be spent by now";
        void this.activate(entry, reason, detail);
      },
      Math.max(0, at - scheduler.now()),
    );
    entry.deadline = { at, reason, timer };
  }

  private armProbe(entry: Tracked, at: number): void {
    this.cancelProbe(entry);
    const { scheduler } = this.deps;
    const timer = scheduler.schedule(() => this.probeDue(entry), Math.max(0, at - scheduler.now()));
    if (!timer.closed) entry.probe = { at, timer };
  }

  private cancelProbe(entry: Tracked): void {
    entry.probe?.timer.unsubscribe();
    entry.probe = null;
    this.awaitingProbe.delete(entry);
  }

  /** A batch waiting on its webhook reached its probe time with no delivery. */
  private probeDue(entry: Tracked): void {
    entry.probe = null;
    if (this.closed || this.tracked.get(entry.enrichmentId) !== entry) return;
    if (entry.polling !== null || entry.delivered) return;
    if (this.health.failing) {
      void this.activate(entry, "deliveries-failing", FAILING_DETAIL);
      return;
    }
    if (this.health.probing) {
      this.awaitingProbe.add(entry);
      return;
    }
    const now = this.deps.scheduler.now();
    const at = this.health.nextProbeAt(now);
    if (at > now) {
      this.armProbeBeforeDeadline(entry, at);
      return;
    }
    void this.sendProbe(entry);
  }

  /** Probes later, unless polling takes over by then anyway. */
  private armProbeBeforeDeadline(entry: Tracked, at: number): void {
    if (entry.deadline === null || at < entry.deadline.at) this.armProbe(entry, at);
  }

  /** One poll of an overdue batch: finished (no webhook came) means deliveries are failing. */
  private async sendProbe(entry: Tracked): Promise<void> {
    const { enrichmentId } = entry;
    const controller = new AbortController();
    entry.probeCall = controller;
    this.health.probeStarted(enrichmentId);
    this.deps.logger.info("probing a batch overdue on its webhook with one poll", { enrichmentId });
    let step: PollStep;
    try {
      step = await observeOnce(this.deps, { enrichmentId, kind: entry.batch.kind }, controller.signal);
    } catch {
      this.health.probeAbandoned(enrichmentId);
      this.releaseAwaitingProbe();
      return;
    } finally {
      entry.probeCall = null;
    }
    if (step.kind === "observed" && step.done) {
      await this.health.probeFinished(enrichmentId, "finished");
      // The probe's answer, in the log, resolves its own batch.
      this.pollAllWaiting(entry);
    } else if (step.kind === "fatal") {
      await this.health.probeFinished(enrichmentId, "inconclusive");
      void this.activate(entry, "probe", `the probe of an overdue batch failed: ${step.error}`);
    } else {
      await this.health.probeFinished(enrichmentId, step.kind === "observed" ? "running" : "inconclusive");
      if (this.tracked.get(enrichmentId) === entry && entry.polling === null && !entry.delivered)
        this.armProbeBeforeDeadline(entry, this.health.nextProbeAt(this.deps.scheduler.now()));
    }
    this.releaseAwaitingProbe();
  }

  private releaseAwaitingProbe(): void {
    const waiting = [...this.awaitingProbe];
    this.awaitingProbe.clear();
    for (const entry of waiting) this.probeDue(entry);
  }

  /** Deliveries are failing: every batch waiting on its webhook is polled (at once when overdue). */
  private pollAllWaiting(except?: Tracked): void {
    const { provider, scheduler } = this.deps;
    const now = scheduler.now();
    for (const entry of [...this.tracked.values()]) {
      if (entry === except || entry.polling !== null || entry.delivered || entry.batch.mode !== "webhook")
        continue;
      const acceptedAt = entry.batch.acceptedAt as number;
      const startAt = Math.max(now, acceptedAt + provider.firstPollDelayMs(entry.batch.keys.length));
      void this.activate(entry, "deliveries-failing", FAILING_DETAIL, startAt);
    }
  }

  private async activate(
    entry: Tracked,
    reason: FallbackReason,
    detail: string,
    startAt?: number,
  ): Promise<void> {
    if (entry.polling !== null || this.closed) return;
    const { store, scheduler, logger } = this.deps;
    const now = scheduler.now();
    this.wantPolling(entry, startAt ?? now);
    logger.info("polling takes over for an enrichment", { enrichmentId: entry.enrichmentId, reason });
    try {
      await store.append(streams.enrichment(entry.enrichmentId), [
        newEvent(
          "fallback.activated",
          {
            enrichmentId: entry.enrichmentId,
            batchId: entry.batch.batchId,
            reason,
            detail,
            activatedAt: now,
          },
          dedupKeys.fallback(entry.enrichmentId, reason),
        ),
      ]);
    } catch (error) {
      logger.warn("could not record a fallback activation", { error: (error as Error).message });
    }
  }

  private wantPolling(entry: Tracked, startAt: number): void {
    if (entry.polling !== null) return;
    entry.deadline?.timer.unsubscribe();
    entry.deadline = null;
    this.cancelProbe(entry);
    entry.polling = { startAt };
    entry.nextPollAt = startAt;
    void this.claim(entry);
  }

  /** Takes the enrichment's lease and polls; or, when another instance holds it, tries again later. */
  private async claim(entry: Tracked): Promise<void> {
    const { leases, owner, timings, scheduler, logger } = this.deps;
    let held = false;
    try {
      held = await leases.acquire(entry.enrichmentId, owner, timings.leaseTtlMs);
    } catch (error) {
      logger.warn("could not take a poll lease; trying again", { error: (error as Error).message });
    }
    if (this.tracked.get(entry.enrichmentId) !== entry) {
      if (held && this.shared) await leases.release(entry.enrichmentId, owner).catch(() => undefined);
      return;
    }
    if (!held) {
      entry.leaseTimer = scheduler.schedule(() => {
        entry.leaseTimer = null;
        void this.claim(entry);
      }, timings.leaseTtlMs);
      return;
    }
    this.startWaiter(entry);
    if (this.shared) this.renewLater(entry);
  }

  private renewLater(entry: Tracked): void {
    const { leases, owner, timings, scheduler, logger } = this.deps;
    entry.leaseTimer = scheduler.schedule(async () => {
      entry.leaseTimer = null;
      let held = false;
      try {
        held = await leases.acquire(entry.enrichmentId, owner, timings.leaseTtlMs);
      } catch (error) {
        logger.warn("could not renew a poll lease", { error: (error as Error).message });
      }
      if (this.tracked.get(entry.enrichmentId) !== entry) return;
      if (held) {
        this.renewLater(entry);
        return;
      }
      // Lost (expired while this process stalled, taken over): stop polling, try again later.
      entry.waiter?.unsubscribe();
      entry.waiter = null;
      void this.claim(entry);
    }, timings.leaseTtlMs / 3);
  }

  private startWaiter(entry: Tracked): void {
    if (entry.waiter !== null || entry.batch.acceptedAt === null || entry.polling === null) return;
    const { timings, scheduler } = this.deps;
    const startAt = Math.max(entry.polling.startAt, scheduler.now());
    entry.nextPollAt = startAt;
    const pollIntervalMs = this.deps.provider.pollIntervalMs(entry.batch.keys.length);
    entry.waiter = pollUntilSettled(
      { ...this.deps, timings: { ...timings, pollIntervalMs } },
      {
        enrichmentId: entry.enrichmentId,
        kind: entry.batch.kind,
        batchId: entry.batch.batchId,
        startAt,
        giveUpAt: entry.batch.acceptedAt + timings.maxWaitMs,
      },
    ).subscribe({
      next: (outcome) => {
        entry.nextPollAt =
          outcome.kind === "not-yet" || outcome.kind === "retrying"
            ? scheduler.now() + outcome.nextInMs
            : null;
        this.onOutcome(entry.enrichmentId, outcome);
      },
      error: (error: unknown) => {
        // Only the store can fail here (recording a failure): try again after a back-off.
        this.deps.logger.error("polling stopped on an error; retrying after a back-off", {
          enrichmentId: entry.enrichmentId,
          error: (error as Error).message,
        });
        entry.waiter = null;
        const restart = scheduler.schedule(() => {
          if (this.tracked.get(entry.enrichmentId) === entry) this.startWaiter(entry);
        }, timings.errorBackoffMs);
        entry.deadline = { at: scheduler.now() + timings.errorBackoffMs, reason: "deadline", timer: restart };
      },
    });
  }
}
