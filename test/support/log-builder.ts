import { decide } from "../../src/engine/reconcile.js";
import {
  type DomainEvent,
  type EventData,
  type EventType,
  parseEvent,
} from "../../src/events/event-types.js";
import { EnrichmentsProjection } from "../../src/events/projections/enrichments-projection.js";
import type { NewEvent } from "../../src/events/store.js";

const keying = { correlationKey: "_fxr", idField: null };

/**
 * An in-memory log driven through the projection and the reconciler exactly as the engine does:
 * fold, decide, fold the decisions, append them (dedup keys honoured), and so on until quiet.
 */
export class LogBuilder {
  readonly projection = EnrichmentsProjection.empty();
  readonly events: DomainEvent[] = [];
  private readonly dedup = new Set<string>();
  now = 0;

  append<T extends EventType>(
    type: T,
    data: EventData<T>,
    dedupKey?: string,
    stream = "test",
  ): DomainEvent | undefined {
    return this.appendNew({ type, version: 1, data, ...(dedupKey ? { dedupKey } : {}) }, stream);
  }

  private appendNew(event: NewEvent, stream = "test"): DomainEvent | undefined {
    if (event.dedupKey) {
      if (this.dedup.has(event.dedupKey)) return undefined;
      this.dedup.add(event.dedupKey);
    }
    const stored = parseEvent({
      position: this.events.length + 1,
      stream,
      streamVersion: 1,
      type: event.type,
      version: event.version,
      data: event.data,
      dedupKey: event.dedupKey ?? null,
      recordedAt: new Date(this.now).toISOString(),
    });
    this.events.push(stored);
    this.projection.evolve(stored);
    const decisions = decide(this.projection, stored, { defaultKeying: keying, now: this.now });
    for (const decision of decisions) for (const next of decision.events) this.projection.evolve(next);
    for (const decision of decisions) {
      for (const next of decision.events) this.appendNew(next, decision.stream);
    }
    return stored;
  }

  ofType<T extends EventType>(type: T): Extract<DomainEvent, { type: T }>[] {
    return this.events.filter((event): event is Extract<DomainEvent, { type: T }> => event.type === type);
  }
}

export { keying as testKeying };
