import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { type CliRun, freePort, runNode } from "../support/cli-process.js";
import { dropSchemas, uniqueSchema, urlWithSchema } from "../support/pg-fixture.js";
import { deletePrefix, redisUrl, uniquePrefix } from "../support/redis-fixture.js";

const KEY = "examples-key";
const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
let sim: RunningSimulator;
let dir: string;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], timeScale: 0.01, seed: 9 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-examples-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs an example as written, with `node` (it imports "fullenrich-rx", which resolves to this package). */
function runExample(file: string, env: Record<string, string> = {}, args: string[] = []): Promise<CliRun> {
  return runNode(join(EXAMPLES, file), args, {
    cwd: dir,
    timeoutMs: 45_000,
    env: {
      FULLENRICH_API_KEY: KEY,
      FULLENRICH_BASE_URL: sim.baseUrl,
      FULLENRICH_TIME_SCALE: "0.01",
      STORE_PATH: join(dir, "events.db"),
      ...env,
    },
  });
}

function resultLines(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line.startsWith("result "));
}

async function webhookEnv(): Promise<Record<string, string>> {
  const port = await freePort();
  return { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}/webhooks/fullenrich` };
}

describe("examples run as written, against the simulator", () => {
  it("subscribe.mjs: a plain Node script subscribing to results", async () => {
    const run = await runExample("subscribe.mjs");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(resultLines(run.stdout)).toHaveLength(3);
    expect(run.stdout).toMatch(/done: 3\/3 contacts/);
  });

  it("polling-only.mjs: no public URL, results by polling", async () => {
    const run = await runExample("polling-only.mjs");
    expect(run.code).toBe(0);
    expect(new Set(resultLines(run.stdout)).size).toBe(12);
    expect(run.stdout).toMatch(/done: 12\/12 by polling 12/);
  });

  it("node-http-webhooks.mjs: a node:http server receiving webhooks", async () => {
    const run = await runExample("node-http-webhooks.mjs", await webhookEnv());
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(resultLines(run.stdout)).toHaveLength(2);
    expect(
      resultLines(run.stdout).every((line) => line.includes("by webhook")),
      run.stdout,
    ).toBe(true);
    expect(run.stdout).toMatch(/done: 2\/2, deliveries accepted 3/);
  });

  it("express-webhooks.mjs: an Express app receiving webhooks", async () => {
    const run = await runExample("express-webhooks.mjs", await webhookEnv());
    expect(run.code).toBe(0);
    expect(resultLines(run.stdout)).toHaveLength(3);
    expect(run.stdout).toMatch(/done: 3\/3 \(webhook 3, poll 0\)/);
  });

  it("hono-webhooks.mjs: a Hono app using the fetch handler", async () => {
    const run = await runExample("hono-webhooks.mjs", await webhookEnv());
    expect(run.code).toBe(0);
    expect(resultLines(run.stdout)).toHaveLength(2);
    expect(run.stdout).toMatch(/done: 2\/2 \(webhook 2, poll 0\)/);
  });

  it("exactly-once.mjs: a stored checkpoint across a crash and a restart", async () => {
    const env = { OUT_FILE: join(dir, "crm.json") };
    const first = await runExample("exactly-once.mjs", env, ["--crash-after", "2"]);
    expect(first.code).toBe(3);
    expect(first.stdout).toMatch(/crashing on purpose after 2 results/);
    const second = await runExample("exactly-once.mjs", env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/processed 4 this run, 6 in total/);
    const crm = JSON.parse(readFileSync(join(dir, "crm.json"), "utf8")) as { updates: { key: string }[] };
    expect(crm.updates).toHaveLength(6);
    expect(new Set(crm.updates.map((update) => update.key)).size).toBe(6);
    expect(sim.simulator.enrichments().filter((e) => e.name === "examples/exactly-once")).toHaveLength(1);
  });

  it("two-instances.mjs: two instances on PostgreSQL and Redis, one budget", async () => {
    const schema = uniqueSchema("examples");
    const prefix = uniquePrefix("examples");
    try {
      const env = { DATABASE_URL: urlWithSchema(schema), REDIS_URL: redisUrl, REDIS_PREFIX: prefix };
      const busiestBefore = sim.simulator.counters().busiestWindow;
      const [a, b] = await Promise.all([
        runExample("two-instances.mjs", { ...env, INSTANCE: "a" }),
        runExample("two-instances.mjs", { ...env, INSTANCE: "b" }),
      ]);
      for (const [run, name] of [
        [a, "a"],
        [b, "b"],
      ] as const) {
        expect(run.code, run.stderr).toBe(0);
        expect(resultLines(run.stdout)).toHaveLength(20);
        expect(new Set(resultLines(run.stdout)).size).toBe(20);
        const posted = sim.simulator
          .enrichments()
          .filter((e) => e.name.startsWith(`examples/two-instances ${name} (`));
        expect(posted.map((e) => e.name).sort()).toEqual(
          [1, 2, 3, 4].map((i) => `examples/two-instances ${name} (${i}/4)`),
        );
        expect(run.stdout).toMatch(new RegExp(`instance ${name} done: 20/20`));
      }
      expect(Math.max(busiestBefore, sim.simulator.counters().busiestWindow)).toBeLessThanOrEqual(60);
    } finally {
      await dropSchemas([schema]);
      await deletePrefix(prefix);
    }
  });
});
