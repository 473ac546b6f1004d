import { Observable } from "rxjs";
import { describe, expect, it } from "vitest";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import { DEFAULT_TIMINGS, firstPollDelay, webhookDeadline } from "../../src/engine/timings.js";
import type { AppendOptions, NewEvent, StoredEvent } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import {
  collect,
  contacts,
  eventsOf,
  gets,
  virtualWorldPerTest,
  type World,
} from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

const start = virtualWorldPerTest();

const posts = (w: World) => w.calls.filter((call) => call.method === "POST");

function expectEachOnce(results: ContactResult[], total: number): void {
  expect(results).toHaveLength(total);
  expect(new Set(results.map((r) => `${r.enrichmentId}/${r.contactKey}`)).size).toBe(total);
  expect(new Set(results.map((r) => r.custom.row)).size).toBe(total);
}

describe("polling: a waiter with back-off", () => {
  it("polls first when the batch may be done (its size matters), then backs off with growing, jittered gaps", async () => {
    const w = await start({
      mode: "polling",
      simulator: { contactDurationMs: { min: 200 * SECOND, max: 210 * SECOND } },
    });
    const job = w.engine.enrich(contacts(3));
    const seen = collect(job);
    await w.advance(10 * MINUTE);
    expectEachOnce(seen.results, 3);
    const times = gets(w).map((call) => call.at);
    // 3 contacts of 30–90 s each: a 25 % chance that all are done 30 + 60 × 0.25^(1/3) ≈ 67.8 s in.
    const expected = 30 * SECOND + 60 * SECOND * 0.25 ** (1 / 3);
    expect(times[0]).toBeGreaterThanOrEqual(expected);
    expect(times[0]).toBeLessThan(expected + SECOND);
    const gaps = times.slice(1).map((at, i) => at - (times[i] as number));
    // 5 s growing ×1.5 (±20 % jitter) toward 60 s.
    expect(gaps[0]).toBeGreaterThanOrEqual(4 * SECOND);
    expect(gaps[0]).toBeLessThanOrEqual(6 * SECOND);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(72 * SECOND);
    expect(Math.max(...gaps)).toBeGreaterThan(30 * SECOND);
    expect(gaps.slice(0, 4).every((gap, i) => i === 0 || gap > (gaps[i - 1] as number) * 0.9)).toBe(true);
    expect(seen.results.every((r) => r.source === "poll")).toBe(true);
    expect(seen.done).toBe(true);
  });

  it("stops polling once the enrichment is resolved", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(2));
    await w.advance(5 * MINUTE);
    await job.summary;
    const count = gets(w).length;
    await w.advance(30 * MINUTE);
    expect(gets(w).length).toBe(count);
  });

  it("backs off on 5xx and 429 and still resolves", async () => {
    const w = await start({
      mode: "polling",
      simulator: { faults: { getErrorRate: 0.5, random429Rate: 0.2 } },
    });
    const job = w.engine.enrich(contacts(4));
    const seen = collect(job);
    await w.advance(60 * MINUTE);
    expectEachOnce(seen.results, 4);
    expect(w.simulator.counters().serverErrors + w.simulator.counters().rateLimited).toBeGreaterThan(0);
  });

  it("a 404 ends the enrichment with an error event", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(2));
    await w.advance(SECOND);
    // The provider forgets it (retention): every GET now answers 404.
    const handle = w.simulator.handle.bind(w.simulator);
    w.simulator.handle = async (request) =>
      request.method === "GET"
        ? new Response(
            JSON.stringify({ code: "error.enrichment.not_found", message: "Enrichment ID not found" }),
            {
              status: 404,
              headers: { "content-type": "application/json" },
            },
          )
        : handle(request);
    await w.advance(2 * MINUTE);
    const summary = await job.summary;
    expect(summary.failures).toHaveLength(1);
    expect(summary.failures[0]?.state).toBe("failed");
    const failed = await eventsOf(w, "enrichment.failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({ reason: "not-found" });
    expect(gets(w)).toHaveLength(1);
  });

  it("an unrecognised error fails the enrichment visibly instead of retrying forever", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(1));
    await w.advance(SECOND);
    const handle = w.simulator.handle.bind(w.simulator);
    w.simulator.handle = async (request) =>
      request.method === "GET"
        ? new Response(JSON.stringify({ code: "error.something.new", message: "?" }), {
            status: 400,
            headers: { "content-type": "application/json" },
          })
        : handle(request);
    await w.advance(2 * MINUTE);
    const summary = await job.summary;
    expect(summary.failures[0]?.message).toMatch(/400 error\.something\.new/);
    expect((await eventsOf(w, "enrichment.failed"))[0]?.data.reason).toBe("error");
    expect(gets(w)).toHaveLength(1);
  });

  it("every wait has a maximum: the enrichment times out", async () => {
    const w = await start({
      mode: "polling",
      engine: { timings: { maxWaitMs: 10 * MINUTE } },
      simulator: { contactDurationMs: { min: 60 * MINUTE, max: 61 * MINUTE } },
    });
    const job = w.engine.enrich(contacts(1));
    await w.advance(15 * MINUTE);
    const summary = await job.summary;
    expect(summary.failures[0]?.state).toBe("failed");
    expect((await eventsOf(w, "enrichment.failed"))[0]?.data.reason).toBe("timed-out");
    const last = gets(w).at(-1)?.at ?? 0;
    expect(last).toBeLessThanOrEqual(10 * MINUTE + SECOND);
  });

  it("closing the engine stops polling before the next request", async () => {
    const w = await start({
      mode: "polling",
      simulator: { contactDurationMs: { min: 20 * MINUTE, max: 21 * MINUTE } },
    });
    w.engine.enrich(contacts(1));
    await w.advance(2 * MINUTE);
    const count = gets(w).length;
    expect(count).toBeGreaterThan(0);
    await w.engine.close();
    await w.advance(30 * MINUTE);
    expect(gets(w).length).toBe(count);
  });
});

