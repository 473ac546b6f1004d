import { describe, expect, it } from "vitest";
import { type BatchesByPhase, expectedFinishOf, type PhaseFacts } from "../../src/engine/batch-phase.js";
import type { EnrichmentJob, LiveJobProgress } from "../../src/engine/job.js";
import { DEFAULT_TIMINGS, expectedFinish, webhookDeadline } from "../../src/engine/timings.js";
import { contacts, virtualWorldPerTest } from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

const start = virtualWorldPerTest();

/** Every distinct batchesByPhase the job published, in order, with when it was first seen. */
function phases(job: EnrichmentJob): { at: number; phases: BatchesByPhase; progress: LiveJobProgress }[] {
  const seen: { at: number; phases: BatchesByPhase; progress: LiveJobProgress }[] = [];
  job.progress$.subscribe((progress) => {
    const last = seen.at(-1);
    if (!last || JSON.stringify(last.phases) !== JSON.stringify(progress.batchesByPhase))
      seen.push({ at: Date.now(), phases: progress.batchesByPhase, progress });
  });
  return seen;
}

const none: BatchesByPhase = { queued: 0, running: 0, waitingForWebhook: 0, polling: 0, done: 0 };

describe("a job's batches by phase: what each is waiting for", () => {
  it("polling: queued behind the running limit, running until the first poll, polling, then done", async () => {
    const w = await start({
      mode: "polling",
      engine: { maxRunning: 1, batchSize: 2 },
      simulator: { contactDurationMs: { min: 40 * SECOND, max: 50 * SECOND } },
    });
    const job = w.engine.enrich(contacts(4));
    const seen = phases(job);
    await w.advance(20 * MINUTE);
    const summary = await job.summary;
    expect(summary.resolved).toBe(4);
    expect(seen.map((step) => step.phases)).toEqual([
      none,
      { ...none, queued: 2 },
      { ...none, queued: 1, running: 1 }, // the first POST left; the second waits for room
      { ...none, queued: 1, polling: 1 },
      { ...none, queued: 1, done: 1 }, // the first is done; the second is let through next
      { ...none, running: 1, done: 1 },
      { ...none, polling: 1, done: 1 },
      { ...none, done: 2 },
    ]);
    // Polling began with the first GET of each batch.
    const gets = w.calls.filter((call) => call.method === "GET").map((call) => call.at);
    const pollingSteps = seen.filter((step) => step.phases.polling === 1).map((step) => step.at);
    expect(pollingSteps).toEqual([gets[0], expect.any(Number)]);
    expect(summary.batchStates.map((batch) => batch.phase)).toEqual(["done", "done"]);
  });

  it("webhook mode: waiting for the webhook, expected to finish with its slowest contact", async () => {
    const w = await start({ mode: "webhook" });
    const job = w.engine.enrich(contacts(3));
    const seen = phases(job);
    await w.advance(5 * SECOND);
    const waiting = seen.at(-1);
    expect(waiting?.phases).toEqual({ ...none, waitingForWebhook: 1 });
    const post = w.calls.find((call) => call.method === "POST");
    // The simulator answers at once: accepted when the POST left.
    expect(waiting?.progress.expectedFinishAt).toBe(expectedFinish(DEFAULT_TIMINGS, post?.at as number));
    await w.advance(3 * MINUTE);
    expect(seen.at(-1)?.phases).toEqual({ ...none, done: 1 });
    expect(seen.at(-1)?.progress.expectedFinishAt).toBeNull();
    expect(w.calls.filter((call) => call.method === "GET")).toHaveLength(0);
  });

  it("webhook mode with the webhook lost: polling once it takes over at the deadline", async () => {
    const w = await start({ mode: "webhook", simulator: { faults: { loseBatchWebhook: () => true } } });
    const job = w.engine.enrich(contacts(2));
    const seen = phases(job);
    await w.advance(15 * MINUTE);
    expect(seen.map((step) => step.phases)).toEqual([
      none,
      { ...none, queued: 1 },
      { ...none, running: 1 },
      { ...none, waitingForWebhook: 1 },
      { ...none, polling: 1 },
      { ...none, done: 1 },
    ]);
    const firstGet = w.calls.find((call) => call.method === "GET");
    const pollingFrom = seen.find((step) => step.phases.polling === 1)?.at as number;
    expect(pollingFrom).toBeLessThanOrEqual(firstGet?.at as number);
    expect((await job.summary).bySource.poll).toBe(2);
  });
});

