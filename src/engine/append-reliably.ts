import { errorMessage } from "../api/errors.js";
import type { AppendOptions, EventStore, NewEvent } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import { type Scheduler, sleep } from "../internal/time.js";
import { errorDelay, type Timings } from "./timings.js";

/** What {@link appendReliably} needs besides the store. */
export interface ReliableAppendDeps {
  store: EventStore;
  timings: Timings;
  scheduler: Scheduler;
  logger: Logger;
  /** Whether the engine closed: then a failing append gives up. */
  isClosed(): boolean;
}

/**
 * Appends, retrying with back-off while the store fails: a decision must not be lost. Resolves
 * with the position of the last event (appended now, or already stored under its dedup key).
 */
export async function appendReliably(
  deps: ReliableAppendDeps,
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions = {},
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await deps.store.append(stream, events, options);
      return Math.max(
        0,
        ...result.appended.map((e) => e.position),
        ...result.duplicates.map((d) => d.position),
      );
    } catch (error) {
      if (deps.isClosed()) throw error;
      deps.logger.warn("appending to the log failed; retrying", { error: errorMessage(error), attempt });
      await sleep(errorDelay(deps.timings, attempt), deps.scheduler);
    }
  }
}
