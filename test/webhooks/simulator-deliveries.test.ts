import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { parseEvent } from "../../src/events/event-types.js";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import type { DeliveryLogEntry, RunningSimulator, StartSimulatorOptions } from "../../src/simulator/index.js";
import { startSimulator } from "../../src/simulator/index.js";
import { type FailedDelivery, WebhookReceiver } from "../../src/webhooks/receiver.js";
import {
  deliveryEvents,
  expectStoredExactlyOnce,
  FailingStore,
  KEY,
  type Listening,
  post,
  serveNode,
  waitUntil,
} from "./helpers.js";

/** 0.005: contacts take 150–450 ms, a failed webhook is retried every 300 ms. */
const TIME_SCALE = 0.005;

interface World {
  sim: RunningSimulator;
  client: FullEnrichClient;
  store: EventStore;
  receiver: WebhookReceiver;
  server: Listening;
  failures: FailedDelivery[];
}

const worlds: World[] = [];

async function world(
  options: { store?: EventStore; simulatorKey?: string; simulator?: Partial<StartSimulatorOptions> } = {},
): Promise<World> {
  const simulatorKey = options.simulatorKey ?? KEY;
  const sim = await startSimulator({
    apiKeys: [simulatorKey],
    timeScale: TIME_SCALE,
    seed: 11,
    // Loopback answers take milliseconds; a generous timeout keeps the retry count deterministic.
    webhookTimeoutMs: 5_000,
    ...options.simulator,
  });
  const store = options.store ?? new MemoryEventStore();
  const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
  const failures: FailedDelivery[] = [];
  receiver.failures$.subscribe((failure) => failures.push(failure));
  const server = await serveNode(receiver, ["/hooks", "/hooks/batch", "/hooks/contact"]);
  const client = new FullEnrichClient({ apiKey: simulatorKey, baseUrl: sim.baseUrl, retries: 0 });
  const created = { sim, client, store, receiver, server, failures };
  worlds.push(created);
  return created;
}

afterEach(async () => {
  for (const { sim, server, receiver, store } of worlds.splice(0)) {
    await sim.close();
    await server.close();
    receiver.close();
    await store.close();
  }
});

function contacts(count: number, tag: string): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, index) => ({
    first_name: `Grace${index}`,
    last_name: "Hopper",
    domain: "example.com",
    enrich_fields: ["contact.work_emails", "contact.phones"],
    custom: { row: String(index), tag },
  }));
}

/** Waits until every enrichment is over and every delivery the simulator started has a settled outcome. */
async function waitForDeliveries(
  w: World,
  expected: (log: DeliveryLogEntry[]) => boolean,
  what: string,
): Promise<DeliveryLogEntry[]> {
  return waitUntil(
    what,
    () => {
      const done = w.sim.simulator.enrichments().every((job) => job.status !== "IN_PROGRESS");
      const log = w.sim.simulator.deliveries();
      return done && expected(log) ? log : undefined;
    },
    { timeoutMs: 10_000 },
  );
}

const ok = (entry: DeliveryLogEntry): boolean =>
  typeof entry.outcome === "number" && entry.outcome >= 200 && entry.outcome < 300;