describe("a job's progress as of now (progressNow): the clock moves while nothing resolves", () => {
  it("polling: elapsed time, the next poll and the rate budget, read at each instant; frozen once settled", async () => {
    const w = await start({
      mode: "polling",
      simulator: { contactDurationMs: { min: 70 * SECOND, max: 80 * SECOND } },
    });
    const job = w.engine.enrich(contacts(3));
    await w.advance(SECOND);
    const early = job.progressNow();
    expect(early.resolved).toBe(0);
    expect(early.elapsedMs).toBe(SECOND);
    expect(early.rateBudget).toEqual({ calls: 1, limit: 60, windowMs: MINUTE, waiting: 0 }); // the POST
    const firstPoll = early.nextPoll;
    expect(firstPoll?.fallback).toBe(false);
    await w.advance(10 * SECOND);
    const later = job.progressNow();
    expect(later.resolved).toBe(0);
    expect(later.elapsedMs).toBe(11 * SECOND);
    expect(later.nextPoll).toEqual(firstPoll);
    // The first GET leaves when announced; the next poll is then announced later.
    await w.advance((firstPoll?.at as number) - Date.now() + 100);
    const gets = w.calls.filter((call) => call.method === "GET");
    expect(gets).toHaveLength(1);
    expect(gets[0]?.at).toBeGreaterThanOrEqual(firstPoll?.at as number);
    const polled = job.progressNow();
    // The first poll is due about 68 s in: the POST of 0 s has left the window, the GET is in it.
    expect(gets[0]?.at).toBeGreaterThan(MINUTE);
    expect(polled.rateBudget.calls).toBe(1);
    expect(polled.nextPoll?.at).toBeGreaterThan(Date.now());
    expect(polled.batchesByPhase.polling).toBe(1);
    await w.advance(5 * MINUTE);
    const summary = await job.summary;
    expect(summary.resolved).toBe(3);
    expect(summary.nextPoll).toBeNull();
    // Settled: the summary, whatever the time.
    await w.advance(MINUTE);
    expect(job.progressNow()).toEqual(summary);
  });

  it("webhook mode: the next 'poll' is the probe, at the expected finish plus slack, if no delivery came by then", async () => {
    const w = await start({ mode: "webhook" });
    const job = w.engine.enrich(contacts(2));
    await w.advance(SECOND);
    const post = w.calls.find((call) => call.method === "POST");
    const acceptedAt = post?.at as number;
    expect(job.progressNow().nextPoll).toMatchObject({
      at: expectedFinish(DEFAULT_TIMINGS, acceptedAt) + DEFAULT_TIMINGS.fallbackSlackMs,
      fallback: true,
    });
    expect(job.progressNow().nextPoll?.at).toBeLessThan(webhookDeadline(DEFAULT_TIMINGS, acceptedAt));
  });
});

describe("the job's expected finish", () => {
  const batch = (facts: Partial<PhaseFacts>): PhaseFacts => ({
    state: "accepted",
    size: 10,
    requestedAt: 0,
    enrichmentId: "e",
    acceptedAt: 0,
    mode: "polling",
    polled: false,
    ...facts,
  });

  it("is the latest expected finish of the batches running, by the timings it is given (learned ones included)", () => {
    // A provider learned to take 20 s a contact: a 10-contact batch accepted at 5 s ends at 205 s.
    const learned = (acceptedAt: number, size: number) => acceptedAt + 20 * SECOND * size;
    const batches = [
      batch({ acceptedAt: 5 * SECOND }),
      batch({ acceptedAt: 0, size: 2 }),
      batch({ acceptedAt: 9 * MINUTE, state: "completed" }), // ended: not waited for
      batch({ acceptedAt: null, state: "requested" }), // not running yet
      batch({ acceptedAt: 10 * MINUTE, size: 0 }), // its contacts moved to another attempt
    ];
    expect(expectedFinishOf(batches, learned)).toBe(205 * SECOND);
    expect(expectedFinishOf([batch({ state: "completed" })], learned)).toBeNull();
  });
});
