import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ContactResult } from "../../src/engine/contact-result.js";
import type { EnrichmentJob } from "../../src/engine/job.js";
import { parseEvent } from "../../src/events/event-types.js";
import { CrashableWorld } from "../support/crashable-world.js";
import { contacts, useVirtualTime } from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

let world: CrashableWorld | undefined;
function newWorld(options: ConstructorParameters<typeof CrashableWorld>[0] = {}): CrashableWorld {
  world = new CrashableWorld(options);
  return world;
}
beforeEach(() => useVirtualTime());
afterEach(async () => {
  await world?.close();
  world = undefined;
  vi.useRealTimers();
});

function collect(job: EnrichmentJob): { results: ContactResult[]; done: boolean } {
  const state = { results: [] as ContactResult[], done: false };
  job.results$.subscribe({ next: (r) => state.results.push(r), complete: () => (state.done = true) });
  return state;
}

/** How many times the provider was sent each contact (by last name), over every POST it received. */
function sendsPerRow(w: CrashableWorld): Map<string, number> {
  const counts = new Map<string, number>();
  for (const enrichment of w.simulator.enrichments()) {
    const data = (enrichment.request as { data: { last_name?: string }[] }).data;
    for (const contact of data) {
      const name = contact.last_name ?? "?";
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  return counts;
}

async function eventTypes(w: CrashableWorld, type: string): Promise<number> {
  return (await w.log.read()).map(parseEvent).filter((event) => event.type === type).length;
}

describe("a batch is sent only when its POST leaves", () => {
  it("a crash while batches wait for a rate-limit slot leaves nothing ambiguous: the rerun sends them, each once", async () => {
    const w = newWorld({ mode: "polling", client: { rateLimit: 2 }, simulator: { rateLimit: 2 } });
    const first = await w.start();
    first.engine.enrich(contacts(8), { batchSize: 1, jobId: "queued" });
    await w.advance(20 * SECOND);
    // Two POSTs fit in the first window; six batches wait for a slot.
    expect(w.posts()).toHaveLength(2);
    expect(await eventTypes(w, "enrichment.requested")).toBe(2);
    await w.kill();

    const second = await w.start();
    const report = await second.engine.resume();
    expect(report.ambiguous).toEqual([]);
    const seen = collect(second.engine.enrich(contacts(8), { batchSize: 1, jobId: "queued" }));
    await w.advance(30 * MINUTE);
    expect(seen.done).toBe(true);
    expect(seen.results).toHaveLength(8);
    expect(new Set(seen.results.map((r) => r.custom.row)).size).toBe(8);
    // Every contact reached the provider exactly once, across both processes.
    expect([...sendsPerRow(w).values()]).toEqual(Array(8).fill(1));
    expect(w.simulator.counters().rateLimited).toBe(0);
  });

  it("closing the engine drops the batches still waiting for a slot: none is sent afterwards", async () => {
    const w = newWorld({ mode: "polling", client: { rateLimit: 1 }, simulator: { rateLimit: 1 } });
    const process = await w.start();
    const job = process.engine.enrich(contacts(3), { batchSize: 1 });
    job.summary.catch(() => undefined);
    await w.advance(SECOND);
    expect(w.posts()).toHaveLength(1);
    await process.engine.close();
    await w.advance(10 * MINUTE);
    expect(w.posts()).toHaveLength(1);
  });
});

describe("the rate budget survives a restart", () => {
  it("a process started right after a kill counts the calls the dead one made in the window", async () => {
    const limit = 5;
    const w = newWorld({ mode: "polling", client: { rateLimit: limit }, simulator: { rateLimit: limit } });
    const first = await w.start();
    first.engine.enrich(contacts(4), { batchSize: 1, jobId: "budget" });
    await w.advance(5 * SECOND);
    expect(w.calls).toHaveLength(4);
    await w.kill();

    const second = await w.start();
    await second.engine.resume();
    second.engine.enrich(contacts(10, "more"), { batchSize: 1 });
    await w.advance(20 * MINUTE);
    // Any 60 s at the provider: at most `limit` calls, and no 429.
    const times = w.calls.map((call) => call.at);
    for (const start of times) {
      expect(times.filter((at) => at >= start && at < start + MINUTE).length).toBeLessThanOrEqual(limit);
    }
    expect(w.simulator.counters().rateLimited).toBe(0);
    expect(await eventTypes(w, "api.called")).toBe(w.calls.length);
  });
});

describe("known contacts are not sent again", () => {
  async function enrichAll(w: CrashableWorld, list: ReturnType<typeof contacts>, options = {}) {
    const process = w.current ?? (await w.start());
    const job = process.engine.enrich(list, options);
    const seen = collect(job);
    await w.advance(20 * MINUTE);
    expect(seen.done).toBe(true);
    return { seen, summary: await job.summary };
  }

  it("an edited input (rows added, removed, reordered) sends only the contacts never sent", async () => {
    const w = newWorld({ mode: "polling" });
    const original = contacts(40);
    const first = await enrichAll(w, original);
    expect(first.summary).toMatchObject({ total: 40, sent: 40, reused: 0, resolved: 40 });
    const postsBefore = w.posts().length;

    // 20 rows added, 5 removed, the rest shuffled: another job id, as the CLI derives it from the input.
    const edited = [...original.slice(5).reverse(), ...contacts(20, "new")];
    const second = await enrichAll(w, edited);
    expect(second.summary).toMatchObject({ total: 55, sent: 20, reused: 35, resolved: 55, failed: 0 });
    expect(second.seen.results).toHaveLength(55);
    const sends = sendsPerRow(w);
    expect([...sends.values()].every((count) => count === 1)).toBe(true);
    expect(w.posts().length - postsBefore).toBe(1);

    // A reused result is the one resolved before: same enrichment, key, source and status.
    const before = new Map(first.seen.results.map((r) => [r.custom.row, r]));
    for (const result of second.seen.results.filter((r) => r.reused)) {
      const earlier = before.get(result.custom.row);
      expect(result).toMatchObject({
        enrichmentId: earlier?.enrichmentId,
        contactKey: earlier?.contactKey,
        source: earlier?.source,
        status: earlier?.status,
      });
    }
  });

  it("rows repeated within one input are sent once, and each gets its result", async () => {
    const w = newWorld({ mode: "polling" });
    const list = contacts(5);
    const rows = [...list, list[1], list[3], list[3]] as typeof list;
    const { seen, summary } = await enrichAll(w, rows);
    expect(seen.results).toHaveLength(8);
    expect(summary).toMatchObject({ total: 8, resolved: 8, sent: 5, reused: 0 });
    const data = (w.simulator.enrichments()[0]?.request as { data: unknown[] } | undefined)?.data;
    expect(data).toHaveLength(5);
    expect(seen.results.filter((r) => r.custom.row === "3")).toHaveLength(3);
  });

  it("refresh sends again on purpose; maxAge sends results older than it again", async () => {
    const w = newWorld({ mode: "polling" });
    const list = contacts(6);
    await enrichAll(w, list);
    const refreshed = await enrichAll(w, list, { refresh: true });
    expect(refreshed.summary).toMatchObject({ sent: 6, reused: 0 });
    await w.advance(2 * DAY);
    const fresh = await enrichAll(w, list, { maxAgeMs: 30 * DAY });
    expect(fresh.summary).toMatchObject({ sent: 0, reused: 6, apiCalls: 0 });
    const stale = await enrichAll(w, list, { maxAgeMs: DAY });
    expect(stale.summary).toMatchObject({ sent: 6, reused: 0 });
    expect([...sendsPerRow(w).values()]).toEqual(Array(6).fill(3));
  });

  it("other enrich_fields or another custom value is another contact: sent", async () => {
    const w = newWorld({ mode: "polling" });
    const list = contacts(3);
    await enrichAll(w, list, { enrichFields: ["contact.work_emails"] });
    const phones = await enrichAll(w, list, { enrichFields: ["contact.phones"] });
    expect(phones.summary).toMatchObject({ sent: 3, reused: 0 });
    const otherCustom = list.map((contact) => ({ ...contact, custom: { ...contact.custom, crm: "x" } }));
    const custom = await enrichAll(w, otherCustom, { enrichFields: ["contact.phones"] });
    expect(custom.summary).toMatchObject({ sent: 3, reused: 0 });
  });

  it("a contact still running in another job is followed, not sent again", async () => {
    const w = newWorld({ mode: "webhook" });
    const process = await w.start();
    const list = contacts(4);
    const first = collect(process.engine.enrich(list));
    await w.advance(5 * SECOND);
    const second = collect(process.engine.enrich(list));
    await w.advance(20 * MINUTE);
    expect(first.results).toHaveLength(4);
    expect(second.results).toHaveLength(4);
    expect(w.posts()).toHaveLength(1);
    expect(second.results.map((r) => r.enrichmentId)).toEqual(first.results.map((r) => r.enrichmentId));
  });

  it("contacts left without a record when credits ran out are sent again by a rerun, the others reused", async () => {
    const w = newWorld({ mode: "polling" });
    const process = await w.start();
    w.simulator.setBalance(6);
    const list = contacts(12);
    const first = collect(process.engine.enrich(list));
    await w.advance(20 * MINUTE);
    const unenriched = first.results.filter((r) => r.status === "CREDITS_INSUFFICIENT" && !r.enriched);
    expect(unenriched.length).toBeGreaterThan(0);
    w.simulator.setBalance(1_000_000);
    const rerun = process.engine.enrich(list);
    const seen = collect(rerun);
    await w.advance(20 * MINUTE);
    expect(seen.results).toHaveLength(12);
    const summary = await rerun.summary;
    // The provider enriched (and charged) some contacts before the balance ran out: those are reused.
    const charged = (w.simulator.enrichments()[0]?.contacts ?? []).filter((c) => c.record !== undefined);
    expect(first.results.filter((r) => r.enriched)).toHaveLength(charged.length);
    expect(summary.reused).toBe(charged.length);
    expect(summary.sent).toBe(12 - charged.length);
    expect(seen.results.every((r) => r.enriched)).toBe(true);
  });
});

describe("a POST whose answer was lost is settled by what the provider sends", () => {
  const resolvedRows = (seen: { results: ContactResult[] }) =>
    new Set(seen.results.map((r) => r.custom.row)).size;

  it("webhook mode, process alive: the batch is adopted from its webhook; nothing is sent again", async () => {
    const w = newWorld({ mode: "webhook", loseAnswerOfPost: (ordinal) => ordinal === 0 });
    const process = await w.start();
    const job = process.engine.enrich(contacts(6), { batchSize: 3 });
    const seen = collect(job);
    await w.advance(20 * MINUTE);
    expect(seen.done).toBe(true);
    expect(resolvedRows(seen)).toBe(6);
    expect(w.posts()).toHaveLength(2);
    const summary = await job.summary;
    expect(summary.failures).toEqual([]);
    expect(summary.sent).toBe(6);
    // The lost answer is recorded (outcome unknown), then the delivery names the enrichment.
    const events = (await w.log.read()).map(parseEvent);
    expect(events.filter((e) => e.type === "enrichment.rejected" && e.data.outcomeUnknown)).toHaveLength(1);
    expect(events.filter((e) => e.type === "enrichment.accepted")).toHaveLength(2);
    expect(events.filter((e) => e.type === "enrichment.abandoned")).toHaveLength(0);
  });

  it("webhook mode, killed right after the lost answer: the rerun adopts it from a late webhook retry", async () => {
    const w = newWorld({ mode: "webhook", simulator: { faults: { latencyMs: 2 * SECOND } } });
    const first = await w.start();
    first.engine.enrich(contacts(4), { jobId: "lost" });
    // The POST has left (the provider holds it for 2 s) when the process dies.
    await w.advance(SECOND);
    expect(w.posts()).toHaveLength(1);
    await w.kill();
    // Down for 3 minutes: the batch webhook fails and is retried every minute.
    await w.advance(3 * MINUTE);
    const second = await w.start();
    const report = await second.engine.resume();
    expect(report.ambiguous).toEqual([]);
    expect(report.awaitingDelivery).toHaveLength(1);
    const seen = collect(second.engine.enrich(contacts(4), { jobId: "lost" }));
    await w.advance(20 * MINUTE);
    expect(seen.done).toBe(true);
    expect(resolvedRows(seen)).toBe(4);
    expect(w.posts()).toHaveLength(1);
    const retried = w.simulator.deliveries().filter((d) => d.kind === "batch" && d.outcome === "error");
    expect(retried.length).toBeGreaterThan(0);
  });

  /** Runs a job whose only batch ends ambiguous: its summary, once `waits` have passed. */
  async function ambiguousJob(w: CrashableWorld, size: number, jobId: string, waits: number[]) {
    const process = w.current ?? (await w.start());
    const job = process.engine.enrich(contacts(size), { jobId });
    const seen = collect(job);
    for (const [index, ms] of waits.entries()) {
      await w.advance(ms);
      // Not settled before the last wait (webhook mode: a delivery might still name it).
      expect(seen.done).toBe(index === waits.length - 1);
    }
    expect(seen.results).toHaveLength(0);
    const summary = await job.summary;
    expect(summary.failures).toHaveLength(1);
    expect(summary.failures[0]?.state).toBe("ambiguous");
    return { process, summary };
  }

  it("webhook mode, a POST that never reached the provider: abandoned at its deadline, then reported", async () => {
    const w = newWorld({ mode: "webhook", losePost: (ordinal) => ordinal === 0 });
    const { summary } = await ambiguousJob(w, 2, "ghost", [5 * MINUTE, 5 * MINUTE]);
    expect(summary.failures[0]?.message).toMatch(/no webhook delivery named/);
    const abandoned = (await w.log.read()).map(parseEvent).filter((e) => e.type === "enrichment.abandoned");
    expect(abandoned).toHaveLength(1);
    // Its webhook deadline: expected finish + 5 retries a minute apart + 1 min slack, from when it left.
    const abandonedAt = (abandoned[0]?.data as { abandonedAt: number } | undefined)?.abandonedAt;
    expect(abandonedAt).toBeGreaterThanOrEqual(450 * SECOND);
    expect(w.posts()).toHaveLength(1);
  });

  it("polling mode: a lost answer is reported at once, naming the batch; resubmit sends it again", async () => {
    const w = newWorld({ mode: "polling", loseAnswerOfPost: (ordinal) => ordinal === 0 });
    const { process, summary } = await ambiguousJob(w, 3, "poll-lost", [20 * MINUTE]);
    expect(summary.failures[0]).toMatchObject({
      contacts: 3,
      rows: [0, 1, 2],
      requestedAt: expect.any(Number),
    });
    // Rerun without the flag: still reported, nothing sent; with it: sent again (maybe paid twice).
    const again = process.engine.enrich(contacts(3), { jobId: "poll-lost" });
    await w.advance(MINUTE);
    expect((await again.summary).failures[0]?.state).toBe("ambiguous");
    expect(w.posts()).toHaveLength(1);
    const resubmitted = collect(
      process.engine.enrich(contacts(3), { jobId: "poll-lost", onAmbiguous: "resubmit" }),
    );
    await w.advance(20 * MINUTE);
    expect(resolvedRows(resubmitted)).toBe(3);
    expect(w.posts()).toHaveLength(2);
  });
});

describe("decisions half-appended are never read as facts", () => {
  const holdsResolutions = (_stream: string, events: readonly { type: string }[]) =>
    events.some((event) => event.type === "contact.resolved");

  it("a job planned while a batch's results are being appended waits for them, and reuses them", async () => {
    const w = newWorld({ mode: "webhook" });
    const process = await w.start();
    const list = contacts(3);
    const first = collect(process.engine.enrich(list));
    // The batch webhook's decision (results, completion) is folded in, then its append is slow.
    process.store.holdWhen = holdsResolutions;
    await w.advance(5 * MINUTE);
    expect(first.results).toHaveLength(0);
    const second = process.engine.enrich(list);
    const seen = collect(second);
    await w.advance(SECOND);
    process.store.release();
    await w.advance(SECOND);
    expect(seen.done).toBe(true);
    expect(await second.summary).toMatchObject({ reused: 3, sent: 0 });
    expect(w.posts()).toHaveLength(1);
  });

  it("a delivery stored before an unanswered POST's deadline adopts it, even when reconciled after", async () => {
    const w = newWorld({ mode: "webhook", loseAnswerOfPost: (ordinal) => ordinal === 1 });
    const process = await w.start();
    // Batch 0 is answered; batch 1's answer is lost. Batch 0's results stay unappended, so the
    // engine is still busy with its delivery when batch 1's delivery is stored and its deadline
    // comes.
    const job = process.engine.enrich(contacts(4), { batchSize: 2 });
    const seen = collect(job);
    await w.advance(SECOND);
    process.store.holdWhen = holdsResolutions;
    await w.advance(7 * MINUTE + 40 * SECOND);
    process.store.release();
    await w.advance(5 * MINUTE);
    expect(seen.done).toBe(true);
    expect(resolvedRowsOf(seen)).toBe(4);
    const summary = await job.summary;
    expect(summary.failures).toEqual([]);
    const abandoned = (await w.log.read()).map(parseEvent).filter((e) => e.type === "enrichment.abandoned");
    expect(abandoned).toHaveLength(0);
  });
});

function resolvedRowsOf(seen: { results: ContactResult[] }): number {
  return new Set(seen.results.map((r) => r.custom.row)).size;
}
