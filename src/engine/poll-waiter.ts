import { Observable } from "rxjs";
import type { FullEnrichClient, LookupKind, ResultOutcome } from "../api/client.js";
import {
  errorMessage,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  RequestTimeoutError,
  ServerError,
} from "../api/errors.js";
import { dedupKeys, newEvent, streams } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import { jitter, type Random } from "../internal/random.js";
import { type Scheduler, sleep } from "../internal/time.js";
import { errorDelay, pollDelay, type Timings } from "./timings.js";
import { UnknownStatusWatch } from "./unknown-status.js";

/** What one step of a poll waiter came to. The last four end it. */
export type PollOutcome =
  /**
   * The provider said "still running": a 400 `….in_progress`, a 200 CREATED/IN_PROGRESS, or a
   * status neither running nor final (RATE_LIMIT, UNKNOWN, undocumented) within its cap.
   */
  | { kind: "not-yet"; status: string; nextInMs: number }
  /** 429, 5xx, a network error or a timeout: backing off. */
  | { kind: "retrying"; error: string; nextInMs: number }
  /** A final result was observed and stored. */
  | { kind: "resolved"; status: string }
  /**
   * 404 (unknown or expired id), an error the waiter does not recognise, or a status neither running
   * nor final for longer than `unknownStatusCapMs`: stored as failed.
   */
  | { kind: "failed"; reason: "not-found" | "error"; error: string }
  /** The enrichment's maximum wait passed. */
  | { kind: "timed-out" }
  /** Stopped from outside (the enrichment settled another way, or the engine closed). */
  | { kind: "aborted" };

export interface PollTarget {
  enrichmentId: string;
  kind: LookupKind;
  batchId: string | null;
  /** First poll not before this instant. */
  startAt: number;
  /** No poll after this instant: the waiter times out. */
  giveUpAt: number;
}

export interface PollDeps {
  client: FullEnrichClient;
  store: EventStore;
  timings: Timings;
  scheduler: Scheduler;
  random: Random;
  /** Told of every HTTP call the waiter makes (to count a job's API calls). */
  calls?: {
    /** One call about `enrichmentId`. */
    countForEnrichment(enrichmentId: string): void;
  };
  /** Where the first sighting of an unknown status is reported. */
  logger?: Logger;
  /** This engine instance's name, recorded with each poll. */
  owner?: string;
}

/**
 * Polls one enrichment until it settles. Each answer is appended as a `poll.observed` event
 * (reconciliation happens downstream, from the log). Polls are spaced by a jittered back-off
 * toward a maximum; errors back off faster-growing delays; every wait has a maximum. Unsubscribing
 * (or the engine's abort) stops it before its next request.
 */
