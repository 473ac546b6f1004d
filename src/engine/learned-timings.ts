import { quantile } from "../events/projections/completion-times.js";
import { firstPollDelay, type Timings, webhookDeadlineAfter } from "./timings.js";

/** How long batches of about some size took at the provider (the projection answers it). */
export interface CompletionTimesQuery {
  /** Observed accepted → finished durations of batches of about `size` contacts, oldest first. */
  completionTimes(size: number): readonly number[];
}

/** Batches of a size class seen finished before their durations replace the documented 30–90 s. */
export const MIN_LEARNED_SAMPLES = 5;
/** The share of batches expected to have finished by the "expected finish". */
export const EXPECTED_FINISH_QUANTILE = 0.9;

/**
 * The provider's timings as this log saw them: when a batch of `size` contacts is expected to
 * finish, when it is first polled, when a batch waiting on its webhook is probed and when polling
 * takes over. Each comes from the durations observed for batches of its size class (a
 * nearest-rank quantile of the latest ones: robust to a few late deliveries) once
 * {@link MIN_LEARNED_SAMPLES} were seen, and from the documented model before that. A provider
 * slower or faster than documented moves polling and the fallback with it.
 */
export class ProviderTimings {
  constructor(
    readonly timings: Timings,
    private readonly observed: CompletionTimesQuery | null = null,
  ) {}

  /** The `q`-quantile of the durations observed for this size, or null while too few were seen. */
  learned(size: number, q: number): number | null {
    const durations = this.observed?.completionTimes(size) ?? [];
    return durations.length < MIN_LEARNED_SAMPLES ? null : quantile(durations, q);
  }

  /** How long after acceptance a batch of `size` contacts is expected to have finished. */
  expectedDurationMs(size: number): number {
    return this.learned(size, EXPECTED_FINISH_QUANTILE) ?? this.timings.contactMaxMs;
  }

  /**
   * How long after acceptance a batch of `size` contacts is first polled: `firstPollAfterMs` when
   * set; else when a `firstPollQuantile` share of such batches had finished, as observed (or as the
   * documented model gives it: the batch finishes with the slowest of its contacts, each 30–90 s).
   */
  firstPollDelayMs(size: number): number {
    if (this.timings.firstPollAfterMs !== null) return this.timings.firstPollAfterMs;
    return this.learned(size, this.timings.firstPollQuantile) ?? firstPollDelay(this.timings, size);
  }

  /**
   * The first gap between polls of a batch of `size` contacts that answered "not yet" (it grows by
   * `pollBackoffFactor` from there): `pollIntervalMs`, stretched by how much wider the learned
   * window between the first poll and the expected finish is than the documented one (a provider
   * slower and more spread out than documented is polled less often), within `pollIntervalMs` …
   * `pollMaxIntervalMs`. Unchanged while nothing was learned, or when `firstPollAfterMs` is set.
   */
  pollIntervalMs(size: number): number {
    const { timings } = this;
    const first = this.learned(size, timings.firstPollQuantile);
    const finish = this.learned(size, EXPECTED_FINISH_QUANTILE);
    if (timings.firstPollAfterMs !== null || first === null || finish === null) return timings.pollIntervalMs;
    const documented = Math.max(1, timings.contactMaxMs - firstPollDelay(timings, size));
    const stretch = Math.max(1, (finish - first) / documented);
    return Math.min(timings.pollMaxIntervalMs, timings.pollIntervalMs * stretch);
  }

  /** When a batch of `size` contacts accepted at `acceptedAt` is expected to have finished. */
  expectedFinish(acceptedAt: number, size: number): number {
    return acceptedAt + this.expectedDurationMs(size);
  }

  /**
   * When a batch waiting on its webhook, with no delivery yet, is overdue enough to be probed with
   * one poll: its expected finish plus slack.
   */
  probeAt(acceptedAt: number, size: number): number {
    return this.expectedFinish(acceptedAt, size) + this.timings.fallbackSlackMs;
  }

  /**
   * When polling takes over for a batch still waiting on its webhook: its expected finish, plus
   * the provider's retry window (`fallbackAfterRetries` of its retries), plus slack.
   */
  webhookDeadline(acceptedAt: number, size: number): number {
    return webhookDeadlineAfter(this.timings, this.expectedFinish(acceptedAt, size));
  }
}
