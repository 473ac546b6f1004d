// Metrics through the OpenTelemetry API, read with an in-memory reader over a simulator run: each
// count equals the simulator's own.
import { afterEach, describe, expect, it } from "vitest";
import { createFetchHandler } from "../../src/webhooks/fetch-adapter.js";
import { SIGNATURE_HEADER, signBody } from "../../src/webhooks/signature.js";
import { type CollectedMetrics, inMemoryMetrics } from "../support/metric-reader.js";
import { contacts, HOOK_URL, KEY, virtualWorldPerTest } from "../support/virtual-world.js";

const MINUTE = 60_000;
const start = virtualWorldPerTest();
let collected: CollectedMetrics | undefined;
afterEach(async () => {
  await collected?.shutdown();
  collected = undefined;
});

describe("metrics over a simulator run", () => {
  it("API calls by endpoint, 429s, retries, deliveries by outcome and results by source equal the simulator's counts", async () => {
    const m = inMemoryMetrics();
    collected = m;
    const w = await start({
      mode: "webhook",
      contactEvents: false,
      simulator: {
        faults: {
          random429Rate: 0.5,
          duplicateDeliveryRate: 0.3,
          loseBatchWebhook: ({ ordinal }) => ordinal === 1,
        },
      },
      client: { meterProvider: m.provider },
      engine: { meterProvider: m.provider },
    });
    const job = w.engine.enrich(contacts(12), { batchSize: 4 });
    await w.advance(40 * MINUTE);
    const summary = await job.summary;
    expect(summary.resolved).toBe(12);
    // One forged delivery: signed with another key.
    const body = JSON.stringify({ id: "x", status: "FINISHED", data: [] });
    const forged = await createFetchHandler(w.receiver)(
      new Request(HOOK_URL, {
        method: "POST",
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signBody("not-the-key", body) },
        body,
      }),
    );
    expect(forged.status).toBe(401);

    const metrics = await m.collect();
    const sim = w.simulator.counters();
    // Every HTTP request, by route, as the simulator counted them.
    expect(m.sum(metrics, "fullenrich_rx.api.calls")).toBe(sim.calls);
    const byRoute: Record<string, number> = {};
    for (const { attributes, value } of m.points(metrics, "fullenrich_rx.api.calls")) {
      const route = `${attributes.method} ${attributes.endpoint}`;
      byRoute[route] = (byRoute[route] ?? 0) + value;
    }
    expect(byRoute).toEqual(sim.callsByRoute);
    expect(sim.rateLimited).toBeGreaterThan(0);
    expect(m.sum(metrics, "fullenrich_rx.api.calls", { outcome: "429" })).toBe(sim.rateLimited);
    expect(m.sum(metrics, "fullenrich_rx.api.rate_limited")).toBe(sim.rateLimited);
    expect(m.sum(metrics, "fullenrich_rx.api.retries")).toBe(w.client.stats().retries);
    // Deliveries: every 2xx the simulator got is accepted, a duplicate or quarantined here.
    const deliveries = (outcome: string) => m.sum(metrics, "fullenrich_rx.webhook.deliveries", { outcome });
    expect(deliveries("accepted") + deliveries("duplicate") + deliveries("quarantined")).toBe(
      sim.deliveriesSucceeded,
    );
    expect(sim.deliveriesDuplicated).toBeGreaterThan(0);
    expect(deliveries("duplicate")).toBeGreaterThanOrEqual(sim.deliveriesDuplicated);
    expect(deliveries("forged")).toBe(1);
    expect(deliveries("refused")).toBe(0);
    // Results by source: the job's own count, and every contact once.
    expect(m.sum(metrics, "fullenrich_rx.results")).toBe(12);
    expect(m.sum(metrics, "fullenrich_rx.results", { source: "webhook" })).toBe(summary.bySource.webhook);
    expect(m.sum(metrics, "fullenrich_rx.results", { source: "poll" })).toBe(summary.bySource.poll);
    expect(summary.bySource.poll).toBeGreaterThan(0);
    expect(m.count(metrics, "fullenrich_rx.result.delay")).toBe(12);
    expect(m.count(metrics, "fullenrich_rx.store.append.duration", { outcome: "ok" })).toBeGreaterThan(12);
    expect(JSON.stringify([...metrics.values()])).not.toContain(KEY);
  });

  it("without a registered SDK, nothing is recorded and nothing fails", async () => {
    const w = await start({ mode: "polling" });
    const job = w.engine.enrich(contacts(2));
    await w.advance(10 * MINUTE);
    expect((await job.summary).resolved).toBe(2);
  });
});
