import { defer, filter, map, type Observable, switchMap } from "rxjs";
import type { DomainEvent, EventOf } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import { type ContactResult, toContactResult } from "./contact-result.js";

/** A named consumer of results, with its checkpoint in the store (see `EnrichmentEngine.consumer`). */
export interface ResultConsumer {
  /** Results after the stored checkpoint: replayed, then live. */
  results$: Observable<ContactResult>;
  /** Stores `position` (a result's `position`) as processed. */
  commit(position: number): Promise<void>;
  /** The stored checkpoint (0 before the first commit). */
  checkpoint(): Promise<number>;
}

/** The consumer `name` over the log as the engine processes it. */
export function resultConsumer(
  store: EventStore,
  log: { replay(after: number): Observable<DomainEvent> },
  correlationKey: string | null,
  name: string,
): ResultConsumer {
  const key = `consumer:${name}`;
  return {
    results$: defer(() => store.getCheckpoint(key)).pipe(
      switchMap((after) => log.replay(after)),
      filter((event): event is EventOf<"contact.resolved"> => event.type === "contact.resolved"),
      map((event) => toContactResult(event, correlationKey)),
    ),
    commit: (position) => store.setCheckpoint(key, position),
    checkpoint: () => store.getCheckpoint(key),
  };
}
