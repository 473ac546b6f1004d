import { isUnknownStatus } from "../api/response-schemas.js";
import type { Logger } from "../internal/logger.js";

/**
 * What one poll waiter makes of the statuses it sees for an enrichment. A status that is neither
 * running nor final (`RATE_LIMIT`, `UNKNOWN`, a value the provider does not document) is "not yet",
 * but only for `capMs` after the first poll that saw it (a running status seen again starts the
 * count afresh); then the enrichment fails with a message naming the status. The first time such a
 * status is seen it is logged at info (the engine copes with it: only the failure after the cap
 * needs the user, and it reaches them as the enrichment's failure).
 */
export class UnknownStatusWatch {
  private since: number | null = null;
  private told = false;

  constructor(
    private readonly enrichmentId: string,
    private readonly capMs: number,
    private readonly logger?: Logger,
  ) {}

  /** Records the status a poll saw at `now`: the failure message once the cap has passed, else null. */
  observe(status: string, now: number): string | null {
    if (!isUnknownStatus(status)) {
      this.since = null;
      return null;
    }
    this.since ??= now;
    if (!this.told) {
      this.told = true;
      this.logger?.info(
        "FullEnrich reports a status it does not document as running or final; the enrichment is polled on, for a while",
        { enrichmentId: this.enrichmentId, status, capMs: this.capMs },
      );
    }
    if (now - this.since < this.capMs) return null;
    return `FullEnrich reported the status ${JSON.stringify(status)}, neither running nor final, for ${describeDuration(now - this.since)} (the cap, unknownStatusCapMs, is ${describeDuration(this.capMs)}): the enrichment is given up; look it up in the provider's dashboard`;
  }
}

function describeDuration(ms: number): string {
  if (ms >= 60_000) return `${Math.round(ms / 6_000) / 10} min`;
  return `${Math.round(ms / 100) / 10} s`;
}
