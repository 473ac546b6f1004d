import type { Subscription } from "rxjs";
import { dedupKeys, type EventData, newEvent, streams } from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import type { EventStore } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import type { Scheduler } from "../internal/time.js";
import type { ProviderTimings } from "./learned-timings.js";
import { LocalPollLeases, type PollLeases } from "./poll-leases.js";
import { type PollDeps, type PollOutcome, pollUntilSettled } from "./poll-waiter.js";
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
}

/** When one of some enrichments is polled next, as far as this process knows. */
export interface NextPoll {
  enrichmentId: string;
  at: number;
  /**
   * The enrichment waits on its webhook: `at` is its deadline, when polling takes over if no
   * delivery came by then. False: `at` is a poll of this process (in the past when it is due and
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
  /** Whether polling may take over in webhook mode. */
  fallback: boolean;
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
 *   process was down. Each activation is recorded as a `fallback.activated` event.
 * Polling stops as soon as the enrichment settles, however it settled. With several instances,
 * only the holder of an enrichment's lease polls it; the others retry to take the lease over.
 */
export class PollingScheduler implements NextPollQuery {
  private readonly tracked = new Map<string, Tracked>();
  private readonly shared: boolean;
  private closed = false;

  constructor(
    private readonly deps: PollingSchedulerDeps,
    private readonly onOutcome: (enrichmentId: string, outcome: PollOutcome) => void = () => {},
  ) {
    this.shared = !(deps.leases instanceof LocalPollLeases);
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
    this.arm(entry, provider.webhookDeadline(batch.acceptedAt, size), "deadline");
  }

  /** This receiver answered a delivery with non-2xx: poll once the provider's retries would be spent. */
  deliveryFailed(enrichmentId: string | null, failedAt: number): void {
    if (!this.deps.fallback) return;
    const at = failedDeliveryDeadline(this.deps.timings, failedAt);
    const targets = enrichmentId === null ? [...this.tracked.values()] : [this.tracked.get(enrichmentId)];
    for (const entry of targets) {
      if (entry && entry.polling === null && (entry.deadline === null || at < entry.deadline.at)) {
        this.arm(entry, at, "delivery-failed");
      }
    }
  }

  /** The enrichment settled (completed or failed): stop everything about it and give its lease up. */
  settled(enrichmentId: string): void {
    const entry = this.tracked.get(enrichmentId);
    if (!entry) return;
    this.tracked.delete(enrichmentId);
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
    if (entry.polling === null) return entry.deadline ? { at: entry.deadline.at, fallback: true } : null;
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

  private async activate(entry: Tracked, reason: FallbackReason, detail: string): Promise<void> {
    if (entry.polling !== null || this.closed) return;
    const { store, scheduler, logger } = this.deps;
    const now = scheduler.now();
    this.wantPolling(entry, now);
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
    entry.waiter = pollUntilSettled(this.deps, {
      enrichmentId: entry.enrichmentId,
      kind: entry.batch.kind,
      batchId: entry.batch.batchId,
      startAt,
      giveUpAt: entry.batch.acceptedAt + timings.maxWaitMs,
    }).subscribe({
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
