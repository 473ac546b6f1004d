import { describe, expect, it } from "vitest";
import { FullEnrichClient, type RateLimitInfo, type RetryInfo } from "../../src/api/client.js";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { createSimulator } from "../../src/simulator/index.js";
import { contacts, KEY, virtualWorldPerTest, type World } from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

const start = virtualWorldPerTest();

/** Calls that reached the simulator, by its own count. */
const reached = (w: World): number => w.simulator.counters().calls;

describe("a job's signal aborts all of it", () => {
  it("polling mode: once aborted, no call reaches the provider, and the job settles as aborted", async () => {
    const w = await start({
      mode: "polling",
      simulator: { contactDurationMs: { min: 5 * MINUTE, max: 6 * MINUTE } },
    });
    const controller = new AbortController();
    const job = w.engine.enrich(contacts(6), { batchSize: 2, signal: controller.signal });
    let completed = false;
    job.results$.subscribe({ complete: () => (completed = true) });
    // Sent and polled a few times: 3 POSTs, then GETs while the contacts take 5 minutes.
    await w.advance(2 * MINUTE);
    expect(w.simulator.counters().callsByRoute["GET /contact/enrich/bulk/{id}"]).toBeGreaterThan(0);
    controller.abort();
    const atAbort = reached(w);
    await w.advance(60 * MINUTE);
    expect(reached(w)).toBe(atAbort);
    const summary = await job.summary;
    expect(completed).toBe(true);
    expect(summary.stopped).toBe("aborted");
    expect(summary.settled).toBe(true);
    expect(summary.resolved).toBe(0);
    expect(summary.failed).toBe(6);
    expect(summary.failures.every((failure) => failure.state === "aborted")).toBe(true);
    expect(summary.batchesByPhase.done).toBe(3);
  });

  it("webhook mode: a lost webhook's polling takeover does not happen after the abort", async () => {
    const w = await start({
      mode: "webhook",
      simulator: { faults: { loseBatchWebhook: () => true } },
    });
    const controller = new AbortController();
    const job = w.engine.enrich(contacts(3), { signal: controller.signal });
    await w.advance(30 * SECOND);
    expect(reached(w)).toBe(1);
    controller.abort();
    await w.advance(60 * MINUTE);
    expect(reached(w)).toBe(1);
    expect((await job.summary).stopped).toBe("aborted");
  });

  it("aborted before anything was sent: nothing is sent at all", async () => {
    const w = await start({ mode: "polling" });
    const controller = new AbortController();
    controller.abort();
    const job = w.engine.enrich(contacts(3), { signal: controller.signal });
    await w.advance(10 * MINUTE);
    expect(reached(w)).toBe(0);
    const summary = await job.summary;
    expect(summary.stopped).toBe("aborted");
    expect(summary.sent).toBe(0);
  });

  it("a POST on the wire at the abort is not cut: its answer is recorded (accepted, not ambiguous), then the job settles", async () => {
    const w = await start({ mode: "polling", simulator: { faults: { latencyMs: 2 * SECOND } } });
    const controller = new AbortController();
    const job = w.engine.enrich(contacts(3), { signal: controller.signal });
    let settledAt: number | null = null;
    void job.summary.then(() => {
      settledAt = Date.now();
    });
    await w.advance(SECOND);
    expect(w.calls).toHaveLength(1); // the POST, its answer 1 s away
    controller.abort();
    await w.advance(10 * MINUTE);
    const types = (await w.store.read()).map((event) => event.type);
    expect(types).toContain("enrichment.accepted");
    expect(types).not.toContain("enrichment.rejected");
    expect(w.calls).toHaveLength(1); // and never polled
    expect(settledAt).toBeGreaterThanOrEqual(2 * SECOND);
    const summary = await job.summary;
    expect(summary.stopped).toBe("aborted");
    expect(summary.sent).toBe(3);
    // A rerun follows the accepted batch: the same contacts, no second POST.
    const rerun = w.engine.enrich(contacts(3));
    await w.advance(10 * MINUTE);
    expect((await rerun.summary).resolved).toBe(3);
    expect(w.calls.filter((call) => call.method === "POST")).toHaveLength(1);
  });

  it("another job waiting on the same enrichment is still polled to its end", async () => {
    const w = await start({ mode: "polling" });
    const controller = new AbortController();
    const first = w.engine.enrich(contacts(3), { signal: controller.signal });
    await w.advance(5 * SECOND);
    const second = w.engine.enrich(contacts(3));
    await w.advance(5 * SECOND);
    controller.abort();
    await w.advance(10 * MINUTE);
    expect((await first.summary).stopped).toBe("aborted");
    const summary = await second.summary;
    expect(summary.stopped).toBeNull();
    expect(summary.resolved).toBe(3);
    expect(w.simulator.counters().callsByRoute["POST /contact/enrich/bulk"]).toBe(1);
  });
});

