import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { ProviderTimings } from "../../src/engine/learned-timings.js";
import { LocalPollLeases } from "../../src/engine/poll-leases.js";
import { PollingScheduler } from "../../src/engine/polling-scheduler.js";
import { DEFAULT_TIMINGS, firstPollDelay, webhookDeadline } from "../../src/engine/timings.js";
import type { BatchState } from "../../src/events/projections/enrichment-state.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { silentLogger } from "../../src/internal/logger.js";
import { seededRandom } from "../../src/internal/random.js";
import { defaultScheduler } from "../../src/internal/time.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { contacts, useVirtualTime } from "../support/virtual-world.js";

const KEY = "next-poll-key";
const SECOND = 1_000;

let simulator: Simulator;
let client: FullEnrichClient;
let polls: number[];
let scheduler: PollingScheduler;

beforeEach(() => {
  useVirtualTime();
  simulator = createSimulator({
    apiKeys: [KEY],
    seed: 5,
    // Slower than the webhook deadline (7.5 min): polls answer "not yet" for a while.
    contactDurationMs: { min: 600 * SECOND, max: 620 * SECOND },
  });
  polls = [];
  client = new FullEnrichClient({
    apiKey: KEY,
    baseUrl: "http://provider.test/api/v2",
    fetch: (url, init) => {
      if ((init.method ?? "GET") === "GET") polls.push(Date.now());
      return simulator.handle(new Request(url, init));
    },
  });
  scheduler = new PollingScheduler({
    client,
    store: new MemoryEventStore(),
    timings: DEFAULT_TIMINGS,
    provider: new ProviderTimings(DEFAULT_TIMINGS),
    scheduler: defaultScheduler,
    random: seededRandom(5),
    logger: silentLogger,
    fallback: true,
    leases: new LocalPollLeases(),
    owner: "me",
  });
});

afterEach(async () => {
  scheduler.close();
  simulator.close();
  await client.close();
  vi.useRealTimers();
});

/** Starts an enrichment of `size` contacts at the simulator; its batch as the log would describe it. */
async function accepted(size: number, mode: BatchState["mode"]): Promise<BatchState> {
  const started = client.startEnrichment({ name: "next poll", data: contacts(size) });
  await vi.advanceTimersByTimeAsync(10);
  const { enrichment_id } = await started;
  return {
    batchId: `batch-${enrichment_id}`,
    jobId: "job",
    batchIndex: 0,
    contactsDigest: "digest",
    kind: "enrich",
    name: "next poll",
    keying: { correlationKey: null, idField: null },
    keys: Array.from({ length: size }, (_, index) => `k${index}`),
    inputs: new Map(),
    mode,
    webhookUrl: mode === "polling" ? null : "http://hooks.test/x",
    identities: new Map(),
    requestedAt: 0,
    position: 1,
    enrichmentId: enrichment_id,
    acceptedAt: Date.now(),
    rejected: null,
    abandoned: null,
  };
}

describe("PollingScheduler.nextPoll: when an enrichment is polled next", () => {
  it("polling: the first poll when the batch may be done, then each poll's answer says when the next goes", async () => {
    const batch = await accepted(3, "polling");
    const id = batch.enrichmentId as string;
    expect(scheduler.nextPoll([id])).toBeNull(); // not watched yet
    scheduler.track(batch);
    const first = scheduler.nextPoll([id]);
    expect(first).toEqual({
      enrichmentId: id,
      at: (batch.acceptedAt as number) + firstPollDelay(DEFAULT_TIMINGS, 3),
      fallback: false,
    });
    // Each announced instant is when the next GET leaves (within the limiter's few ms).
    for (let round = 0; round < 4; round++) {
      const next = scheduler.nextPoll([id]);
      expect(next).not.toBeNull();
      await vi.advanceTimersByTimeAsync((next?.at as number) - Date.now() + 50);
      expect(polls).toHaveLength(round + 1);
      expect(polls[round]).toBeGreaterThanOrEqual(next?.at as number);
      expect(polls[round]).toBeLessThan((next?.at as number) + 50);
      expect(scheduler.nextPoll([id])?.at).toBeGreaterThan(Date.now());
    }
  });

  it("webhook mode: the probe, then (the batch still running) the next probe, the deadline, the polls; none once settled", async () => {
    const batch = await accepted(2, "webhook");
    const id = batch.enrichmentId as string;
    scheduler.track(batch);
    const acceptedAt = batch.acceptedAt as number;
    const probe = acceptedAt + 90 * SECOND + 60 * SECOND;
    expect(scheduler.nextPoll([id])).toEqual({ enrichmentId: id, at: probe, fallback: true });
    await vi.advanceTimersByTimeAsync(probe - Date.now() + 50);
    expect(polls).toHaveLength(1); // the probe: still running (contacts take 10 minutes)
    // Probes pause 1 min, then 2, then 4 (the provider's retry window caps it)...
    expect(scheduler.nextPoll([id])?.at).toBeGreaterThanOrEqual(probe + 60 * SECOND);
    const deadline = webhookDeadline(DEFAULT_TIMINGS, acceptedAt);
    await vi.advanceTimersByTimeAsync(deadline - Date.now() - 50);
    expect(polls).toHaveLength(3); // probes at 150 s, ~210 s, ~330 s; the next would pass the deadline
    expect(scheduler.nextPoll([id])).toEqual({ enrichmentId: id, at: deadline, fallback: true });
    await vi.advanceTimersByTimeAsync(100);
    expect(polls).toHaveLength(4); // polling took over at the deadline
    const next = scheduler.nextPoll([id]);
    expect(next?.fallback).toBe(false);
    expect(next?.at).toBeGreaterThan(Date.now());
    scheduler.settled(id);
    expect(scheduler.nextPoll([id])).toBeNull();
  });

  it("of several enrichments, the earliest; unknown ids are left out", async () => {
    const slow = await accepted(1, "webhook");
    const soon = await accepted(1, "polling");
    scheduler.track(slow);
    scheduler.track(soon);
    const next = scheduler.nextPoll(["nosuch", slow.enrichmentId as string, soon.enrichmentId as string]);
    expect(next?.enrichmentId).toBe(soon.enrichmentId);
    expect(next?.fallback).toBe(false);
  });
});
