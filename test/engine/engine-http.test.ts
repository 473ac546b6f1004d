import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { type EngineMode, EnrichmentEngine } from "../../src/engine/engine.js";
import { SqliteEventStore } from "../../src/events/stores/sqlite-store.js";
import { type RunningSimulator, type SimulatorFaults, startSimulator } from "../../src/simulator/index.js";
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
}

async function setup(
  mode: EngineMode,
  faults: SimulatorFaults = {},
  extra: { credits?: number; contactEvents?: boolean } = {},
): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), "fxr-engine-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const sim = await startSimulator({
    apiKeys: [KEY],
    timeScale: SCALE,
    seed: 11,
    faults,
    ...(extra.credits === undefined ? {} : { credits: extra.credits }),
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
  const engine = await EnrichmentEngine.start({ client, store, mode, ...(webhook ? { webhook } : {}) });
  cleanups.push(() => engine.close());
  return { sim, engine, store };
}

function people(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    first_name: `Grace${i}`,
    last_name: `Hopper${i}`,
    domain: `navy${i % 5}.example`,
    custom: { row: String(i) },
    enrich_fields: ["contact.work_emails" as const, "contact.phones" as const],
  }));
}

async function runJob(s: Setup, n: number, batchSize = 10): Promise<ContactResult[]> {
  const job = s.engine.enrich(people(n), { batchSize, name: "http" });
  const results: ContactResult[] = [];
  await new Promise<void>((resolve, reject) =>
    job.results$.subscribe({ next: (r) => results.push(r), complete: resolve, error: reject }),
  );
  return results;
}

/** Every contact once, with exactly the record the provider produced for it. */
function expectExactlyOnceWithRightData(s: Setup, results: ContactResult[], n: number): void {
  expect(results).toHaveLength(n);
  expect(new Set(results.map((r) => r.custom.row)).size).toBe(n);
  const enrichments = new Map(s.sim.simulator.enrichments().map((e) => [e.id, e]));
  for (const result of results) {
    const enrichment = enrichments.get(result.enrichmentId);
    expect(enrichment).toBeDefined();
    const request = enrichment?.request as { data: { custom: Record<string, string> }[] };
    const index = request.data.findIndex((contact) => contact.custom.row === result.custom.row);
    const contact = enrichment?.contacts[index];
    if (contact?.record) {
      expect(result.contactInfo ?? undefined).toEqual(contact.record.contact_info);
    } else {
      expect(result.found).toBe(false);
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

describe("the engine over loopback HTTP against the simulator", () => {
  for (const mode of ["webhook", "polling", "both"] as const) {
    it(`${mode} mode: a plain run`, async () => {
      const s = await setup(mode);
      const results = await runJob(s, 25);
      expectExactlyOnceWithRightData(s, results, 25);
      expectWithinBudget(s);
      expect(s.sim.simulator.counters().rateLimited).toBe(0);
      if (mode === "webhook")
        expect(s.sim.simulator.counters().callsByRoute["GET /contact/enrich/bulk/{id}"] ?? 0).toBe(0);
      if (mode === "polling") expect(results.every((r) => r.source === "poll")).toBe(true);
    });
  }

  it("duplicated deliveries", async () => {
    const s = await setup("webhook", { duplicateDeliveryRate: 1 });
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
      { contactEvents: false },
    );
    const results = await runJob(s, 30);
    expectExactlyOnceWithRightData(s, results, 30);
    const lostId = s.sim.simulator.enrichments()[1]?.id;
    const lost = results.filter((r) => r.enrichmentId === lostId);
    expect(lost).toHaveLength(10);
    expect(lost.every((r) => r.source === "poll")).toBe(true);
    expect(results.filter((r) => r.enrichmentId !== lostId).every((r) => r.source === "webhook")).toBe(true);
    const gets = s.sim.simulator.counters().callsByRoute["GET /contact/enrich/bulk/{id}"] ?? 0;
    expect(gets).toBeGreaterThan(0);
    expectWithinBudget(s);
  });

  it("per-contact events after the batch event", async () => {
    const s = await setup("webhook", { contactEventsAfterBatch: true });
    const results = await runJob(s, 20);
    expectExactlyOnceWithRightData(s, results, 20);
    expect(results.every((r) => r.via === "batch-event")).toBe(true);
  });

  it("GET 500s and random 429s", async () => {
    const s = await setup("polling", { getErrorRate: 0.5, random429Rate: 0.2 });
    const results = await runJob(s, 20, 4);
    expectExactlyOnceWithRightData(s, results, 20);
    const counters = s.sim.simulator.counters();
    expect(counters.serverErrors + counters.rateLimited).toBeGreaterThan(0);
    expectWithinBudget(s);
  });

  it("credits running out", async () => {
    const s = await setup("webhook", {}, { credits: 25 });
    const results = await runJob(s, 20);
    expectExactlyOnceWithRightData(s, results, 20);
    expect(results.some((r) => r.status === "CREDITS_INSUFFICIENT" && !r.found)).toBe(true);
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
