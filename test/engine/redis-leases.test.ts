import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import type { PollLeases } from "../../src/engine/poll-leases.js";
import { RedisPollLeases } from "../../src/engine/redis-poll-leases.js";
import { type EventOf, parseEvent } from "../../src/events/event-types.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { assertRedisReachable, deletePrefix, redisUrl, uniquePrefix } from "../support/redis-fixture.js";
import { SharedLeaseTable } from "../support/shared-leases.js";
import { contacts } from "../support/virtual-world.js";

/**
 * The poll leases over the real Redis (their expiry is Redis's clock: these tests run in real
 * time, with short durations): first the contract every `PollLeases` keeps (also run against the
 * in-memory table the engine's virtual-time tests use, so that those tests rest on the same
 * behaviour), then two engines sharing one log through them.
 */

const TTL = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const prefixes: string[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  await assertRedisReachable();
});
afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  for (const prefix of prefixes) await deletePrefix(prefix);
});

async function redisLeases(prefix: string): Promise<RedisPollLeases> {
  const leases = await RedisPollLeases.connect({ url: redisUrl, keyPrefix: prefix });
  closers.push(() => leases.close());
  return leases;
}

const implementations: [string, () => Promise<[PollLeases, PollLeases]>][] = [
  [
    "Redis",
    async () => {
      const prefix = uniquePrefix("lease");
      prefixes.push(prefix);
      return [await redisLeases(prefix), await redisLeases(prefix)];
    },
  ],
  [
    "the tests' in-memory table",
    async () => {
      const table = new SharedLeaseTable();
      return [table.view(), table.view()];
    },
  ],
];

describe.each(implementations)("PollLeases contract: %s", (_name, make) => {
  it("one holder at a time; the holder renews; only the holder releases", async () => {
    const [one, two] = await make();
    expect(await one.acquire("e1", "a", TTL)).toBe(true);
    expect(await two.acquire("e1", "b", TTL)).toBe(false);
    expect(await one.acquire("e1", "a", TTL)).toBe(true);
    await two.release("e1", "b");
    expect(await two.acquire("e1", "b", TTL)).toBe(false);
    await one.release("e1", "a");
    expect(await two.acquire("e1", "b", TTL)).toBe(true);
    // Leases are per enrichment.
    expect(await one.acquire("e2", "a", TTL)).toBe(true);
  });

  it("a lease nobody renews expires after its time to live: another instance takes it", async () => {
    const [one, two] = await make();
    expect(await one.acquire("e1", "a", TTL)).toBe(true);
    await sleep(TTL / 2);
    expect(await one.acquire("e1", "a", TTL)).toBe(true);
    await sleep(TTL / 2 + 50);
    // Renewed half-way: still held.
    expect(await two.acquire("e1", "b", TTL)).toBe(false);
    await sleep(TTL + 50);
    expect(await two.acquire("e1", "b", TTL)).toBe(true);
    expect(await one.acquire("e1", "a", TTL)).toBe(false);
  });
});

/** A lease connection that, once its process is "killed", never answers again (no renewal, no release). */
function killable(inner: PollLeases): PollLeases & { kill(): void } {
  let dead = false;
  const hang = () => new Promise<never>(() => {});
  return {
    kill: () => {
      dead = true;
    },
    acquire: (id, owner, ttl) => (dead ? hang() : inner.acquire(id, owner, ttl)),
    release: (id, owner) => (dead ? hang() : inner.release(id, owner)),
    close: () => inner.close(),
  };
}

