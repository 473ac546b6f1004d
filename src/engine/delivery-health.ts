import { newEvent, streams } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import type { Scheduler } from "../internal/time.js";
import { retryWindowMs, type Timings } from "./timings.js";

/** What a probe (one poll of a batch overdue on its webhook) found. */
export type ProbeFinding =
  /** Finished, and no delivery came: deliveries are failing. */
  | "finished"
  /** Still running: a slow batch, not an outage. */
  | "running"
  /** The poll failed (429, 5xx, network): nothing learned. */
  | "inconclusive";

/** What {@link DeliveryHealth} needs. */
export interface DeliveryHealthDeps {
  store: EventStore;
  logger: Logger;
  scheduler: Scheduler;
  timings: Timings;
}

/**
 * Whether webhook deliveries reach this receiver, judged across batches: "working" until a probe
 * finds a batch finished with no delivery (or the start-up probe delivery never arrives), then
 * "failing" until any delivery arrives. Also paces the probes: one at a time, and after a probe
 * that found its batch still running (slow, not an outage), none for a while, the pause doubling
 * from `fallbackSlackMs` up to the provider's retry window while probes keep finding slow batches.
 * Each change of state is recorded as `deliveries.health`.
 */
export class DeliveryHealth {
  private state: "working" | "failing" = "working";
  private inFlight: string | null = null;
  private holdUntil = Number.NEGATIVE_INFINITY;
  private slowInARow = 0;

  constructor(private readonly deps: DeliveryHealthDeps) {}

  /** Deliveries are failing: batches are polled instead of waiting on their webhooks. */
  get failing(): boolean {
    return this.state === "failing";
  }

  /** A probe is on the wire. */
  get probing(): boolean {
    return this.inFlight !== null;
  }

  /** When the next probe may go: now, or later after a slow batch (while none is on the wire). */
  nextProbeAt(now: number): number {
    return Math.max(now, this.holdUntil);
  }

  /** A probe of the enrichment leaves now. */
  probeStarted(enrichmentId: string): void {
    this.inFlight = enrichmentId;
  }

  /** What the probe found; declares deliveries failing on a finished batch. */
  async probeFinished(enrichmentId: string, finding: ProbeFinding): Promise<void> {
    if (this.inFlight === enrichmentId) this.inFlight = null;
    const { timings, scheduler, logger } = this.deps;
    const now = scheduler.now();
    if (finding === "finished") {
      await this.declareFailing(
        "a probe found a batch finished with no webhook delivery by its expected finish plus slack",
        enrichmentId,
      );
      return;
    }
    if (finding === "running") {
      const pause = Math.min(retryWindowMs(timings), timings.fallbackSlackMs * 2 ** this.slowInARow);
      this.slowInARow++;
      this.holdUntil = now + pause;
      logger.info("a probe found an overdue batch still running: slow, not an outage", {
        enrichmentId,
        nextProbeInMs: pause,
      });
      return;
    }
    this.holdUntil = now + timings.errorBackoffMs;
  }

  /** The probe was called off (its batch settled, the engine closed). */
  probeAbandoned(enrichmentId: string): void {
    if (this.inFlight === enrichmentId) this.inFlight = null;
  }

  /** Deliveries are failing from now on (recorded, and logged as a warning); false when they already were. */
  async declareFailing(detail: string, enrichmentId: string | null): Promise<boolean> {
    if (this.state === "failing") return false;
    this.state = "failing";
    this.deps.logger.warn("webhook deliveries are not arriving: polling batches instead until one does", {
      detail,
      ...(enrichmentId === null ? {} : { enrichmentId }),
    });
    await this.record("failing", detail, enrichmentId);
    return true;
  }

  /** A delivery was stored: deliveries work (again). True when they were failing until now. */
  async deliveryArrived(): Promise<boolean> {
    this.slowInARow = 0;
    this.holdUntil = Number.NEGATIVE_INFINITY;
    if (this.state === "working") return false;
    this.state = "working";
    this.deps.logger.info("webhook deliveries arrive again: new batches wait on their webhooks");
    await this.record("working", "a webhook delivery arrived", null);
    return true;
  }

  private async record(
    state: "failing" | "working",
    detail: string,
    enrichmentId: string | null,
  ): Promise<void> {
    try {
      await this.deps.store.append(streams.deliveryHealth, [
        newEvent("deliveries.health", { state, detail, enrichmentId, at: this.deps.scheduler.now() }),
      ]);
    } catch (error) {
      this.deps.logger.warn("could not record the state of webhook deliveries", {
        error: (error as Error).message,
      });
    }
  }
}
