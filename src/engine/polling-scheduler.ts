import type { Subscription } from "rxjs";
import { dedupKeys, type EventData, newEvent, streams } from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import type { EventStore } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import type { Scheduler } from "../internal/time.js";
import { type PollDeps, type PollOutcome, pollUntilSettled } from "./poll-waiter.js";
import { expectedFinish, failedDeliveryDeadline, type Timings, webhookDeadline } from "./timings.js";

type FallbackReason = EventData<"fallback.activated">["reason"];

interface Tracked {
  batch: BatchState;
  enrichmentId: string;
  /** When polling takes over if the batch webhook has not come (webhook mode). */
  deadline: { at: number; reason: FallbackReason; timer: Subscription } | null;
  waiter: Subscription | null;
}

/**
 * Decides, per outstanding enrichment, when it is polled:
 * - polling and "both" modes: from the expected minimum after acceptance;
 * - webhook mode: not at all, unless its batch event is overdue (expected finish + the provider's
 *   retry window + slack), or this receiver answered one of its deliveries non-2xx (then once the
 *   provider's retries would be spent), or, on resume, its expected finish passed while the
 *   process was down. Each activation is recorded as a `fallback.activated` event.
 * Polling stops as soon as the enrichment settles, however it settled.
 */
export class PollingScheduler {
  private readonly tracked = new Map<string, Tracked>();
  private closed = false;

  constructor(
    private readonly deps: PollDeps & {
      store: EventStore;
      logger: Logger;
      scheduler: Scheduler;
      timings: Timings;
      /** Whether polling may take over in webhook mode. */
      fallback: boolean;
    },
    private readonly onOutcome: (enrichmentId: string, outcome: PollOutcome) => void = () => {},
  ) {}

  /** Enrichments being watched or polled. */
  get size(): number {
    return this.tracked.size;
  }

  isPolling(enrichmentId: string): boolean {
    return this.tracked.get(enrichmentId)?.waiter != null;
  }

  /** Starts watching an accepted batch according to its mode. `resumed`: after a restart. */
  track(batch: BatchState, resumed = false): void {
    const enrichmentId = batch.enrichmentId;
    if (this.closed || enrichmentId === null || batch.acceptedAt === null || this.tracked.has(enrichmentId))
      return;
    const entry: Tracked = { batch, enrichmentId, deadline: null, waiter: null };
    this.tracked.set(enrichmentId, entry);
    const { timings, scheduler } = this.deps;
    const now = scheduler.now();
    if (batch.mode !== "webhook") {
      this.startPolling(entry, Math.max(now, batch.acceptedAt + timings.firstPollAfterMs));
      return;
    }
    if (!this.deps.fallback) return;
    if (resumed && expectedFinish(timings, batch.acceptedAt) <= now) {
      void this.activate(
        entry,
        "resumed-overdue",
        "its expected finish passed while this process was down: its deliveries may have gone to a closed port",
      );
      return;
    }
    this.arm(entry, webhookDeadline(timings, batch.acceptedAt), "deadline");
  }

  /** This receiver answered a delivery with non-2xx: poll once the provider's retries would be spent. */
  deliveryFailed(enrichmentId: string | null, failedAt: number): void {
    if (!this.deps.fallback) return;
    const at = failedDeliveryDeadline(this.deps.timings, failedAt);
    const targets = enrichmentId === null ? [...this.tracked.values()] : [this.tracked.get(enrichmentId)];
    for (const entry of targets) {
      if (entry && entry.waiter === null && (entry.deadline === null || at < entry.deadline.at)) {
        this.arm(entry, at, "delivery-failed");
      }
    }
  }

  /** The enrichment settled (completed or failed): stop everything about it. */
  settled(enrichmentId: string): void {
    const entry = this.tracked.get(enrichmentId);
    if (!entry) return;
    entry.deadline?.timer.unsubscribe();
    entry.waiter?.unsubscribe();
    this.tracked.delete(enrichmentId);
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.tracked.keys()]) this.settled(id);
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
    if (entry.waiter !== null || this.closed) return;
    const { store, scheduler, logger } = this.deps;
    const now = scheduler.now();
    this.startPolling(entry, now);
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

  private startPolling(entry: Tracked, startAt: number): void {
    if (entry.waiter !== null || entry.batch.acceptedAt === null) return;
    entry.deadline?.timer.unsubscribe();
    entry.deadline = null;
    const { timings } = this.deps;
    entry.waiter = pollUntilSettled(this.deps, {
      enrichmentId: entry.enrichmentId,
      kind: entry.batch.kind,
      batchId: entry.batch.batchId,
      startAt,
      giveUpAt: entry.batch.acceptedAt + timings.maxWaitMs,
    }).subscribe({
      next: (outcome) => this.onOutcome(entry.enrichmentId, outcome),
      error: (error: unknown) => {
        // Only the store can fail here (recording a failure): try again after a back-off.
        this.deps.logger.error("polling stopped on an error; retrying after a back-off", {
          enrichmentId: entry.enrichmentId,
          error: (error as Error).message,
        });
        entry.waiter = null;
        const restart = this.deps.scheduler.schedule(() => {
          if (this.tracked.get(entry.enrichmentId) === entry)
            this.startPolling(entry, this.deps.scheduler.now());
        }, timings.errorBackoffMs);
        entry.deadline = {
          at: this.deps.scheduler.now() + timings.errorBackoffMs,
          reason: "deadline",
          timer: restart,
        };
      },
    });
  }
}
