import { describe, expect, it } from "vitest";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { PROJECTION_SNAPSHOT } from "../../src/engine/projection-keeper.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { contacts, virtualWorldPerTest } from "../support/virtual-world.js";

const MINUTE = 60_000;
const start = virtualWorldPerTest();

describe("start and memory follow open work, not history", () => {
  it("a restart reads the snapshot and the tail; a job's rerun reads its own contacts' results, not the log", async () => {
    const store = new MemoryEventStore();
    const w = await start({ mode: "polling", store });
    // History: 2 000 contacts enriched and settled, in 20 batches.
    const history = w.engine.enrich(contacts(2_000, "old"), { jobId: "history" });
    await w.advance(30 * MINUTE);
    expect((await history.summary).resolved).toBe(2_000);
    const head = await store.head();
    expect(head).toBeGreaterThan(2_000);

    // A restart: the closing engine saved its snapshot; the new one reads it, not the log.
    const before = store.readCounters().events;
    const engine = await w.restart();
    const startReads = store.readCounters().events - before;
    expect((await store.loadSnapshot(PROJECTION_SNAPSHOT))?.position).toBe(head);
    expect(startReads).toBeLessThan(10);

    // A job with 5 contacts from the history and 5 new ones: 5 lookups' worth of reads.
    const job = engine.enrich([...contacts(2_000, "old").slice(0, 5), ...contacts(5, "new")]);
    const results: ContactResult[] = [];
    job.results$.subscribe((result) => results.push(result));
    const planReads = store.readCounters().events;
    await w.advance(10 * MINUTE);
    const summary = await job.summary;
    expect(summary).toMatchObject({ total: 10, resolved: 10, reused: 5, sent: 5 });
    // The reused results (by tag), then this job's own new events as they come: never the log.
    expect(store.readCounters().events - planReads).toBeLessThan(60);
  });
});
