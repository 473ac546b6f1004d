import { describe, expect, it } from "vitest";
import { MIN_LEARNED_SAMPLES } from "../../src/engine/learned-timings.js";
import * as vw from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
/** Documented expected finish (90 s) + slack (60 s): when a batch with no delivery is probed. */
const DOCUMENTED_PROBE = 150 * SECOND;

const start = vw.virtualWorldPerTest();

const postTimes = (w: vw.World) => w.calls.filter((call) => call.method === "POST").map((call) => call.at);

describe("noticing a silent webhook outage: probes of overdue batches", () => {
  it("a batch with no delivery is probed once at its expected finish plus slack; finished: deliveries are failing, the others overdue are polled at once", async () => {
    // Webhooks never arrive (a dead tunnel swallowing them): no refused connection, nothing here.
    const w = await start({ simulator: { faults: { webhooksNeverArrive: true } } });
    const jobs = [0, 1, 2].map((i) => vw.collect(w.engine.enrich(vw.contacts(3, `j${i}`))));
    await w.advance(DOCUMENTED_PROBE + 2 * SECOND);
    // One probe (the first overdue batch), then the other two overdue batches at once.
    const times = vw.gets(w).map((call) => call.at);
    expect(times).toHaveLength(3);
    const acceptedAt = postTimes(w)[0] as number;
    expect(times[0]).toBeGreaterThanOrEqual(acceptedAt + DOCUMENTED_PROBE);
    expect((times[2] as number) - (times[0] as number)).toBeLessThan(2 * SECOND);
    for (const job of jobs) expect(job.results).toHaveLength(3);
    const health = await vw.eventsOf(w, "deliveries.health");
    expect(health.map((event) => [event.data.state, event.data.enrichmentId !== null])).toEqual([
      ["failing", true],
    ]);
    const fallbacks = await vw.eventsOf(w, "fallback.activated");
    expect(fallbacks.map((event) => event.data.reason)).toEqual(["deliveries-failing", "deliveries-failing"]);
  });

  it("while deliveries are failing, a new batch is polled from its first poll instead of waiting on its webhook", async () => {
    const w = await start({ simulator: { faults: { webhooksNeverArrive: true } } });
    vw.collect(w.engine.enrich(vw.contacts(3, "first")));
    await w.advance(DOCUMENTED_PROBE + 5 * SECOND);
    expect((await vw.eventsOf(w, "deliveries.health")).map((event) => event.data.state)).toEqual(["failing"]);
    const before = vw.gets(w).length;
    const later = vw.collect(w.engine.enrich(vw.contacts(3, "later")));
    await w.advance(2 * MINUTE);
    expect(later.results).toHaveLength(3);
    expect(later.results.every((r) => r.source === "poll")).toBe(true);
    const acceptedAt = postTimes(w)[1] as number;
    const firstPoll = vw.gets(w)[before]?.at as number;
    // The polling mode's first poll for 3 contacts (~68 s), well before a probe (150 s).
    expect(firstPoll - acceptedAt).toBeLessThan(80 * SECOND);
    const reasons = (await vw.eventsOf(w, "fallback.activated")).map((event) => event.data.reason);
    expect(reasons).toEqual(["deliveries-failing"]);
  });

  it("once a delivery arrives again, deliveries work: new batches wait on their webhooks and no probe is spent", async () => {
    // Deliveries vanish for the first 5 minutes, then arrive.
    const w = await start({ simulator: { faults: { webhooksNeverArrive: { untilMs: 5 * MINUTE } } } });
    vw.collect(w.engine.enrich(vw.contacts(2, "during")));
    await w.advance(6 * MINUTE);
    expect((await vw.eventsOf(w, "deliveries.health")).map((event) => event.data.state)).toEqual(["failing"]);
    // A batch sent while failing is polled; its webhook (sent after the window) arrives too.
    const bridge = vw.collect(w.engine.enrich(vw.contacts(2, "bridge")));
    await w.advance(3 * MINUTE);
    expect(bridge.results).toHaveLength(2);
    expect((await vw.eventsOf(w, "deliveries.health")).map((event) => event.data.state)).toEqual([
      "failing",
      "working",
    ]);
    const before = vw.gets(w).length;
    const after = [0, 1, 2].map((i) => vw.collect(w.engine.enrich(vw.contacts(2, `after${i}`))));
    await w.advance(10 * MINUTE);
    for (const job of after) {
      expect(job.results).toHaveLength(2);
      expect(job.results.every((r) => r.source === "webhook")).toBe(true);
    }
    expect(vw.gets(w).length).toBe(before); // no poll, no probe
  });

  it("a probe that finds its batch still running means a slow batch: the others are not polled, probes pause", async () => {
    // Contacts take 4-5 minutes: every batch is still running at its documented probe time (150 s).
    const w = await start({
      contactEvents: false,
      simulator: { contactDurationMs: { min: 4 * MINUTE, max: 5 * MINUTE } },
    });
    const jobs = [0, 1, 2].map((i) => vw.collect(w.engine.enrich(vw.contacts(2, `slow${i}`))));
    await w.advance(DOCUMENTED_PROBE + 2 * SECOND);
    expect(vw.gets(w)).toHaveLength(1); // one probe, not three
    await w.advance(10 * MINUTE);
    for (const job of jobs) {
      expect(job.results).toHaveLength(2);
      expect(job.results.every((r) => r.source === "webhook")).toBe(true);
    }
    // Probes paused 1 min after the first, then 2: a few probes in all, never a takeover by polling.
    expect(vw.gets(w).length).toBeLessThanOrEqual(3);
    expect(await vw.eventsOf(w, "deliveries.health")).toEqual([]);
    expect(await vw.eventsOf(w, "fallback.activated")).toEqual([]);
  });

  it("probes at the learned deadline: once batches were seen to take 4-5 minutes, a batch with no delivery is probed at their p90 plus slack", async () => {
    const w = await start({
      simulator: {
        contactDurationMs: { min: 4 * MINUTE, max: 5 * MINUTE },
        // The batch sent after the learning ones gets no webhook.
        faults: { loseBatchWebhook: ({ ordinal }) => ordinal >= MIN_LEARNED_SAMPLES },
      },
    });
    for (let i = 0; i < MIN_LEARNED_SAMPLES; i++) {
      vw.collect(w.engine.enrich(vw.contacts(2, `learn${i}`)));
      await w.advance(6 * MINUTE);
    }
    const learningGets = vw.gets(w).length;
    const learned = w.engine.providerTimings.expectedDurationMs(2);
    expect(learned).toBeGreaterThan(4 * MINUTE);
    expect(learned).toBeLessThanOrEqual(5 * MINUTE);
    const late = vw.collect(w.engine.enrich(vw.contacts(2, "late")));
    await w.advance(2 * SECOND);
    const acceptedAt = postTimes(w).at(-1) as number;
    await w.advance(learned + 59 * SECOND - (Date.now() - acceptedAt));
    expect(vw.gets(w).length).toBe(learningGets); // not at 150 s, nor before the learned p90 + slack
    await w.advance(2 * SECOND);
    expect(vw.gets(w).length).toBe(learningGets + 1);
    expect(vw.gets(w).at(-1)?.at).toBeGreaterThanOrEqual(acceptedAt + learned + 60 * SECOND);
    expect(late.results).toHaveLength(2);
  });

  it("with per-contact events and a healthy receiver, no probe is ever spent", async () => {
    const w = await start({ contactEvents: true });
    const jobs = Array.from({ length: 20 }, (_, i) => vw.collect(w.engine.enrich(vw.contacts(5, `ok${i}`))));
    await w.advance(15 * MINUTE);
    for (const job of jobs) expect(job.results).toHaveLength(5);
    expect(vw.gets(w)).toHaveLength(0);
  });
});
