import { withPayload } from "../events/delivery-body.js";
import type { DomainEvent, Keying } from "../events/event-types.js";
import type { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import { appendReliably, type ReliableAppendDeps } from "./append-reliably.js";
import { decide } from "./reconcile.js";

/** The reconciler's checkpoint in the store: the last event it decided on. */
const RECONCILER = "fullenrich-rx.reconciler";

/**
 * Runs reconciliation over the log: for each event not decided on yet (after its checkpoint), it
 * decides, folds the decision into the projection and appends it, moving the checkpoint in the
 * same transaction as the decision's last events. Events before the checkpoint were decided by an
 * earlier run (or another instance): their decisions are in the log already.
 */
export class Reconciler {
  private decidedUpTo = 0;

  constructor(
    private readonly deps: ReliableAppendDeps & {
      projection: EnrichmentsProjection;
      /** Keying of records whose batch is unknown (enrichments started by another tool). */
      keying: Keying;
    },
  ) {}

  /** Reads the checkpoint: call once, before the first event. */
  async start(): Promise<void> {
    this.decidedUpTo = await this.deps.store.getCheckpoint(RECONCILER);
  }

  /** Decides on one event (already folded into the projection), unless an earlier run did. */
  async reconcile(event: DomainEvent): Promise<void> {
    if (event.position <= this.decidedUpTo) return;
    const { projection } = this.deps;
    const observed = await this.withBody(event);
    const decisions = decide(projection, observed, {
      defaultKeying: this.deps.keying,
      now: this.deps.scheduler.now(),
    });
    // Folded before they are read back, so that the next observation sees this one's outcome.
    for (const decision of decisions) for (const decided of decision.events) projection.evolve(decided);
    for (const [index, decision] of decisions.entries()) {
      const last = index === decisions.length - 1;
      await appendReliably(
        this.deps,
        decision.stream,
        decision.events,
        last ? { checkpoint: { name: RECONCILER, position: event.position } } : {},
      );
    }
  }

  /** A delivery with its payload, read from the stored body when the event does not carry it. */
  private async withBody(event: DomainEvent): Promise<DomainEvent> {
    if (event.type !== "webhook.received" || event.data.payload !== undefined) return event;
    const complete = await withPayload(this.deps.store, event);
    if (complete) return complete;
    this.deps.logger.error("a parsed delivery's stored body cannot be read back; it resolves nothing", {
      position: event.position,
      digest: event.data.digest,
    });
    return event;
  }
}
