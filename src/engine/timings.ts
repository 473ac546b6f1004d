/**
 * The provider's timings and the engine's policy, in milliseconds at time scale 1. Every built-in
 * duration is multiplied by the engine's `timeScale`.
 */
export interface Timings {
  /** How long one contact takes at the provider: 30–90 s. Contacts of a batch run side by side. */
  contactMinMs: number;
  contactMaxMs: number;
  /** The provider retries a failed delivery every minute, up to 5 times. */
  webhookRetryIntervalMs: number;
  webhookRetries: number;
  /**
   * How many of the provider's retries a batch waiting on webhooks is given before polling takes
   * over. 5 (all of them, the default) never spends a call on a batch whose webhook merely needed
   * a retry; 0 polls right after the expected finish plus slack, which recovers from an outage of
   * the receiver minutes sooner, at the cost of a poll for every late webhook.
   */
  fallbackAfterRetries: number;
  /** Added to a webhook deadline before polling takes over. */
  fallbackSlackMs: number;
  /**
   * Polling: when the first poll of a batch goes out. `null` (the default): when the batch has a
   * `firstPollQuantile` chance to be finished, given its size (it finishes with its slowest
   * contact); a number: that long after acceptance, whatever the size.
   */
  firstPollAfterMs: number | null;
  /** See `firstPollAfterMs`. Default 0.25. */
  firstPollQuantile: number;
  pollIntervalMs: number;
  pollBackoffFactor: number;
  pollMaxIntervalMs: number;
  /** ± share of jitter on every poll delay. */
  pollJitter: number;
  /** Back-off after 429/5xx/network errors, doubling up to `errorMaxBackoffMs`. */
  errorBackoffMs: number;
  errorMaxBackoffMs: number;
  /** The longest an enrichment is waited for (webhooks and polling together) before it times out. */
  maxWaitMs: number;
  /**
   * Polling: how long an enrichment may keep reporting a status that is neither running nor final
   * (`RATE_LIMIT`, `UNKNOWN`, a value the provider does not document) before it fails, with a
   * message naming the status. Counted from the first poll that saw it; a running status seen
   * again starts the count afresh. Default 30 minutes, well under `maxWaitMs`.
   */
  unknownStatusCapMs: number;
  /** How long a poll lease lasts without renewal (several instances): a dead instance's enrichments wait at most this long. */
  leaseTtlMs: number;
}

/** The provider's documented timings and the engine's default polling policy, at time scale 1. */
export const DEFAULT_TIMINGS: Timings = {
  contactMinMs: 30_000,
  contactMaxMs: 90_000,
  webhookRetryIntervalMs: 60_000,
  webhookRetries: 5,
  fallbackAfterRetries: 5,
  fallbackSlackMs: 60_000,
  firstPollAfterMs: null,
  firstPollQuantile: 0.25,
  pollIntervalMs: 5_000,
  pollBackoffFactor: 1.5,
  pollMaxIntervalMs: 60_000,
  pollJitter: 0.2,
  errorBackoffMs: 10_000,
  errorMaxBackoffMs: 300_000,
  maxWaitMs: 6 * 3_600_000,
  unknownStatusCapMs: 30 * 60_000,
  leaseTtlMs: 30_000,
};

/** The timings with every duration multiplied by `timeScale` (factors and ratios stay). */
export function scaleTimings(timings: Timings, timeScale: number): Timings {
  return {
    ...timings,
    contactMinMs: timings.contactMinMs * timeScale,
    contactMaxMs: timings.contactMaxMs * timeScale,
    webhookRetryIntervalMs: timings.webhookRetryIntervalMs * timeScale,
    fallbackSlackMs: timings.fallbackSlackMs * timeScale,
    firstPollAfterMs: timings.firstPollAfterMs === null ? null : timings.firstPollAfterMs * timeScale,
    pollIntervalMs: timings.pollIntervalMs * timeScale,
    pollMaxIntervalMs: timings.pollMaxIntervalMs * timeScale,
    errorBackoffMs: timings.errorBackoffMs * timeScale,
    errorMaxBackoffMs: timings.errorMaxBackoffMs * timeScale,
    maxWaitMs: timings.maxWaitMs * timeScale,
    unknownStatusCapMs: timings.unknownStatusCapMs * timeScale,
    leaseTtlMs: timings.leaseTtlMs * timeScale,
  };
}

/** The provider's whole retry window for one delivery: 5 retries a minute apart. */
export function retryWindowMs(timings: Timings): number {
  return timings.webhookRetries * timings.webhookRetryIntervalMs;
}

/**
 * How long after acceptance a batch of `size` contacts is first polled: by default when it has a
 * `firstPollQuantile` chance to be finished. Its contacts run side by side and each takes a time
 * spread over [min, max], so it finishes with the slowest: P(done by t) = ((t − min) / (max − min))^size.
 */
export function firstPollDelay(timings: Timings, size: number): number {
  if (timings.firstPollAfterMs !== null) return timings.firstPollAfterMs;
  const spread = timings.contactMaxMs - timings.contactMinMs;
  return timings.contactMinMs + spread * timings.firstPollQuantile ** (1 / Math.max(1, size));
}

/** When a batch accepted at `acceptedAt` is expected to have finished (its slowest contact). */
export function expectedFinish(timings: Timings, acceptedAt: number): number {
  return acceptedAt + timings.contactMaxMs;
}

/**
 * When a batch waiting on webhooks is overdue: its expected finish, plus the provider's retry
 * window (a delivery can arrive that late; `fallbackAfterRetries` of its retries), plus slack.
 */
export function webhookDeadline(timings: Timings, acceptedAt: number): number {
  return webhookDeadlineAfter(timings, expectedFinish(timings, acceptedAt));
}

/**
 * The webhook deadline of a batch expected to finish at `expectedFinishAt` (by whatever timings):
 * plus the provider's retry window (`fallbackAfterRetries` of its retries), plus slack.
 */
export function webhookDeadlineAfter(timings: Timings, expectedFinishAt: number): number {
  const retries = Math.min(timings.fallbackAfterRetries, timings.webhookRetries);
  return expectedFinishAt + retries * timings.webhookRetryIntervalMs + timings.fallbackSlackMs;
}

/**
 * After this receiver answered a delivery of the batch with non-2xx at `failedAt`: the provider's
 * remaining retries are spent by then, so polling is the only way left.
 */
export function failedDeliveryDeadline(timings: Timings, failedAt: number): number {
  return failedAt + retryWindowMs(timings) + timings.fallbackSlackMs;
}

/** The n-th (0-based) delay between polls that answered "not yet", before jitter. */
export function pollDelay(timings: Timings, attempt: number): number {
  return Math.min(timings.pollMaxIntervalMs, timings.pollIntervalMs * timings.pollBackoffFactor ** attempt);
}

/** The n-th (0-based) delay after consecutive errors, before jitter. */
export function errorDelay(timings: Timings, attempt: number): number {
  return Math.min(timings.errorMaxBackoffMs, timings.errorBackoffMs * 2 ** attempt);
}