export function pollUntilSettled(deps: PollDeps, target: PollTarget): Observable<PollOutcome> {
  return new Observable<PollOutcome>((subscriber) => {
    const controller = new AbortController();
    const { signal } = controller;
    const { store, timings, scheduler, random } = deps;
    const now = (): number => scheduler.now();

    const fail = async (reason: "not-found" | "error" | "timed-out", message: string): Promise<void> => {
      await store.append(streams.enrichment(target.enrichmentId), [
        newEvent(
          "enrichment.failed",
          { enrichmentId: target.enrichmentId, batchId: target.batchId, reason, message, failedAt: now() },
          dedupKeys.failed(target.enrichmentId),
        ),
      ]);
    };

    const run = async (): Promise<PollOutcome> => {
      await sleep(target.startAt - now(), scheduler, signal);
      const statuses = new UnknownStatusWatch(target.enrichmentId, timings.unknownStatusCapMs, deps.logger);
      let notYet = 0;
      let errors = 0;
      for (;;) {
        if (now() > target.giveUpAt) {
          await fail("timed-out", "no final result before the enrichment's maximum wait");
          return { kind: "timed-out" };
        }
        let delay: number;
        const step = await pollOnce();
        if (step.kind === "observed") {
          errors = 0;
          if (step.done) return { kind: "resolved", status: step.status };
          const overdue = statuses.observe(step.status, now());
          if (overdue !== null) {
            await fail("error", overdue);
            return { kind: "failed", reason: "error", error: overdue };
          }
          delay = jitter(pollDelay(timings, notYet++), timings.pollJitter, random);
          subscriber.next({ kind: "not-yet", status: step.status, nextInMs: delay });
        } else if (step.kind === "transient") {
          delay = jitter(errorDelay(timings, errors++), timings.pollJitter, random);
          subscriber.next({ kind: "retrying", error: step.error, nextInMs: delay });
        } else {
          await fail(step.reason, step.error);
          return { kind: "failed", reason: step.reason, error: step.error };
        }
        await sleep(Math.min(delay, Math.max(0, target.giveUpAt - now()) + 1), scheduler, signal);
      }
    };

    /** One GET, and its answer appended to the log. */
    const pollOnce = (): Promise<PollStep> => observeOnce(deps, target, signal);

    run().then(
      (outcome) => {
        subscriber.next(outcome);
        subscriber.complete();
      },
      (error: unknown) => {
        if (signal.aborted) {
          subscriber.next({ kind: "aborted" });
          subscriber.complete();
        } else {
          subscriber.error(error);
        }
      },
    );
    return () => controller.abort();
  });
}

/** What one GET of a result came to (see {@link observeOnce}). */
export type PollStep =
  | { kind: "observed"; done: boolean; status: string }
  | { kind: "transient"; error: string }
  | { kind: "fatal"; reason: "not-found" | "error"; error: string };

/**
 * One GET of an enrichment's result, its answer appended to the log as `poll.observed` (from
 * there, reconciliation resolves its contacts). Transient: a 429, a 5xx, the network, a timeout, or
 * the answer could not be stored; fatal: a 404 or an error not recognised. Throws only when
 * `signal` aborted it.
 */
export async function observeOnce(
  deps: PollDeps,
  target: Pick<PollTarget, "enrichmentId" | "kind">,
  signal: AbortSignal,
): Promise<PollStep> {
  const { client, store, scheduler } = deps;
  let outcome: ResultOutcome;
  try {
    deps.calls?.countForEnrichment(target.enrichmentId);
    outcome = await client.getResult(target.kind, target.enrichmentId, {
      priority: "poll",
      retries: 0,
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw error;
    if (error instanceof NotFoundError) return { kind: "fatal", reason: "not-found", error: error.message };
    if (isTransient(error)) return { kind: "transient", error: errorMessage(error) };
    return { kind: "fatal", reason: "error", error: errorMessage(error) };
  }
  const done = outcome.state === "done";
  const status = outcome.state === "pending" ? outcome.status : outcome.result.status;
  try {
    await store.append(streams.enrichment(target.enrichmentId), [
      newEvent("poll.observed", {
        enrichmentId: target.enrichmentId,
        kind: target.kind,
        outcome: done ? "done" : "pending",
        status,
        httpStatus: outcome.httpStatus,
        payload: outcome.state === "done" ? outcome.raw : null,
        observedAt: scheduler.now(),
        ...(deps.owner === undefined ? {} : { instance: deps.owner }),
      }),
    ]);
  } catch (error) {
    // The answer could not be recorded: it does not count; poll again after a back-off.
    return { kind: "transient", error: `could not store the poll's answer: ${errorMessage(error)}` };
  }
  return { kind: "observed", done, status };
}

/**
 * Failures worth waiting out: the provider's rate limit and server errors, the network and
 * timeouts. Anything else fails the enrichment visibly instead of being retried forever.
 */
function isTransient(error: unknown): boolean {
  return (
    error instanceof RateLimitedError ||
    error instanceof ServerError ||
    error instanceof NetworkError ||
    error instanceof RequestTimeoutError
  );
}
