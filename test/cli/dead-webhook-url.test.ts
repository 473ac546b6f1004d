import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { freePort, runCli } from "../support/cli-process.js";

const KEY = "dead-hook-key";
const SCALE = "0.01";
let sim: RunningSimulator;
const dirs: string[] = [];

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], timeScale: Number(SCALE), seed: 17 });
});
afterAll(async () => {
  await sim.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const CSV = `first_name,last_name,domain,custom.crm_id\n${Array.from(
  { length: 20 },
  (_, i) => `Person${i},Family${i},example${i % 3}.com,${2000 + i}`,
).join("\n")}\n`;

/** One `enrich` of the same 20 contacts (batches of 5) in a fresh directory (a fresh log): its calls, its time. */
async function enrich(
  extra: string[],
): Promise<{ code: number | null; stderr: string; ms: number; calls: number }> {
  const dir = await mkdtemp(join(tmpdir(), "fxr-dead-hook-"));
  dirs.push(dir);
  await writeFile(join(dir, "leads.csv"), CSV);
  const callsBefore = sim.simulator.counters().calls;
  const started = performance.now();
  const flags = "enrich --input leads.csv --out out.jsonl --batch-size 5 --quiet".split(" ");
  const run = await runCli(
    [...flags, "--api-key", KEY, "--base-url", sim.baseUrl, "--time-scale", SCALE, ...extra],
    { cwd: dir, timeoutMs: 120_000 },
  );
  return {
    code: run.code,
    stderr: run.stderr,
    ms: performance.now() - started,
    calls: sim.simulator.counters().calls - callsBefore,
  };
}

describe("enrich with a --webhook-url nobody listens on (built CLI, loopback HTTP)", () => {
  it("says at start that deliveries do not arrive, polls, and finishes within 1.5x the polling-only run", async () => {
    const polling = await enrich([]);
    expect(polling.code).toBe(0);
    expect(polling.stderr).toBe("");

    const dead = await freePort(); // nobody listens there
    const listen = await freePort();
    const hooked = await enrich([
      "--webhook-url",
      `http://127.0.0.1:${dead}/webhook`,
      "--listen",
      `127.0.0.1:${listen}`,
    ]);
    expect(hooked.code).toBe(0);
    // Said once, at start: the engine's warning (what was tried), then the CLI's hint (what to check).
    expect(hooked.stderr).toMatch(
      /^\[fullenrich-rx\] warn: webhook deliveries are not arriving: .*a signed probe delivery was POSTed to http:\/\/127\.0\.0\.1:\d+\/webhook: the POST failed: ECONNREFUSED/,
    );
    expect(hooked.stderr.match(/not arriving|do not arrive|did not reach/g)).toHaveLength(2);
    expect(hooked.stderr).toMatch(/forwards to --listen \(127\.0\.0\.1:\d+\)/);
    expect(hooked.stderr).toMatch(/This run's batches are polled instead/);
    // The same calls as polling only (4 POSTs and their polls), give or take a poll or two of jitter...
    expect(hooked.calls).toBeLessThanOrEqual(polling.calls + 2);
    // ...and the same time: measured against the polling-only run of the same input, with a margin.
    expect(hooked.ms).toBeLessThan(1.5 * polling.ms);
  }, 240_000);
});