describe("webhooks delivered by the simulator", () => {
  it("stores every batch and per-contact event once, for enrichments and reverse lookups", async () => {
    const w = await world();
    const { enrichment_id: enrichId } = await w.client.startEnrichment({
      name: "plain",
      webhook_url: `http://127.0.0.1:${w.server.port}/hooks/batch`,
      webhook_events: { contact_finished: `http://127.0.0.1:${w.server.port}/hooks/contact` },
      data: contacts(4, "plain"),
    });
    const { enrichment_id: reverseId } = await w.client.startReverseLookup({
      name: "reverse",
      webhook_url: `http://127.0.0.1:${w.server.port}/hooks/batch`,
      webhook_events: { contact_finished: `http://127.0.0.1:${w.server.port}/hooks/contact` },
      data: [{ email: "ada@example.com" }, { email: "grace@example.org", custom: { row: "1" } }],
    });

    // 4 + 2 per-contact events, 2 batch events.
    const log = await waitForDeliveries(w, (entries) => entries.length === 8, "8 deliveries");
    expect(log.every(ok)).toBe(true);
    expect(log.every((entry) => entry.attempt === 1)).toBe(true);

    const stored = await expectStoredExactlyOnce(
      w.store,
      log.map((entry) => entry.bodySha256),
    );
    const summary = stored.map((event) => {
      const parsed = parseEvent(event);
      if (parsed.type !== "webhook.received") throw new Error(`unexpected ${parsed.type}`);
      expect(parsed.data.verified).toBe(true);
      return `${parsed.data.enrichmentId === enrichId ? "enrich" : parsed.data.enrichmentId === reverseId ? "reverse" : "?"}:${parsed.data.event}`;
    });
    expect(summary.filter((entry) => entry === "enrich:contact")).toHaveLength(4);
    expect(summary.filter((entry) => entry === "enrich:batch")).toHaveLength(1);
    expect(summary.filter((entry) => entry === "reverse:contact")).toHaveLength(2);
    expect(summary.filter((entry) => entry === "reverse:batch")).toHaveLength(1);
    expect(w.receiver.counters()).toMatchObject({
      accepted: 8,
      duplicate: 0,
      quarantined: 0,
      storeErrors: 0,
    });
  });

  it("answers 2xx to duplicated deliveries, stores them once and counts the duplicates", async () => {
    const w = await world({ simulator: { faults: { duplicateDeliveryRate: 1 } } });
    await w.client.startEnrichment({
      name: "duplicated",
      webhook_url: `http://127.0.0.1:${w.server.port}/hooks`,
      webhook_events: { contact_finished: `http://127.0.0.1:${w.server.port}/hooks` },
      data: contacts(3, "dup"),
    });

    const log = await waitForDeliveries(w, (entries) => entries.length === 8, "4 deliveries sent twice each");
    expect(log.every(ok)).toBe(true);
    const copies = log.filter((entry) => entry.duplicate === true);
    expect(copies).toHaveLength(4);
    const digests = new Set(log.map((entry) => entry.bodySha256));
    expect(digests.size).toBe(4);
    await expectStoredExactlyOnce(w.store, digests);
    expect(w.sim.simulator.counters()).toMatchObject({ deliveriesDuplicated: 4, deliveriesSucceeded: 8 });
    expect(w.receiver.counters()).toMatchObject({ accepted: 4, duplicate: 4 });
  });

  it("answers 503 while the store fails, and stores the provider's retry once with a 2xx", async () => {
    const failing = new FailingStore(new MemoryEventStore(), 2);
    const w = await world({ store: failing });
    const { enrichment_id: id } = await w.client.startEnrichment({
      name: "flaky store",
      webhook_url: `http://127.0.0.1:${w.server.port}/hooks`,
      data: contacts(2, "flaky"),
    });

    const log = await waitForDeliveries(w, (entries) => entries.some(ok), "a successful retry");
    expect(log.map((entry) => [entry.attempt, entry.outcome])).toEqual([
      [1, 503],
      [2, 503],
      [3, 200],
    ]);
    expect(new Set(log.map((entry) => entry.bodySha256)).size).toBe(1);
    await expectStoredExactlyOnce(w.store, [log[0]?.bodySha256 as string]);
    expect(w.failures).toHaveLength(2);
    expect(w.failures.every((failure) => failure.enrichmentId === id)).toBe(true);
    expect(w.failures[0]?.reason).toMatch(/disk I\/O error/);
    expect(w.receiver.counters()).toMatchObject({ accepted: 1, duplicate: 0, storeErrors: 2 });
    expect(w.sim.simulator.counters()).toMatchObject({ deliveriesRetried: 2, deliveriesAbandoned: 0 });
  });

  it("refuses deliveries signed with another key (401 on every attempt), stores nothing", async () => {
    const w = await world({
      simulatorKey: "someone-elses-key",
      simulator: { webhookRetryIntervalMs: 20 },
    });
    await w.client.startEnrichment({
      name: "forged",
      webhook_url: `http://127.0.0.1:${w.server.port}/hooks`,
      webhook_events: { contact_finished: `http://127.0.0.1:${w.server.port}/hooks` },
      data: contacts(2, "forged"),
    });

    // 3 deliveries, each tried 1 + 5 times, then abandoned.
    const log = await waitForDeliveries(
      w,
      () => w.sim.simulator.counters().deliveriesAbandoned === 3,
      "3 abandoned deliveries",
    );
    expect(log).toHaveLength(18);
    expect(log.every((entry) => entry.outcome === 401)).toBe(true);
    expect(w.receiver.counters()).toMatchObject({ accepted: 0, duplicate: 0, quarantined: 0 });
    expect(w.receiver.counters().rejected["bad-signature"]).toBe(18);
    expect(await w.store.head()).toBe(0);
  });

  it("refuses a delivery without a signature with 401", async () => {
    const w = await world();
    const body = JSON.stringify({ id: "e-unsigned", status: "FINISHED", data: [] });
    const answer = await post(`http://127.0.0.1:${w.server.port}/hooks`, body, {
      "content-type": "application/json",
    });
    expect(answer.status).toBe(401);
    expect(w.receiver.counters().rejected["missing-signature"]).toBe(1);
    expect(await w.store.head()).toBe(0);
  });

  it("stores per-contact events that arrive after their batch event", async () => {
    const w = await world({ simulator: { faults: { contactEventsAfterBatch: true } } });
    const { enrichment_id: id } = await w.client.startEnrichment({
      name: "late contacts",
      webhook_url: `http://127.0.0.1:${w.server.port}/hooks`,
      webhook_events: { contact_finished: `http://127.0.0.1:${w.server.port}/hooks` },
      data: contacts(3, "late"),
    });

    const log = await waitForDeliveries(w, (entries) => entries.length === 4, "4 deliveries");
    expect(log.every(ok)).toBe(true);
    expect(log[0]?.kind).toBe("batch");
    const stored = await expectStoredExactlyOnce(
      w.store,
      log.map((entry) => entry.bodySha256),
    );
    expect(stored.map((event) => (event.data as { event: string }).event)).toEqual([
      "batch",
      "contact",
      "contact",
      "contact",
    ]);
    expect(stored.every((event) => (event.data as { enrichmentId: string }).enrichmentId === id)).toBe(true);
    expect((await deliveryEvents(w.store)).quarantined).toEqual([]);
  });
});
