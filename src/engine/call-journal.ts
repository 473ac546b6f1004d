import { errorMessage } from "../api/errors.js";
import type { CallJournal, JournaledCall } from "../api/limiter.js";
import { newEvent, streams } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import type { Logger } from "../internal/logger.js";

/**
 * Records each API call in the log (`api.called`) before it leaves, so that a process started
 * right after this one stops knows what the account spent in the current window. A call is never
 * held back by a failing store: the failure is logged and the call goes on.
 */
export class StoreCallJournal implements CallJournal {
  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
  ) {}

  async record(call: JournaledCall): Promise<void> {
    try {
      await this.store.append(streams.calls, [
        newEvent("api.called", { calledAt: call.at, priority: call.priority }),
      ]);
    } catch (error) {
      this.logger.warn("could not record an API call in the log; a restart may misjudge the rate budget", {
        error: errorMessage(error),
      });
    }
  }
}
