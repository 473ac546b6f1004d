import type { StoreReadCounters } from "../../store.js";

/**
 * What a store has handed out to readers (see {@link StoreReadCounters}): every store counts its
 * queries and the events they returned through one of these.
 * @internal
 */
export class ReadCounter {
  private queries = 0;
  private events = 0;

  /** Counts one query and the events it returned; returns them. */
  counted<T>(events: T[]): T[] {
    this.queries += 1;
    this.events += events.length;
    return events;
  }

  /** Counts a query that found one event or none (`findByDedupKey`). */
  countedOne<T>(event: T | undefined): T | undefined {
    this.queries += 1;
    if (event !== undefined) this.events += 1;
    return event;
  }

  /** Counts a subscription opened. */
  subscribed(): void {
    this.queries += 1;
  }

  /** Counts one event a subscription emitted. */
  emitted(): void {
    this.events += 1;
  }

  /** The counts so far (a copy). */
  snapshot(): StoreReadCounters {
    return { queries: this.queries, events: this.events };
  }
}
