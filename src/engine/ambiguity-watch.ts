import type { Subscription } from "rxjs";
import { dedupKeys, newEvent, streams } from "../events/event-types.js";
import { awaitsAdoption, type BatchState } from "../events/projections/enrichment-state.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import { appendReliably, type ReliableAppendDeps } from "./append-reliably.js";
import { webhookDeadline } from "./timings.js";

/**
 * Watches POSTs that left without an answer in webhook mode. Their webhook may still come: its
 * records carry the batch's correlation ids, so reconciliation adopts the enrichment it names
 * (recording the batch as accepted). If no delivery names the batch by its webhook deadline (its
 * expected finish, plus the provider's retry window, plus slack, counted from when the POST
 * left), the batch is abandoned: treated as never started (its job reports it, or sends it again
 * on request).
 */
export class AmbiguityWatch {
  private readonly timers = new Map<string, Subscription>();
  private closed = false;

  constructor(
    private readonly deps: ReliableAppendDeps & {
      projection: EnrichmentsProjection;
      /** The log as the engine processed it: caught up with, and judged on, at the deadline. */
      log: {
        whenProcessed(position: number): Promise<void>;
        exclusive<T>(section: () => Promise<T>): Promise<T>;
      };
    },
  ) {}

  /** Starts watching a batch (again); nothing happens if it does not await adoption. */
  watch(batch: BatchState): void {
    if (this.closed || this.timers.has(batch.batchId) || !awaitsAdoption(batch)) return;
    const { scheduler, timings } = this.deps;
    const at = webhookDeadline(timings, batch.requestedAt);
    const timer = scheduler.schedule(
      () => {
        this.timers.delete(batch.batchId);
        this.expire(batch.batchId).catch(() => undefined);
      },
      Math.max(0, at - scheduler.now()),
    );
    this.timers.set(batch.batchId, timer);
  }

  /** Every batch of the log that awaits adoption. */
  watchAll(): void {
    for (const batch of this.deps.projection.batches()) this.watch(batch);
  }

  /** The batch was adopted (or settled otherwise): stop watching it. */
  settled(batchId: string): void {
    this.timers.get(batchId)?.unsubscribe();
    this.timers.delete(batchId);
  }

  /** Stops every timer. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) timer.unsubscribe();
    this.timers.clear();
  }

  /**
   * At the deadline: first every delivery stored by then is processed (one naming the batch, not
   * yet reconciled, must win), then, if still nothing adopted it, the batch is abandoned.
   */
  private async expire(batchId: string): Promise<void> {
    const { log, store } = this.deps;
    await log.whenProcessed(await store.head());
    await log.exclusive(() => this.abandonIfUnadopted(batchId));
  }

  private async abandonIfUnadopted(batchId: string): Promise<void> {
    const batch = this.deps.projection.batch(batchId);
    if (this.closed || !batch || !awaitsAdoption(batch)) return;
    await appendReliably(this.deps, streams.batch(batchId), [
      newEvent(
        "enrichment.abandoned",
        {
          batchId,
          reason:
            "its POST got no answer, and no webhook delivery named its contacts by its webhook deadline: it is treated as never started",
          abandonedAt: this.deps.scheduler.now(),
        },
        dedupKeys.abandoned(batchId),
      ),
    ]);
  }
}
