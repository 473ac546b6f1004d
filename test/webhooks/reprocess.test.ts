import { describe, expect, it } from "vitest";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { dedupKeys, newEvent, parseEvent, streams } from "../../src/events/event-types.js";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { sha256Hex } from "../../src/internal/crypto.js";
import { reprocessQuarantined } from "../../src/webhooks/reprocess.js";
import { contacts, KEY, virtualWorldPerTest } from "../support/virtual-world.js";

const MINUTE = 60_000;

/** What an older receiver stored for a signed body its parser refused. */
async function quarantine(store: EventStore, body: string, reason: string): Promise<string> {
  const digest = sha256Hex(new TextEncoder().encode(body));
  await store.append(streams.deliveries, [
    newEvent(
      "webhook.quarantined",
      { digest, reason, body, encoding: "utf8", verified: true, receivedAt: 1_000 },
      dedupKeys.delivery(digest),
    ),
  ]);
  return digest;
}

const batchBody = (enrichmentId: string) =>
  JSON.stringify({ id: enrichmentId, name: "old", status: "FINISHED", cost: { credits: 0 }, data: [] });

describe("reprocessQuarantined", () => {
  it("appends what parses now as an ordinary delivery, once, and reports what still does not", async () => {
    const store = new MemoryEventStore();
    const good = await quarantine(
      store,
      batchBody("7b0a4d1c-0000-4000-8000-000000000001"),
      "an old parser's complaint",
    );
    const bad = await quarantine(store, '{"id": "truncated', "not JSON");

    const first = await reprocessQuarantined(store, { now: () => 5_000 });
    expect(first.reprocessed).toEqual([
      { digest: good, enrichmentId: "7b0a4d1c-0000-4000-8000-000000000001", event: "batch" },
    ]);
    expect(first.stillQuarantined).toEqual([
      { digest: bad, reason: expect.stringMatching(/^not JSON/), position: 2 },
    ]);
    const received = (await store.read())
      .map(parseEvent)
      .filter((event) => event.type === "webhook.received");
    expect(received).toHaveLength(1);
    expect(received[0]?.data).toMatchObject({
      digest: good,
      receivedAt: 1_000,
      reprocessedAt: 5_000,
      verified: true,
    });
    expect(received[0]?.data).toHaveProperty("payload.id", "7b0a4d1c-0000-4000-8000-000000000001");

    // Again (a second run, or a second process): nothing appended twice.
    const second = await reprocessQuarantined(store);
    expect(second.reprocessed).toEqual([]);
    expect(second.alreadyReprocessed).toBe(1);
    expect(await store.head()).toBe(3);
  });
});

describe("a quarantined batch event, re-processed after an upgrade, resolves its contacts", () => {
  const start = virtualWorldPerTest();

  it("through the running engine, by webhook, each contact once", async () => {
    // Its batch webhook "arrived" but was quarantined: no fallback polling, so nothing else resolves it.
    const w = await start({
      mode: "webhook",
      engine: { fallback: false },
      simulator: { faults: { loseBatchWebhook: () => true } },
    });
    const job = w.engine.enrich(contacts(4));
    const results: ContactResult[] = [];
    job.results$.subscribe((result) => results.push(result));
    await w.advance(5 * MINUTE);
    expect(results).toHaveLength(0);

    const [enrichment] = w.simulator.enrichments();
    const answer = await w.simulator.handle(
      new Request(`http://provider.test/api/v2/contact/enrich/bulk/${enrichment?.id}`, {
        headers: { authorization: `Bearer ${KEY}` },
      }),
    );
    await quarantine(w.store, await answer.text(), "an old parser's complaint");
    await w.advance(MINUTE);
    expect(results).toHaveLength(0);

    const report = await reprocessQuarantined(w.store);
    expect(report.reprocessed).toHaveLength(1);
    await w.advance(MINUTE);
    expect(results).toHaveLength(4);
    expect(new Set(results.map((r) => r.contactKey)).size).toBe(4);
    expect(results.every((r) => r.source === "webhook")).toBe(true);
    expect((await job.summary).resolved).toBe(4);
  });
});