describe("sharing the budget", () => {
  it("shares polls fairly among outstanding enrichments, within the budget", async () => {
    const w = await start({
      mode: "polling",
      client: { rateLimit: 6 },
      simulator: { rateLimit: 6, contactDurationMs: { min: 30 * MINUTE, max: 31 * MINUTE } },
    });
    for (let i = 0; i < 8; i++) w.engine.enrich(contacts(1, `job${i}`), { name: `job ${i}` });
    await w.advance(20 * MINUTE);
    const perEnrichment = new Map<string, number>();
    for (const call of gets(w)) perEnrichment.set(call.path, (perEnrichment.get(call.path) ?? 0) + 1);
    expect(perEnrichment.size).toBe(8);
    const counts = [...perEnrichment.values()];
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    expect(w.simulator.counters().busiestWindow).toBeLessThanOrEqual(6);
    expect(w.simulator.counters().rateLimited).toBe(0);
  });

  it("submissions outrank polls waiting for the budget", async () => {
    const w = await start({
      mode: "polling",
      client: { rateLimit: 3 },
      simulator: { rateLimit: 3, contactDurationMs: { min: 30 * MINUTE, max: 31 * MINUTE } },
    });
    for (let i = 0; i < 3; i++) w.engine.enrich(contacts(1, `early${i}`));
    await w.advance(5 * MINUTE);
    // The budget is now saturated by polls; a new job's POST must go before the polls queued.
    const before = w.calls.length;
    w.engine.enrich(contacts(1, "late"));
    await w.advance(2 * MINUTE);
    const after = w.calls.slice(before);
    expect(after[0]?.method).toBe("POST");
  });
});