describe("two engines on one log, polling under Redis leases", () => {
  let simulator: Simulator;
  let store: MemoryEventStore;
  const timeScale = 0.01;
  // The engine's lease lasts 30 s of provider time: 300 ms here.
  const leaseTtl = 30_000 * timeScale;

  async function instance(name: string, leases: PollLeases): Promise<EnrichmentEngine> {
    const client = new FullEnrichClient({
      apiKey: "lease-key",
      baseUrl: "http://provider.test/api/v2",
      fetch: (url, init) => simulator.handle(new Request(url, init)),
      timeScale,
    });
    const engine = await EnrichmentEngine.start({ client, store, mode: "polling", leases, instanceId: name });
    closers.push(async () => {
      await engine.close();
      await client.close();
    });
    return engine;
  }

  async function polls(): Promise<EventOf<"poll.observed">[]> {
    return (await store.read())
      .map(parseEvent)
      .filter((event): event is EventOf<"poll.observed"> => event.type === "poll.observed");
  }

  it("each poll is recorded with its instance; none is polled by both within a lease's lifetime; a killed holder's are taken over within it", async () => {
    simulator = createSimulator({
      apiKeys: ["lease-key"],
      timeScale,
      seed: 21,
      // Long enough for several polls each (2–2.5 provider minutes).
      contactDurationMs: { min: 120_000 * timeScale, max: 150_000 * timeScale },
    });
    closers.push(async () => simulator.close());
    store = new MemoryEventStore();
    const prefix = uniquePrefix("engines");
    prefixes.push(prefix);
    const leasesA = killable(await redisLeases(prefix));
    const leasesB = killable(await redisLeases(prefix));
    const a = await instance("a", leasesA);
    const b = await instance("b", leasesB);
    const results = new Map<string, ContactResult>();
    const collect = (result: ContactResult) =>
      results.set(`${result.enrichmentId}/${result.contactKey}`, result);
    a.results$.subscribe(collect);
    b.results$.subscribe(collect);
    for (let i = 0; i < 3; i++) a.enrich(contacts(2, `a${i}`), { name: `a${i}` });
    for (let i = 0; i < 3; i++) b.enrich(contacts(2, `b${i}`), { name: `b${i}` });

    // Once both poll, the holder of the first enrichment polled dies (kill -9: no renewal, no release).
    const deadline = Date.now() + 15_000;
    while ((await polls()).length < 6 && Date.now() < deadline) await sleep(20);
    const first = (await polls())[0];
    expect(first?.data.instance).toMatch(/^[ab]$/);
    const victim = first?.data.instance as "a" | "b";
    const killedAt = Date.now();
    (victim === "a" ? leasesA : leasesB).kill();
    void (victim === "a" ? a : b).close();
    const survivor = victim === "a" ? "b" : "a";

    while (results.size < 12 && Date.now() < deadline + 15_000) await sleep(25);
    expect(results.size).toBe(12);

    const all = await polls();
    expect(all.every((poll) => poll.data.instance === "a" || poll.data.instance === "b")).toBe(true);
    const byEnrichment = new Map<string, EventOf<"poll.observed">[]>();
    for (const poll of all)
      byEnrichment.set(poll.data.enrichmentId, [...(byEnrichment.get(poll.data.enrichmentId) ?? []), poll]);
    expect(byEnrichment.size).toBe(6);
    let takenOver = 0;
    for (const [enrichmentId, list] of byEnrichment) {
      // Never polled by both within one lease lifetime: a change of poller comes only once the
      // previous one's lease could have expired.
      for (let i = 1; i < list.length; i++) {
        const previous = list[i - 1] as EventOf<"poll.observed">;
        const poll = list[i] as EventOf<"poll.observed">;
        if (poll.data.instance !== previous.data.instance) {
          expect(poll.data.observedAt - previous.data.observedAt, enrichmentId).toBeGreaterThanOrEqual(
            leaseTtl - 20,
          );
        }
      }
      // The victim's enrichments: taken over by the survivor, within a lease lifetime (plus the
      // take-over retry, one lease lifetime, and a poll's gap).
      const victims = list.filter((poll) => poll.data.instance === victim);
      const taken = list.find((poll) => poll.data.instance === survivor && poll.data.observedAt > killedAt);
      if (victims.length > 0 && victims.at(-1)?.data.outcome !== "done") {
        takenOver++;
        expect(taken, enrichmentId).toBeDefined();
        expect((taken?.data.observedAt ?? 0) - killedAt).toBeLessThanOrEqual(2 * leaseTtl + 700);
      }
    }
    expect(takenOver).toBeGreaterThan(0);
    // After the kill, the victim polled nothing more.
    expect(
      all.filter((poll) => poll.data.instance === victim && poll.data.observedAt > killedAt + 50),
    ).toEqual([]);
  }, 40_000);
});
