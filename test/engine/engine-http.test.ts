import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import type { EngineMode, EngineOptions } from "../../src/engine/engine-options.js";
import type { EnrichmentJob } from "../../src/engine/job.js";
import { SqliteEventStore } from "../../src/events/stores/sqlite-store.js";
import {
  type LiveShapesOptions,
  type RunningSimulator,
  type SimulatorFaults,
  startSimulator,
} from "../../src/simulator/index.js";
import { createNodeListener } from "../../src/webhooks/node-adapter.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { freePort, startJsonLinesChild, waitFor } from "../support/cli-process.js";

const KEY = "engine-http-key";
const SCALE = 0.01;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface Setup {
  sim: RunningSimulator;
  engine: EnrichmentEngine;
  store: SqliteEventStore;
  client: FullEnrichClient;
}

/** The simulator's two ways of answering: the documentation's tidy shape, and the live API's. */
const PROFILES = ["tidy", "liveShapes"] as const;
type Profile = (typeof PROFILES)[number];

interface SetupExtra {
  credits?: number;
  contactEvents?: boolean;
  profile?: Profile;
  liveShapes?: LiveShapesOptions;
  engine?: Partial<EngineOptions>;
  runningLimit?: number;
}

async function setup(mode: EngineMode, faults: SimulatorFaults = {}, extra: SetupExtra = {}): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), "fxr-engine-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const sim = await startSimulator({
    apiKeys: [KEY],
    timeScale: SCALE,
    seed: 11,
    faults,
    profile: extra.profile ?? "tidy",
    ...(extra.liveShapes === undefined ? {} : { liveShapes: extra.liveShapes }),
    ...(extra.credits === undefined ? {} : { credits: extra.credits }),
    ...(extra.runningLimit === undefined ? {} : { runningLimit: extra.runningLimit }),
  });
  cleanups.push(() => sim.close());
  const store = await SqliteEventStore.open(join(dir, "events.db"));
  cleanups.push(() => store.close());
  const client = new FullEnrichClient({ apiKey: KEY, baseUrl: sim.baseUrl, timeScale: SCALE });
  cleanups.push(() => client.close());
  let webhook: { url: string; receiver: WebhookReceiver; contactEvents: boolean } | undefined;
  if (mode !== "polling") {
    const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
    const server: Server = createServer(createNodeListener(receiver, { path: "/fullenrich" }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const address = server.address() as { port: number };
    webhook = {
      url: `http://127.0.0.1:${address.port}/fullenrich`,
      receiver,
      contactEvents: extra.contactEvents ?? true,
    };
  }
  const engine = await EnrichmentEngine.start({
    client,
    store,
    mode,
    ...(webhook ? { webhook } : {}),
    ...extra.engine,
  });
  cleanups.push(() => engine.close());
  return { sim, engine, store, client };
}

function people(n: number, customKeys = 1) {
  return Array.from({ length: n }, (_, i) => ({
    first_name: `Grace${i}`,
    last_name: `Hopper${i}`,
    domain: `navy${i % 5}.example`,
    custom: {
      row: String(i),
      ...Object.fromEntries(Array.from({ length: customKeys - 1 }, (_, k) => [`k${k}`, `v${k}`])),
    },
    enrich_fields: ["contact.work_emails" as const, "contact.phones" as const],
  }));
}

async function collect(job: EnrichmentJob): Promise<ContactResult[]> {
  const results: ContactResult[] = [];
  await new Promise<void>((resolve, reject) =>
    job.results$.subscribe({ next: (r) => results.push(r), complete: resolve, error: reject }),
  );
  return results;
}

function runJob(s: Setup, n: number, batchSize = 10): Promise<ContactResult[]> {
  return collect(s.engine.enrich(people(n), { batchSize, name: "http" }));
}

/** Null and absent alike (a result says null where the provider left a field out). */
const orNull = (value: unknown): unknown => value ?? null;

/**
 * Every contact once, with exactly what the provider sent for it (its contact_info and profile as
 * the simulator recorded them), or nothing found when the provider sent no record for it.
 */
function expectExactlyOnceWithRightData(s: Setup, results: ContactResult[], n: number): void {
  expect(results).toHaveLength(n);
  expect(new Set(results.map((r) => r.custom.row)).size).toBe(n);
  const enrichments = new Map(s.sim.simulator.enrichments().map((e) => [e.id, e]));
  for (const result of results) {
    const enrichment = enrichments.get(result.enrichmentId);
    expect(enrichment).toBeDefined();
    const request = enrichment?.request as { data: { custom: Record<string, string> }[] };
    const index = request.data.findIndex((contact) => contact.custom.row === result.custom.row);
    const record = enrichment?.contacts[index]?.record;
    if (record) {
      expect(orNull(result.contactInfo)).toEqual(orNull(record.contact_info));
      expect(orNull(result.profile)).toEqual(orNull(record.profile));
    } else {
      expect(result.found).toBe(false);
      expect(result.contactInfo).toBeNull();
    }
  }
  // No batch was POSTed twice: each enrichment holds distinct rows, and there are as many as batches.
  const rows = [...enrichments.values()].flatMap((e) =>
    (e.request as { data: { custom: Record<string, string> }[] }).data.map((c) => c.custom.row),
  );
  expect(new Set(rows).size).toBe(rows.length);
}

function expectWithinBudget(s: Setup): void {
  expect(s.sim.simulator.counters().busiestWindow).toBeLessThanOrEqual(60);
}

const getsOf = (s: Setup) => s.sim.simulator.counters().callsByRoute["GET /contact/enrich/bulk/{id}"] ?? 0;

/**
 * Under liveShapes, a plain run's five batches take every way the live API has: a status neither
 * running nor final from the start (no records yet) and halfway (a webhook with the records so far,
 * a `datas` body), a cancellation after three contacts, and one that does both.
 */
const EVERY_WAY: LiveShapesOptions = {
  plan: ({ ordinal }) =>
    [
      { stall: { status: "RATE_LIMIT", afterContacts: 0, forMs: 200 }, cancelAfterContacts: null },
      { stall: { status: "UNKNOWN", afterContacts: 2, forMs: 200 }, cancelAfterContacts: null, datas: true },
      { stall: null, cancelAfterContacts: 3 },
      { stall: { status: "PAUSED", afterContacts: 1, forMs: 200 }, cancelAfterContacts: 3, datas: true },
      { stall: null, cancelAfterContacts: null, datas: false },
    ][ordinal % 5],
};

describe.each(PROFILES)("the engine over loopback HTTP against the %s simulator", (profile) => {
  // Under liveShapes, jobs that pass through an unknown status send a webhook with their records so
  // far: tests about which delivery brought a result turn that off.
  const noStalls: LiveShapesOptions = { stallRate: 0 };

  for (const mode of ["webhook", "polling", "both"] as const) {
    it(`${mode} mode: a plain run`, async () => {
      const s = await setup(mode, {}, { profile, liveShapes: EVERY_WAY });
      const results = await runJob(s, 25, 5);
      expectExactlyOnceWithRightData(s, results, 25);
      if (profile === "liveShapes") {
        expect(s.sim.simulator.enrichments().map((e) => e.status)).toEqual([
          "FINISHED",
          "FINISHED",
          "CANCELED",
          "CANCELED",
          "FINISHED",
        ]);
        // Two contacts of each canceled batch never finished; those that did come with the batch
        // (by poll or batch event) say CANCELED too, those that came by their own event FINISHED.
        const canceled = results.filter((r) => r.status === "CANCELED").length;
        expect(canceled).toBeGreaterThanOrEqual(4);
        expect(canceled).toBeLessThanOrEqual(10);
        if (mode === "polling") expect(canceled).toBe(10);
      }
      expectWithinBudget(s);
      expect(s.sim.simulator.counters().rateLimited).toBe(0);
      if (mode === "webhook") expect(getsOf(s)).toBe(0);
      if (mode === "polling") expect(results.every((r) => r.source === "poll")).toBe(true);
    });
  }

  it("duplicated deliveries", async () => {
    const s = await setup("webhook", { duplicateDeliveryRate: 1 }, { profile });
    const results = await runJob(s, 20);
    expectExactlyOnceWithRightData(s, results, 20);
    expect(s.sim.simulator.counters().deliveriesDuplicated).toBeGreaterThan(0);
    expectWithinBudget(s);
  });

  it("the batch webhook of one batch lost: polling recovers it, and its results say so", async () => {
    // Batch events only: per-contact events would deliver the lost batch's contacts anyway.
    const s = await setup(
      "webhook",
      { loseBatchWebhook: ({ ordinal }) => ordinal === 1 },
      { contactEvents: false, profile, liveShapes: noStalls },
    );
    const results = await runJob(s, 30);
    expectExactlyOnceWithRightData(s, results, 30);
    const lostId = s.sim.simulator.enrichments()[1]?.id;
    const lost = results.filter((r) => r.enrichmentId === lostId);
    expect(lost).toHaveLength(10);
    expect(lost.every((r) => r.source === "poll")).toBe(true);
    expect(results.filter((r) => r.enrichmentId !== lostId).every((r) => r.source === "webhook")).toBe(true);
    expect(getsOf(s)).toBeGreaterThan(0);
    expectWithinBudget(s);
  });

  it("per-contact events after the batch event", async () => {
    const s = await setup("webhook", { contactEventsAfterBatch: true }, { profile, liveShapes: noStalls });
    const results = await runJob(s, 20);
    expectExactlyOnceWithRightData(s, results, 20);
    expect(results.every((r) => r.via === "batch-event")).toBe(true);
  });

  it("GET 5xx and random 429s", async () => {
    const s = await setup("polling", { getErrorRate: 0.5, random429Rate: 0.2 }, { profile });
    const results = await runJob(s, 20, 4);
    expectExactlyOnceWithRightData(s, results, 20);
    const counters = s.sim.simulator.counters();
    expect(counters.serverErrors + counters.rateLimited).toBeGreaterThan(0);
    expectWithinBudget(s);
  });

  it("credits running out", async () => {
    const s = await setup("webhook", {}, { credits: 25, profile });
    const results = await runJob(s, 20);
    expectExactlyOnceWithRightData(s, results, 20);
    expect(results.some((r) => r.status === "CREDITS_INSUFFICIENT" && !r.found)).toBe(true);
  });

  for (const mode of ["polling", "webhook"] as const) {
    it(`${mode} mode: contacts whose custom holds 10 keys (no room for the correlation id) are matched by the echoed input`, async () => {
      const s = await setup(mode, {}, { profile });
      const results = await collect(s.engine.enrich(people(20, 10), { batchSize: 10, name: "full custom" }));
      expectExactlyOnceWithRightData(s, results, 20);
      const sent = s.sim.simulator
        .enrichments()
        .flatMap((e) => (e.request as { data: { custom: Record<string, string> }[] }).data);
      expect(
        sent.every((contact) => Object.keys(contact.custom).length === 10 && !("_fxr" in contact.custom)),
      ).toBe(true);
      expect(results.every((r) => r.contactKey.startsWith("f:"))).toBe(true);
      expect(results.every((r) => Object.keys(r.custom).length === 10)).toBe(true);
    });
  }
});

describe("the engine against the liveShapes simulator: what only the live API does", () => {
  it("a job that names no enrich_fields is sent with the default, which the live shapes require", async () => {
    const s = await setup("polling", {}, { profile: "liveShapes" });
    const bare = people(3).map(({ enrich_fields: _none, ...contact }) => contact);
    const summary = await s.engine.enrich(bare, { name: "bare" }).summary;
    expect(summary.failures).toEqual([]);
    expect(summary.resolved).toBe(3);
    const [enrichment] = s.sim.simulator.enrichments();
    const sent = (enrichment?.request as { data: { enrich_fields: string[] }[] } | undefined)?.data ?? [];
    expect(sent.map((contact) => contact.enrich_fields)).toEqual(
      [0, 1, 2].map(() => ["contact.work_emails"]),
    );
  });

  it("a POST at zero balance is refused (402): the batch is rejected, and the same job sends it once topped up", async () => {
    const s = await setup("polling", {}, { profile: "liveShapes" });
    s.sim.simulator.setBalance(0);
    const first = await s.engine.enrich(people(5), { name: "broke", jobId: "broke" }).summary;
    expect(first.failures).toMatchObject([{ state: "rejected", message: expect.stringMatching(/402/) }]);
    expect(s.sim.simulator.enrichments()).toHaveLength(0);
    s.sim.simulator.setBalance(1_000);
    const again = s.engine.enrich(people(5), { name: "broke", jobId: "broke" });
    expectExactlyOnceWithRightData(s, await collect(again), 5);
  });

  for (const mode of ["webhook", "polling"] as const) {
    it(`${mode} mode: a 5xx (an HTML page) on a POST after the job started`, async () => {
      const s = await setup(
        mode,
        { serverErrorAfterStart: ({ ordinal }) => ordinal === 1 },
        { profile: "liveShapes" },
      );
      const job = s.engine.enrich(people(30), { batchSize: 10, name: "ambiguous" });
      const results = await collect(job);
      const summary = await job.summary;
      const startedAnyway = s.sim.simulator.enrichments()[1]?.id;
      expect(s.sim.simulator.enrichments()).toHaveLength(3);
      if (mode === "webhook") {
        // Its deliveries carry the correlation ids: the batch is found, and nothing is lost.
        expectExactlyOnceWithRightData(s, results, 30);
        expect(results.filter((r) => r.enrichmentId === startedAnyway)).toHaveLength(10);
      } else {
        // Nothing says which enrichment it started: reported, not re-sent, the others complete.
        expect(summary.failures).toMatchObject([{ state: "ambiguous", contacts: 10 }]);
        expect(results).toHaveLength(20);
        expect(results.some((r) => r.enrichmentId === startedAnyway)).toBe(false);
      }
    });
  }

  it("the provider's running limit holds batches back (CREATED): they start as others end, and every contact arrives", async () => {
    const s = await setup("both", {}, { profile: "liveShapes", runningLimit: 2, engine: { maxRunning: 6 } });
    const results = await runJob(s, 30, 5);
    expectExactlyOnceWithRightData(s, results, 30);
    const enrichments = s.sim.simulator.enrichments();
    expect(enrichments).toHaveLength(6);
    // The engine (maxRunning 6) sent all six at once; the provider ran two at a time.
    expect(enrichments.filter((e) => (e.startedAt as number) > e.createdAt)).toHaveLength(4);
    for (const e of enrichments) {
      const at = e.startedAt as number;
      const runningThen = enrichments.filter(
        (o) => (o.startedAt as number) <= at && at < (o.finishedAt as number),
      );
      expect(runningThen.length).toBeLessThanOrEqual(2);
    }
  });
});

describe("a rerun of a job after a refused submission", () => {
  it("sends the refused batches again and settles on the new outcome, not the old refusal", async () => {
    const s = await setup("polling");
    const refused = new FullEnrichClient({ apiKey: "a-wrong-key", baseUrl: s.sim.baseUrl, timeScale: SCALE });
    cleanups.push(() => refused.close());
    const first = await EnrichmentEngine.start({ client: refused, store: s.store, mode: "polling" });
    const firstSummary = await first.enrich(people(15), { batchSize: 10, jobId: "rerun", name: "rerun" })
      .summary;
    await first.close();
    expect(firstSummary.failures.map((failure) => failure.state)).toEqual(["rejected", "rejected"]);
    expect(s.sim.simulator.enrichments()).toHaveLength(0);

    // The same job again, with the right key (s.engine): both batches are sent, once each.
    const job = s.engine.enrich(people(15), { batchSize: 10, jobId: "rerun", name: "rerun" });
    const results: ContactResult[] = [];
    await new Promise<void>((resolve, reject) =>
      job.results$.subscribe({ next: (r) => results.push(r), complete: resolve, error: reject }),
    );
    const summary = await job.summary;
    expect(summary.failures).toEqual([]);
    expect(summary.resolved).toBe(15);
    expectExactlyOnceWithRightData(s, results, 15);
    expect(s.sim.simulator.enrichments()).toHaveLength(2);
  });
});

describe("a job aborted mid-run over loopback HTTP", () => {
  it("no call reaches the simulator after the abort, though its enrichments run on to their end", async () => {
    const s = await setup("polling");
    const controller = new AbortController();
    const job = s.engine.enrich(people(20), { batchSize: 5, name: "abort", signal: controller.signal });
    await waitFor(() => getsOf(s) > 0, 20_000, "a first poll");
    controller.abort();
    // The job settles once a POST that was on the wire (if any) is answered: no call starts after.
    const summary = await job.summary;
    expect(summary.stopped).toBe("aborted");
    expect(summary.resolved + summary.failed).toBe(20);
    const started = s.client.stats().calls;
    // Every enrichment finishes at the provider, then polls would have had time to come (their
    // longest gap is 60 s × 0.01): none starts, and the simulator saw no more than was started.
    await waitFor(
      () => s.sim.simulator.enrichments().every((enrichment) => enrichment.status === "FINISHED"),
      20_000,
      "the enrichments to finish at the simulator",
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(s.client.stats().calls).toBe(started);
    expect(s.sim.simulator.counters().calls).toBeLessThanOrEqual(started);
  });
});

describe("a child process killed with SIGKILL mid-run, then resumed from the same SQLite file", () => {
  const child = fileURLToPath(new URL("../support/engine-child.mjs", import.meta.url));

  const start = (args: string[]) => startJsonLinesChild(child, args);

  for (const mode of ["polling", "webhook"] as const) {
    it(`${mode} mode`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "fxr-kill-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const sim = await startSimulator({ apiKeys: [KEY], timeScale: 0.05, seed: 5 });
      cleanups.push(() => sim.close());
      const port = String(await freePort());
      const args = [join(dir, "events.db"), sim.baseUrl, KEY, "0.05", "30", "10", "crash-job", mode, port];
      const first = start(args);
      cleanups.push(async () => void first.proc.kill("SIGKILL"));
      await waitFor(() => first.lines().some((line) => "row" in line), 30_000, "a first result");
      first.proc.kill("SIGKILL");
      await first.done;
      const before = first.lines().filter((line) => "row" in line).length;
      expect(before).toBeLessThan(30);
      const posts = sim.simulator.counters().callsByRoute["POST /contact/enrich/bulk"];
      expect(posts).toBe(3);

      const second = start(args);
      cleanups.push(async () => void second.proc.kill("SIGKILL"));
      expect(await second.done).toBe(0);
      const lines = second.lines();
      expect(lines[0]).toMatchObject({ resumed: expect.any(Number), ambiguous: 0 });
      const rows = lines.filter((line) => "row" in line).map((line) => line.row);
      expect(rows).toHaveLength(30);
      expect(new Set(rows).size).toBe(30);
      expect(lines.at(-1)).toMatchObject({ done: true, resolved: 30, failures: 0 });
      expect(sim.simulator.counters().callsByRoute["POST /contact/enrich/bulk"]).toBe(3);
      expect(sim.simulator.counters().busiestWindow).toBeLessThanOrEqual(60);
    });
  }
});
