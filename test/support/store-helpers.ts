import type { Observable, Subscription } from "rxjs";
import { take } from "rxjs";
import { expect } from "vitest";
import type { NewEvent, StoredEvent } from "../../src/events/store.js";

/*
 * Helpers of the store contract suites (and the stores' own tests): events, real-time waits,
 * recording subscriptions.
 */

// Captured before any test installs fake timers, so waits in this suite always use real time.
const realSetTimeout = globalThis.setTimeout;
const realNow = Date.now;

/** A `NewEvent` (version 1) with `data`, an optional dedup key and a type (default `test.happened`). */
export function ev(data: unknown, dedupKey?: string, type = "test.happened"): NewEvent {
  return dedupKey === undefined ? { type, version: 1, data } : { type, version: 1, data, dedupKey };
}

/** Resolves after `ms` of real time, even under fake timers. */
export function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/** Waits (in real time) until `predicate` holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = realNow() + timeoutMs;
  while (!predicate()) {
    if (realNow() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await realDelay(5);
  }
}

/** A subscription that records what it receives. */
export interface Recorder {
  events: StoredEvent[];
  completed: boolean;
  error: unknown;
  subscription: Subscription;
}

/** Subscribes and records every notification. */
export function record(source: Observable<StoredEvent>): Recorder {
  const recorder: Recorder = {
    events: [],
    completed: false,
    error: undefined,
    subscription: undefined as never,
  };
  recorder.subscription = source.subscribe({
    next: (event) => recorder.events.push(event),
    error: (error: unknown) => {
      recorder.error = error;
    },
    complete: () => {
      recorder.completed = true;
    },
  });
  return recorder;
}

/** The first `count` events of `source`, failing after `timeoutMs` of real time. */
export async function collect(
  source: Observable<StoredEvent>,
  count: number,
  timeoutMs = 10_000,
): Promise<StoredEvent[]> {
  const recorder = record(source.pipe(take(count)));
  try {
    await waitUntil(
      () => recorder.completed || recorder.error !== undefined,
      `${count} events (got ${recorder.events.length})`,
      timeoutMs,
    );
  } finally {
    recorder.subscription.unsubscribe();
  }
  if (recorder.error !== undefined) throw recorder.error;
  return recorder.events;
}

export function positions(events: readonly StoredEvent[]): number[] {
  return events.map((event) => event.position);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

/**
 * Each attempt must return a promise (not throw) that rejects with a TypeError or RangeError: a
 * store checks its input asynchronously, like any other failure.
 */
export async function expectInvalidInputRejected(
  attempts: readonly (() => Promise<unknown>)[],
): Promise<void> {
  for (const attempt of attempts) {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = attempt();
    }).not.toThrow();
    const error = await rejection(promise ?? Promise.resolve());
    expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
  }
}
