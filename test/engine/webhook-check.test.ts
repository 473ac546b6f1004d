import { describe, expect, it, vi } from "vitest";
import { DEFAULT_TIMINGS, firstPollDelay } from "../../src/engine/timings.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { signBody } from "../../src/webhooks/signature.js";
import * as vw from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

const start = vw.virtualWorldPerTest();

/** Every event type in the world's log. */
async function types(w: vw.World): Promise<string[]> {
  return (await w.store.read()).map((event) => event.type);
}

describe("the start-up check: one signed probe delivery to the public URL, no API call", () => {
  it("arrives: nothing stored, no API call, batches wait on their webhooks", async () => {
    const w = await start();
    const check = await w.engine.webhookCheck;
    expect(check).toMatchObject({ arrived: true, url: vw.HOOK_URL });
    expect(check?.detail).toMatch(/reached the receiver/);
    expect(w.calls).toHaveLength(0);
    // The probe became neither a delivery, nor a quarantined payload, nor anything else.
    expect(await types(w)).toEqual([]);
    expect(w.receiver.counters()).toMatchObject({ accepted: 0, quarantined: 0, duplicate: 0 });
    const job = vw.collect(w.engine.enrich(vw.contacts(3)));
    await w.advance(3 * MINUTE);
    expect(job.results).toHaveLength(3);
    expect(job.results.every((r) => r.source === "webhook")).toBe(true);
    expect(vw.gets(w)).toHaveLength(0);
  });

  it("does not arrive (connection refused): says what was tried, and this run's batches are polled from their first poll, the webhook still registered", async () => {
    const w = await start({ receiverUp: false });
    const check = await w.engine.webhookCheck;
    expect(check?.arrived).toBe(false);
    expect(check?.detail).toMatch(
      /POSTed to http:\/\/hooks\.test\/fullenrich: the POST failed: fetch failed/,
    );
    expect(w.calls).toHaveLength(0);
    const health = await vw.eventsOf(w, "deliveries.health");
    expect(health.map((event) => [event.data.state, event.data.enrichmentId])).toEqual([["failing", null]]);
    expect(health[0]?.data.detail).toMatch(/^start-up check: /);
    const job = vw.collect(w.engine.enrich(vw.contacts(3)));
    await w.advance(3 * MINUTE);
    expect(job.results).toHaveLength(3);
    expect(job.results.every((r) => r.source === "poll")).toBe(true);
    const acceptedAt = w.calls.find((call) => call.method === "POST")?.at as number;
    const firstGet = vw.gets(w)[0]?.at as number;
    expect(firstGet - acceptedAt).toBeGreaterThanOrEqual(firstPollDelay(DEFAULT_TIMINGS, 3));
    expect(firstGet - acceptedAt).toBeLessThan(firstPollDelay(DEFAULT_TIMINGS, 3) + 2 * SECOND);
    const request = w.simulator.enrichments()[0]?.request as { webhook_url?: string };
    expect(request.webhook_url).toBe(vw.HOOK_URL);
    // A delivery arriving later (the receiver back) puts the next batches back on webhooks.
    w.receiverUp.value = true;
    const next = vw.collect(w.engine.enrich(vw.contacts(2, "n")));
    await w.advance(5 * MINUTE);
    expect(next.results).toHaveLength(2);
    expect((await vw.eventsOf(w, "deliveries.health")).map((event) => event.data.state)).toEqual([
      "failing",
      "working",
    ]);
  });

  it("answered 2xx by something else (a tunnel's page): waits for the probe at the receiver, then says it did not arrive", async () => {
    const w = await start({
      engine: {
        webhook: {
          url: vw.HOOK_URL,
          probe: { fetch: async () => new Response("tunnel offline", { status: 200 }), timeoutMs: 5_000 },
        },
      },
    });
    let check: Awaited<typeof w.engine.webhookCheck> | undefined;
    void w.engine.webhookCheck.then((result) => {
      check = result;
    });
    await w.advance(4 * SECOND);
    expect(check).toBeUndefined();
    await w.advance(2 * SECOND);
    expect(check?.arrived).toBe(false);
    expect(check?.detail).toMatch(/did not reach the receiver within 5\.0 s/);
  });

  it("a loopback URL while the API is public: not even tried, the provider cannot reach it", async () => {
    let posted = 0;
    const w = await start({
      client: { baseUrl: "https://app.fullenrich.com/api/v2" },
      engine: {
        webhook: {
          url: "http://127.0.0.1:9/hook",
          probe: {
            fetch: async () => {
              posted++;
              return new Response(null, { status: 204 });
            },
          },
        },
      },
    });
    const check = await w.engine.webhookCheck;
    expect(check?.arrived).toBe(false);
    expect(check?.detail).toMatch(/loopback or private address while the API is not/);
    expect(posted).toBe(0);
  });

  it("no check in polling mode, nor with probe: false", async () => {
    const polling = await vw.virtualWorld({ mode: "polling" });
    const off = await vw.virtualWorld({ receiverUp: false, engine: { webhook: { probe: false } } });
    try {
      expect(await polling.engine.webhookCheck).toBeNull();
      expect(await off.engine.webhookCheck).toBeNull();
      expect(await vw.eventsOf(off, "deliveries.health")).toEqual([]);
    } finally {
      await polling.close();
      await off.close();
    }
  });
});

describe("the receiver and probe deliveries", () => {
  const store = () => new MemoryEventStore();

  it("answers a probe it did not issue with 200 and stores nothing; an unsigned one is refused", async () => {
    const events = store();
    const receiver = new WebhookReceiver({ store: events, apiKeys: ["k"] });
    const body = Buffer.from(JSON.stringify({ fullenrich_rx_probe: "0123456789abcdef0123456789abcdef" }));
    const foreign = await receiver.receive({
      rawBody: body,
      headers: { "x-signature-sha1": signBody("k", body) },
    });
    expect(foreign.status).toBe(200);
    const unsigned = await receiver.receive({ rawBody: body, headers: {} });
    expect(unsigned.status).toBe(401);
    expect(await events.read()).toEqual([]);
  });

  it("a body that only looks like a probe is a delivery like any other (quarantined when unparseable)", async () => {
    const events = store();
    const receiver = new WebhookReceiver({ store: events, apiKeys: ["k"] });
    const body = Buffer.from(JSON.stringify({ fullenrich_rx_probe: "not-a-nonce", id: "x" }));
    const answer = await receiver.receive({
      rawBody: body,
      headers: { "x-signature-sha1": signBody("k", body) },
    });
    expect(answer.status).toBe(200);
    // Parsed on a later turn of the event loop: a timer, in this file's virtual time.
    const parsed = receiver.whenParsed();
    await vi.advanceTimersByTimeAsync(1);
    await parsed;
    expect((await events.read()).map((event) => event.type)).toEqual([
      "webhook.stored",
      "webhook.quarantined",
    ]);
  });

  it("its own probe resolves `arrived`, once", async () => {
    const receiver = new WebhookReceiver({ store: store(), apiKeys: ["k"] });
    const probe = receiver.createProbe();
    let arrived = false;
    void probe.arrived.then(() => {
      arrived = true;
    });
    const answer = await receiver.receive({ rawBody: probe.body, headers: probe.headers });
    expect(answer.status).toBe(200);
    await Promise.resolve();
    expect(arrived).toBe(true);
  });
});