/** The most enrichments the simulator had running (created, not yet finished) at any instant. */
function mostRunningAtOnce(w: World): number {
  const edges = w.simulator
    .enrichments()
    .flatMap((e) => [
      { at: e.createdAt, delta: 1 },
      { at: e.finishedAt ?? Number.POSITIVE_INFINITY, delta: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let most = 0;
  for (const edge of edges) {
    running += edge.delta;
    most = Math.max(most, running);
  }
  return most;
}

describe("the provider's limit of enrichments running at once", () => {
  it("holds batches back, in order, while maxRunning are running, and still emits every contact once", async () => {
    const w = await start({ mode: "webhook", engine: { maxRunning: 2 } });
    const seen = collect(w.engine.enrich(contacts(7), { batchSize: 1, name: "queued" }));
    await w.advance(30 * MINUTE);
    expect(seen.done).toBe(true);
    expectEachOnce(seen.results, 7);
    expect(w.simulator.enrichments()).toHaveLength(7);
    expect(mostRunningAtOnce(w)).toBe(2);
    // Submitted in batch order, the third only after one of the first two finished.
    const started = [...w.simulator.enrichments()].sort((a, b) => a.createdAt - b.createdAt);
    expect(started.slice(2).map((e) => e.name)).toEqual([3, 4, 5, 6, 7].map((i) => `queued (${i}/7)`));
    const firstFinish = Math.min(...started.slice(0, 2).map((e) => e.finishedAt ?? Number.POSITIVE_INFINITY));
    expect(started[2]?.createdAt).toBeGreaterThanOrEqual(firstFinish);
  });

  it("without the limit in the way (the default 100), the same batches all start at once", async () => {
    const w = await start({ mode: "webhook" });
    const seen = collect(w.engine.enrich(contacts(7), { batchSize: 1 }));
    await w.advance(30 * MINUTE);
    expectEachOnce(seen.results, 7);
    expect(mostRunningAtOnce(w)).toBe(7);
  });

  it("counts enrichments and reverse lookups separately", async () => {
    const w = await start({ mode: "webhook", engine: { maxRunning: 1 } });
    const enriched = collect(w.engine.enrich(contacts(1)));
    const reversed = collect(w.engine.reverseLookup([{ email: "ada@example.com" }]));
    await w.advance(MINUTE / 2);
    expect(
      w.simulator
        .enrichments()
        .map((e) => e.kind)
        .sort(),
    ).toEqual(["enrich", "reverse"]);
    await w.advance(30 * MINUTE);
    expect(enriched.results).toHaveLength(1);
    expect(reversed.results).toHaveLength(1);
  });

  it("an enrichment that never settles (its webhook lost, no fallback) frees its slot at its webhook deadline", async () => {
    const w = await start({
      mode: "webhook",
      engine: { maxRunning: 1, fallback: false },
      simulator: { faults: { loseBatchWebhook: ({ ordinal }) => ordinal === 0 } },
    });
    w.engine.enrich(contacts(2), { batchSize: 1 });
    await w.advance(30 * MINUTE);
    const [first, second] = [...w.simulator.enrichments()].sort((a, b) => a.createdAt - b.createdAt);
    expect(second).toBeDefined();
    // Not before the first one's deadline (accepted at about its creation), and soon after it.
    const deadline = webhookDeadline(DEFAULT_TIMINGS, first?.createdAt ?? 0);
    expect(second?.createdAt).toBeGreaterThanOrEqual(deadline - SECOND);
    expect(second?.createdAt).toBeLessThan(deadline + 10 * SECOND);
  });

  it("a batch waiting for room is not sent once its job is aborted", async () => {
    const w = await start({ mode: "webhook", engine: { maxRunning: 1 } });
    const controller = new AbortController();
    const job = w.engine.enrich(contacts(3), { batchSize: 1, signal: controller.signal });
    await w.advance(10 * SECOND);
    expect(posts(w)).toHaveLength(1);
    controller.abort();
    await w.advance(30 * MINUTE);
    expect(posts(w)).toHaveLength(1);
    const summary = await job.summary;
    expect(summary.stopped).toBe("aborted");
    expect(summary.failed).toBe(3);
  });
});

describe("webhooks, and polling as their fallback", () => {
  it("webhook mode: no poll at all when the webhooks arrive", async () => {
    const w = await start({ mode: "webhook" });
    const seen = collect(w.engine.enrich(contacts(5)));
    await w.advance(30 * MINUTE);
    expectEachOnce(seen.results, 5);
    expect(gets(w)).toHaveLength(0);
    expect(seen.results.every((r) => r.source === "webhook" && r.via === "batch-event")).toBe(true);
  });

  it("a lost batch webhook is found by a probe at its expected finish plus slack, and results say so", async () => {
    const w = await start({
      mode: "webhook",
      simulator: { faults: { loseBatchWebhook: ({ ordinal }) => ordinal === 1 } },
    });
    const first = collect(w.engine.enrich(contacts(3, "a")));
    await w.advance(SECOND);
    const second = collect(w.engine.enrich(contacts(3, "b")));
    await w.advance(30 * MINUTE);
    expectEachOnce(first.results, 3);
    expectEachOnce(second.results, 3);
    expect(first.results.every((r) => r.source === "webhook")).toBe(true);
    expect(second.results.every((r) => r.source === "poll")).toBe(true);
    // The probe itself resolved it: one GET, no takeover by polling.
    expect(gets(w)).toHaveLength(1);
    expect(await eventsOf(w, "fallback.activated")).toHaveLength(0);
    const health = await eventsOf(w, "deliveries.health");
    expect(health.map((event) => event.data.state)).toEqual(["failing"]);
    // Expected finish (90 s, documented) + slack (60 s) after acceptance, not + the 5-minute retry window.
    const firstGet = gets(w)[0]?.at ?? 0;
    expect(firstGet).toBeGreaterThanOrEqual(SECOND + 90 * SECOND + 60 * SECOND);
    expect(firstGet).toBeLessThan(SECOND + 90 * SECOND + 61 * SECOND);
  });

  it("with fallback off (a plain webhook integration), a lost batch webhook is lost: no poll, no result", async () => {
    const w = await start({
      mode: "webhook",
      engine: { fallback: false },
      simulator: { faults: { loseBatchWebhook: () => true } },
    });
    const seen = collect(w.engine.enrich(contacts(3)));
    await w.advance(60 * MINUTE);
    expect(seen.results).toHaveLength(0);
    expect(seen.done).toBe(false);
    expect(gets(w)).toHaveLength(0);
    expect(await eventsOf(w, "fallback.activated")).toHaveLength(0);
  });

  it("per-contact events resolve contacts early but the job completes only with the final status", async () => {
    const w = await start({
      mode: "webhook",
      contactEvents: true,
      simulator: { faults: { loseBatchWebhook: () => true } },
    });
    const job = w.engine.enrich(contacts(4));
    const seen = collect(job);
    await w.advance(2 * MINUTE);
    expect(seen.results).toHaveLength(4);
    expect(seen.results.every((r) => r.via === "contact-event")).toBe(true);
    expect(seen.done).toBe(false);
    await w.advance(10 * MINUTE);
    expect(seen.done).toBe(true);
    expect(seen.results).toHaveLength(4);
    expect(await eventsOf(w, "contact.duplicate")).toHaveLength(4);
  });

  it("per-contact events arriving after the batch event are duplicates, not new results", async () => {
    const w = await start({
      mode: "webhook",
      contactEvents: true,
      simulator: { faults: { contactEventsAfterBatch: true } },
    });
    const seen = collect(w.engine.enrich(contacts(4)));
    await w.advance(10 * MINUTE);
    expectEachOnce(seen.results, 4);
    expect(seen.results.every((r) => r.via === "batch-event")).toBe(true);
    expect(await eventsOf(w, "contact.duplicate")).toHaveLength(4);
  });

  it("duplicated deliveries give each contact once", async () => {
    const w = await start({
      mode: "webhook",
      contactEvents: true,
      simulator: { faults: { duplicateDeliveryRate: 1 } },
    });
    const seen = collect(w.engine.enrich(contacts(6)));
    await w.advance(10 * MINUTE);
    expectEachOnce(seen.results, 6);
    expect(w.receiver.counters().duplicate).toBe(7);
  });

  it("after a non-2xx answer here, polls once the provider's retries would be spent", async () => {
    const failing = new DeliveryFailingStore();
    const w = await start({
      mode: "webhook",
      store: failing,
      simulator: { contactDurationMs: { min: 30 * SECOND, max: 31 * SECOND } },
    });
    const seen = collect(w.engine.enrich(contacts(2)));
    await w.advance(20 * MINUTE);
    expectEachOnce(seen.results, 2);
    const fallbacks = await eventsOf(w, "fallback.activated");
    expect(fallbacks[0]?.data.reason).toBe("delivery-failed");
    const failedAt = 31 * SECOND;
    const firstGet = gets(w)[0]?.at ?? 0;
    // The failure at ~31 s, then the provider's 5 retries a minute apart, then slack: before the plain deadline.
    expect(firstGet).toBeGreaterThanOrEqual(failedAt + 5 * MINUTE + 60 * SECOND - SECOND);
    expect(firstGet).toBeLessThan(90 * SECOND + 5 * MINUTE + 60 * SECOND);
    expect(w.receiver.counters().storeErrors).toBe(6);
  });

  it("both mode: webhooks and polls together, each contact once", async () => {
    const w = await start({ mode: "both", contactEvents: true });
    const seen = collect(w.engine.enrich(contacts(5)));
    await w.advance(10 * MINUTE);
    expectEachOnce(seen.results, 5);
    expect(gets(w).length).toBeGreaterThan(0);
  });
});

describe("final statuses", () => {
  it("credits running out: contacts missing from data resolve as CREDITS_INSUFFICIENT without data", async () => {
    const w = await start({ mode: "webhook", simulator: { credits: 2 } });
    const job = w.engine.enrich(contacts(6), { enrichFields: ["contact.work_emails"] });
    const seen = collect(job);
    await w.advance(10 * MINUTE);
    expectEachOnce(seen.results, 6);
    const unpaid = seen.results.filter((r) => !r.found);
    expect(unpaid.length).toBeGreaterThan(0);
    expect(seen.results.every((r) => r.status === "CREDITS_INSUFFICIENT")).toBe(true);
    expect(unpaid.every((r) => r.contactInfo === null)).toBe(true);
    const summary = await job.summary;
    expect(summary.byStatus.CREDITS_INSUFFICIENT).toBe(6);
  });

  it("a CANCELED batch resolves every contact with CANCELED", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(3));
    const seen = collect(job);
    await w.advance(SECOND);
    const handle = w.simulator.handle.bind(w.simulator);
    w.simulator.handle = async (request) => {
      if (request.method !== "GET") return handle(request);
      const id = new URL(request.url).pathname.split("/").pop();
      return new Response(
        JSON.stringify({ id, name: "x", status: "CANCELED", cost: { credits: 0 }, data: [] }),
        {
          status: 200,
          headers: { "content-type": "application/json" },
        },
      );
    };
    await w.advance(5 * MINUTE);
    expectEachOnce(seen.results, 3);
    expect(seen.results.every((r) => r.status === "CANCELED" && !r.found)).toBe(true);
  });
});

describe("a failing log subscription", () => {
  it("is opened again after the last event received: nothing missed, nothing emitted twice", async () => {
    const store = new FlakySubscriptionStore(12);
    const w = await start({ mode: "polling", store });
    const engineWide: ContactResult[] = [];
    w.engine.results$.subscribe((r) => engineWide.push(r));
    const seen = collect(w.engine.enrich(contacts(5)));
    await w.advance(10 * MINUTE);
    expect(store.failures).toBe(1);
    expectEachOnce(seen.results, 5);
    expectEachOnce(engineWide, 5);
  });
});

describe("configuration errors", () => {
  it("webhook or both mode without a public URL says to use polling", async () => {
    const w = await start({ mode: "polling" });
    for (const mode of ["webhook", "both"] as const) {
      await expect(EnrichmentEngine.start({ client: w.client, store: w.store, mode })).rejects.toThrow(
        `${mode} mode needs webhook settings (the public URL the provider can reach); without a public URL, use mode "polling"`,
      );
    }
  });

  it("a maxRunning below 1 is refused, naming the option", async () => {
    const w = await start({ mode: "polling" });
    await expect(EnrichmentEngine.start({ client: w.client, store: w.store, maxRunning: 0 })).rejects.toThrow(
      /maxRunning must be a whole number of at least 1, not 0/,
    );
  });
});

describe("resume", () => {
  it("after a restart, an accepted batch is never submitted again and its results arrive", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(3), { jobId: "resumable" });
    await w.advance(5 * SECOND);
    await w.restart();
    const report = await w.engine.resume();
    expect(report.resumed).toHaveLength(1);
    const rerun = w.engine.enrich(contacts(3), { jobId: "resumable" });
    const seen = collect(rerun);
    await w.advance(10 * MINUTE);
    expectEachOnce(seen.results, 3);
    expect(posts(w)).toHaveLength(1);
    void job;
  });

  it("polls at once, on resume, an enrichment whose expected finish passed while down", async () => {
    const w = await start({ mode: "webhook", simulator: { faults: { loseBatchWebhook: () => true } } });
    w.engine.enrich(contacts(2));
    await w.advance(5 * SECOND);
    await w.engine.close();
    await w.advance(3 * MINUTE);
    await w.restart();
    const resumedAt = Date.now();
    const report = await w.engine.resume();
    expect(report.resumed[0]?.polling).toBe(true);
    await w.advance(SECOND);
    const firstGet = gets(w)[0]?.at ?? Number.POSITIVE_INFINITY;
    expect(firstGet - resumedAt).toBeLessThan(SECOND);
    expect((await eventsOf(w, "fallback.activated"))[0]?.data.reason).toBe("resumed-overdue");
  });

  it("reports a batch whose POST outcome is unknown, and never POSTs it again silently", async () => {
    const store = new MemoryEventStore();
    const w = await start({ mode: "polling", store });
    // A request recorded, then the process died before the answer was recorded.
    await store.append("batch-ghost", [
      {
        type: "enrichment.requested",
        version: 1,
        dedupKey: "requested:ghost",
        data: {
          batchId: "ghost",
          jobId: "ghost-job",
          batchIndex: 0,
          contactsDigest: "x",
          kind: "enrich",
          name: "ghost",
          contacts: [{ key: "c:ghost.0", contact: { first_name: "A", last_name: "B", domain: "c.com" } }],
          keying: { correlationKey: "_fxr", idField: null },
          webhookUrl: null,
          contactWebhookUrl: null,
          mode: "polling",
          requestedAt: 0,
        },
      },
    ]);
    await w.restart();
    const report = await w.engine.resume();
    expect(report.ambiguous).toEqual([
      expect.objectContaining({
        batchId: "ghost",
        jobId: "ghost-job",
        contacts: 1,
        message: expect.stringMatching(/may or may not be running/),
      }),
    ]);
    await w.advance(10 * MINUTE);
    expect(posts(w)).toHaveLength(0);
    expect((await eventsOf(w, "enrichment.rejected"))[0]?.data.outcomeUnknown).toBe(true);
  });
});