describe("maxWaitMs", () => {
  it("contacts without a result by then settle as timed out, and their enrichment is polled no more", async () => {
    const w = await start({
      mode: "polling",
      simulator: { contactDurationMs: { min: 20 * MINUTE, max: 21 * MINUTE } },
    });
    const job = w.engine.enrich(contacts(4), { maxWaitMs: 5 * MINUTE });
    await w.advance(5 * MINUTE - SECOND);
    expect(w.simulator.counters().callsByRoute["GET /contact/enrich/bulk/{id}"]).toBeGreaterThan(0);
    await w.advance(SECOND);
    const summary = await job.summary;
    expect(summary.stopped).toBe("timed-out");
    expect(summary.failed).toBe(4);
    expect(summary.failures.map((failure) => failure.state)).toEqual(["timed-out"]);
    const afterwards = reached(w);
    await w.advance(60 * MINUTE);
    expect(reached(w)).toBe(afterwards);
  });

  it("a job that ends in time is not affected", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(2), { maxWaitMs: 30 * MINUTE });
    await w.advance(31 * MINUTE);
    const summary = await job.summary;
    expect(summary.stopped).toBeNull();
    expect(summary.resolved).toBe(2);
  });

  it("rejects a maximum wait that is not a positive number", async () => {
    const w = await start({ mode: "polling" });
    expect(() => w.engine.enrich(contacts(1), { maxWaitMs: 0 })).toThrow(/maxWaitMs must be a positive/);
  });
});

describe("job.results(): for await", () => {
  it("yields each row's result once, the same as results$, then ends", async () => {
    const w = await start({ mode: "webhook" });
    const job = w.engine.enrich(contacts(5));
    const viaObservable: ContactResult[] = [];
    job.results$.subscribe((result) => viaObservable.push(result));
    const read = (async () => {
      const results: ContactResult[] = [];
      for await (const result of job.results()) results.push(result);
      return results;
    })();
    await w.advance(10 * MINUTE);
    const results = await read;
    expect(results).toHaveLength(5);
    expect(results.map((r) => r.contactKey)).toEqual(viaObservable.map((r) => r.contactKey));
    // Called late, it still starts from the first result.
    const late: ContactResult[] = [];
    for await (const result of job.results()) late.push(result);
    expect(late).toHaveLength(5);
  });

  it("leaving the loop early stops reading, not the job", async () => {
    const w = await start({ mode: "webhook" });
    const job = w.engine.enrich(contacts(4), { batchSize: 1 });
    const read = (async () => {
      for await (const result of job.results()) return result;
      return undefined;
    })();
    await w.advance(10 * MINUTE);
    expect(await read).toBeDefined();
    expect((await job.summary).resolved).toBe(4);
  });
});

describe("Symbol.asyncDispose", () => {
  it("`await using` closes the engine, the client and the store at the end of the scope", async () => {
    const simulator = createSimulator({ apiKeys: [KEY] });
    let engine: EnrichmentEngine | undefined;
    let store: MemoryEventStore | undefined;
    {
      await using scopedStore = new MemoryEventStore();
      await using client = new FullEnrichClient({
        apiKey: KEY,
        baseUrl: "http://provider.test/api/v2",
        fetch: (url, init) => simulator.handle(new Request(url, init)),
      });
      await using scopedEngine = await EnrichmentEngine.start({ client, store: scopedStore });
      engine = scopedEngine;
      store = scopedStore;
    }
    expect(() => engine?.enrich(contacts(1))).toThrow(/the engine is closed/);
    await expect(store?.head()).rejects.toThrow(/closed/);
    simulator.close();
  });
});

describe("the client's onRetry and onRateLimited hooks", () => {
  it("are told of every retry and every 429, as the simulator counts them", async () => {
    const retries: RetryInfo[] = [];
    const pauses: RateLimitInfo[] = [];
    const w = await start({
      mode: "polling",
      simulator: { faults: { random429Rate: 0.3 } },
      client: {
        onRetry: (retry) => retries.push(retry),
        onRateLimited: (pause) => pauses.push(pause),
      },
    });
    const job = w.engine.enrich(contacts(10), { batchSize: 2 });
    await w.advance(30 * MINUTE);
    expect((await job.summary).resolved).toBe(10);
    const counters = w.simulator.counters();
    expect(counters.rateLimited).toBeGreaterThan(0);
    expect(pauses).toHaveLength(counters.rateLimited);
    expect(pauses.every((pause) => pause.pauseMs > 0 && pause.consecutive >= 1)).toBe(true);
    expect(retries).toHaveLength(w.client.stats().retries);
    expect(retries.every((retry) => retry.attempt >= 1 && !retry.path.includes("?"))).toBe(true);
  });

  it("a hook that throws does not break the call", async () => {
    const w = await start({
      mode: "polling",
      simulator: { faults: { random429Rate: 0.5 } },
      client: {
        onRateLimited: () => {
          throw new Error("hook bug");
        },
      },
    });
    const job = w.engine.enrich(contacts(2));
    await w.advance(30 * MINUTE);
    expect((await job.summary).resolved).toBe(2);
  });
});
