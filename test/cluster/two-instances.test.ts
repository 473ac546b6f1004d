import { createServer, request, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { PostgresEventStore } from "../../src/events/stores/postgres-store.js";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { freePort, type JsonLinesChild, startJsonLinesChild, waitFor } from "../support/cli-process.js";
import { assertDatabaseReachable, dropSchemas, uniqueSchema, urlWithSchema } from "../support/pg-fixture.js";
import { assertRedisReachable, deletePrefix, redisUrl, uniquePrefix } from "../support/redis-fixture.js";

const KEY = "cluster-key";
const SCALE = 0.01;
const CHILD = fileURLToPath(new URL("../support/cluster-instance.mjs", import.meta.url));
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  await assertDatabaseReachable();
  await assertRedisReachable();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Starts one engine process; the test's cleanup stops it if it is still running. */
function startInstance(args: string[]): JsonLinesChild {
  const instance = startJsonLinesChild(CHILD, args);
  const { proc } = instance;
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 300));
      proc.kill("SIGKILL");
    }
  });
  return instance;
}

/** A load balancer in front of the two receivers: round robin; a backend that is down gets skipped. */
async function roundRobin(backends: number[]): Promise<{ port: number; spread: number[] }> {
  const spread = backends.map(() => 0);
  let next = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const tryBackend = (attempt: number): void => {
        const index = (next + attempt) % backends.length;
        const forward = request(
          {
            host: "127.0.0.1",
            port: backends[index],
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            spread[index] = (spread[index] ?? 0) + 1;
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on("error", () => {
          if (attempt + 1 < backends.length) tryBackend(attempt + 1);
          else {
            res.writeHead(502);
            res.end();
          }
        });
        forward.end(body);
      };
      next = (next + 1) % backends.length;
      tryBackend(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, spread };
}

const schemas = new WeakMap<RunningSimulator, string>();
const schemaOf = (sim: RunningSimulator): string => schemas.get(sim) as string;

async function cluster(lostBatchOrdinals: (ordinal: number) => boolean) {
  const schema = uniqueSchema("cluster");
  cleanups.push(() => dropSchemas([schema]));
  const prefix = uniquePrefix("cluster");
  cleanups.push(() => deletePrefix(prefix));
  const sim: RunningSimulator = await startSimulator({
    apiKeys: [KEY],
    timeScale: SCALE,
    seed: 21,
    faults: { loseBatchWebhook: ({ ordinal }) => lostBatchOrdinals(ordinal) },
  });
  cleanups.push(() => sim.close());
  schemas.set(sim, schema);
  const ports = [await freePort(), await freePort()];
  const balancer = await roundRobin(ports);
  const publicUrl = `http://127.0.0.1:${balancer.port}/fullenrich`;
  const common = (port: number, jobId: string, firstRow: number, id: string) => [
    urlWithSchema(schema),
    redisUrl,
    prefix,
    sim.baseUrl,
    KEY,
    String(SCALE),
    String(port),
    publicUrl,
    jobId,
    String(firstRow),
    "40",
    "10",
    id,
  ];
  const a = startInstance(common(ports[0] as number, "cluster-a", 0, "a"));
  const b = startInstance(common(ports[1] as number, "cluster-b", 40, "b"));
  return { sim, a, b, balancer };
}

const rowsOf = (lines: Record<string, unknown>[], kind: "job" | "engine") =>
  lines.filter((line) => kind in line).map((line) => line[kind] as string);

function expectNoBatchPostedTwice(sim: RunningSimulator, batches: number): void {
  const enrichments = sim.simulator.enrichments();
  expect(enrichments).toHaveLength(batches);
  const rows = enrichments.flatMap((e) =>
    (e.request as { data: { custom: { row: string } }[] }).data.map((c) => c.custom.row),
  );
  expect(new Set(rows).size).toBe(rows.length);
}

// Each step below waits within its own bound and says which step ran out; the tests' timeouts cover
// the sum of those bounds, so that a slow machine fails (if at all) on the step, not on vitest's 30 s.
describe("two engine processes sharing PostgreSQL and Redis", { timeout: 190_000 }, () => {
  it("each contact once in the merged results, no batch POSTed twice, the budget kept", async () => {
    const { sim, a, b, balancer } = await cluster((ordinal) => ordinal % 3 === 1);
    await waitFor(
      () => a.lines().some((l) => "done" in l) && b.lines().some((l) => "done" in l),
      60_000,
      "both jobs",
    );
    const merged = [...rowsOf(a.lines(), "job"), ...rowsOf(b.lines(), "job")];
    expect(merged).toHaveLength(80);
    expect(new Set(merged).size).toBe(80);
    expect(a.lines().find((l) => "done" in l)).toMatchObject({ resolved: 40, failures: 0 });
    expect(b.lines().find((l) => "done" in l)).toMatchObject({ resolved: 40, failures: 0 });
    expectNoBatchPostedTwice(sim, 8);
    const counters = sim.simulator.counters();
    expect(counters.busiestWindow).toBeLessThanOrEqual(60);
    expect(counters.rateLimited).toBe(0);
    // The deliveries went through both receivers, and the lost batch webhooks were recovered by polling.
    expect(balancer.spread.every((count) => count > 0)).toBe(true);
    expect(counters.callsByRoute["GET /contact/enrich/bulk/{id}"] ?? 0).toBeGreaterThan(0);
    console.info(
      `cluster: busiest window ${counters.busiestWindow}/60, deliveries per receiver ${balancer.spread.join("/")}, GETs ${counters.callsByRoute["GET /contact/enrich/bulk/{id}"] ?? 0}`,
    );
  });

  it("one process killed with SIGKILL halfway: the other finishes every enrichment", async () => {
    // Half the batch webhooks are lost: those enrichments can only finish by polling.
    const { sim, a, b } = await cluster((ordinal) => ordinal % 2 === 1);
    await waitFor(
      () => a.lines().some((l) => "ready" in l) && b.lines().some((l) => "ready" in l),
      30_000,
      "both started",
    );
    await waitFor(() => sim.simulator.enrichments().length === 8, 30_000, "every batch accepted");
    await waitFor(() => rowsOf(b.lines(), "job").length > 0, 30_000, "b's first result");
    b.proc.kill("SIGKILL");
    const killedAt = Date.now();
    // a follows every enrichment in the log, b's too: it completes all 8 (the lost batch webhooks
    // by polling, taking b's leases over) and emits all 80 contacts, each once.
    const store = await PostgresEventStore.open(urlWithSchema(schemaOf(sim)));
    cleanups.push(() => store.close());
    const completed = async () =>
      (await store.read()).filter((event) => event.type === "enrichment.completed").length;
    await waitFor(async () => (await completed()) === 8, 60_000, "every enrichment completed");
    await waitFor(() => new Set(rowsOf(a.lines(), "engine")).size === 80, 30_000, "a to emit every contact");
    const finishedIn = Date.now() - killedAt;
    const seenByA = rowsOf(a.lines(), "engine");
    expect(seenByA).toHaveLength(80);
    expect(new Set(seenByA).size).toBe(80);
    expectNoBatchPostedTwice(sim, 8);
    expect(sim.simulator.counters().busiestWindow).toBeLessThanOrEqual(60);
    console.info(
      `cluster kill: a finished every enrichment ${finishedIn} ms after b's SIGKILL (${(finishedIn / SCALE / 1000).toFixed(0)} s of provider time); busiest window ${sim.simulator.counters().busiestWindow}/60`,
    );
  });
});