/** A store whose first subscription fails after `failAfter` events (a lost connection). */
class FlakySubscriptionStore extends MemoryEventStore {
  failures = 0;
  constructor(private readonly failAfter: number) {
    super();
  }
  override subscribe(after?: number): Observable<StoredEvent> {
    const source = super.subscribe(after);
    if (this.failures > 0 || after !== 0) return source;
    return new Observable<StoredEvent>((subscriber) => {
      let count = 0;
      const inner = source.subscribe({
        next: (event) => {
          subscriber.next(event);
          if (++count === this.failAfter && this.failures === 0) {
            this.failures++;
            subscriber.error(new Error("connection lost"));
            inner.unsubscribe();
          }
        },
        error: (error) => subscriber.error(error),
      });
      return () => inner.unsubscribe();
    });
  }
}

/** A store whose appends of webhook deliveries fail (the receiver must answer 503). */
class DeliveryFailingStore extends MemoryEventStore {
  override append(stream: string, events: readonly NewEvent[], options?: AppendOptions) {
    if (stream === "deliveries") return Promise.reject(new Error("disk full"));
    return super.append(stream, events, options);
  }
}

describe("timings", () => {
  it("the first poll of a batch waits longer for bigger batches (they finish with their slowest contact)", () => {
    const delays = [1, 10, 100].map((size) => firstPollDelay(DEFAULT_TIMINGS, size));
    expect(delays[0]).toBeCloseTo(45_000, -2);
    expect(delays[1]).toBeCloseTo(82_230, -2);
    expect(delays[2]).toBeCloseTo(89_170, -2);
    expect(firstPollDelay({ ...DEFAULT_TIMINGS, firstPollAfterMs: 300_000 }, 10)).toBe(300_000);
  });

  it("the webhook deadline waits out the provider's retries unless told otherwise", () => {
    expect(webhookDeadline(DEFAULT_TIMINGS, 0)).toBe(90_000 + 5 * 60_000 + 60_000);
    expect(webhookDeadline({ ...DEFAULT_TIMINGS, fallbackAfterRetries: 0 }, 0)).toBe(90_000 + 60_000);
  });
});
