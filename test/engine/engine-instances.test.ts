import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import { seededRandom } from "../../src/internal/random.js";
import { SharedLeaseTable } from "../support/shared-leases.js";
import { contacts, useVirtualTime, virtualWorld, type World } from "../support/virtual-world.js";

const MINUTE = 60_000;
let world: World | undefined;
const others: EnrichmentEngine[] = [];
beforeEach(() => useVirtualTime());
afterEach(async () => {
  for (const engine of others.splice(0)) await engine.close();
  await world?.close();
  world = undefined;
  vi.useRealTimers();
});

/** Two engines on one log (one store, one client budget), polling under shared leases. */
async function twoInstances(table: SharedLeaseTable) {
  const w = await virtualWorld({
    mode: "polling",
    engine: { leases: table.view(), instanceId: "a" },
    simulator: { contactDurationMs: { min: 20 * MINUTE, max: 21 * MINUTE } },
  });
  world = w;
  const b = await EnrichmentEngine.start({
    client: w.client,
    store: w.store,
    mode: "polling",
    random: seededRandom(2),
    leases: table.view(),
    instanceId: "b",
  });
  others.push(b);
  return { w, a: w.engine, b };
}

function getsPerEnrichment(w: World): Map<string, number[]> {
  const times = new Map<string, number[]>();
  for (const call of w.calls.filter((c) => c.method === "GET")) {
    times.set(call.path, [...(times.get(call.path) ?? []), call.at]);
  }
  return times;
}

describe("several instances on one log", () => {
  it("only the lease holder polls an enrichment: none is polled twice as often", async () => {
    const table = new SharedLeaseTable();
    const { w, a, b } = await twoInstances(table);
    const results: ContactResult[] = [];
    for (let i = 0; i < 3; i++) a.enrich(contacts(2, `a${i}`)).results$.subscribe((r) => results.push(r));
    for (let i = 0; i < 3; i++) b.enrich(contacts(2, `b${i}`)).results$.subscribe((r) => results.push(r));
    await w.advance(40 * MINUTE);
    expect(results).toHaveLength(12);
    // Alone, one instance polls an enrichment at most about once a minute at the end of its back-off.
    for (const [, times] of getsPerEnrichment(w)) {
      const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
      expect(Math.min(...gaps.slice(4))).toBeGreaterThan(20_000);
    }
    // Both instances followed every enrichment; the 6 enrichments' polls are spread between them.
    expect(getsPerEnrichment(w).size).toBe(6);
  });

  it("an instance that dies hands its enrichments over when its leases expire", async () => {
    const table = new SharedLeaseTable();
    const { w, a, b } = await twoInstances(table);
    const seen = { a: [] as ContactResult[], b: [] as ContactResult[] };
    a.results$.subscribe((r) => seen.a.push(r));
    b.results$.subscribe((r) => seen.b.push(r));
    a.enrich(contacts(2, "x"));
    b.enrich(contacts(2, "y"));
    b.enrich(contacts(2, "z"));
    await w.advance(3 * MINUTE);
    const enrichmentIds = w.simulator.enrichments().map((e) => e.id);
    // Whoever holds the first enrichment's lease dies: it neither renews nor releases.
    const victim = table.holder(enrichmentIds[0] as string) as "a" | "b";
    expect(["a", "b"]).toContain(victim);
    const heldByVictim = enrichmentIds.filter((id) => table.holder(id) === victim);
    table.dead.add(victim);
    await (victim === "a" ? a : b).close();
    const diedAt = Date.now();
    await w.advance(40 * MINUTE);
    // The survivor emitted every contact of every enrichment, its own and the dead one's, once each.
    const survivor = seen[victim === "a" ? "b" : "a"];
    expect(survivor).toHaveLength(6);
    expect(new Set(survivor.map((r) => `${r.enrichmentId}/${r.contactKey}`)).size).toBe(6);
    for (const id of heldByVictim) {
      expect(table.holder(id) ?? "released").not.toBe(victim);
      const polls = getsPerEnrichment(w).get(`/contact/enrich/bulk/${id}`) ?? [];
      // After the death, the survivor polled it, within the lease's time to live.
      const after = polls.filter((t) => t > diedAt);
      expect(after.length).toBeGreaterThan(0);
      expect((after[0] as number) - diedAt).toBeLessThanOrEqual(30_000 + 1_000);
    }
  });
});
