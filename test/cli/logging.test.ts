// The CLI's logs: --verbose / --log-level / --log-format json, over the loopback simulator.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { runCli } from "../support/cli-process.js";

const KEY = "cli-logging-key";
const SCALE = "0.01";
let dir: string;
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], timeScale: Number(SCALE), seed: 9 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-cli-logging-"));
  await writeFile(
    join(dir, "leads.csv"),
    "first_name,last_name,domain\nAda,Lovelace,example.com\nAlan,Turing,example.org\nGrace,Hopper,navy.example\n",
  );
  await writeFile(join(dir, "key.txt"), `${KEY}\n`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const enrich = (...extra: string[]) =>
  runCli(
    [
      "enrich",
      "--input",
      "leads.csv",
      "--out",
      "out.jsonl",
      "--api-key-file",
      "key.txt",
      "--base-url",
      sim.baseUrl,
      "--time-scale",
      SCALE,
      "--batch-size",
      "1",
      "--quiet",
      ...extra,
    ],
    { cwd: dir },
  );

describe("enrich's logs", () => {
  it("--verbose --log-format json: one pino-shaped JSON object a line on stderr, never the key", async () => {
    const run = await enrich("--verbose", "--log-format", "json");
    expect(run.code).toBe(0);
    const logLines = run.stderr.split("\n").filter((line) => line.startsWith("{"));
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.length).toBeGreaterThanOrEqual(4);
    for (const entry of entries) {
      expect(entry).toMatchObject({
        level: expect.any(Number),
        time: expect.any(Number),
        pid: expect.any(Number),
        name: "fullenrich-rx",
        msg: expect.any(String),
      });
    }
    const accepted = entries.filter((entry) => entry.msg === "a batch was accepted");
    expect(accepted).toHaveLength(3);
    expect(accepted[0]).toMatchObject({ level: 30, enrichmentId: expect.any(String), contacts: 1 });
    expect(entries.some((entry) => entry.msg === "a job was planned")).toBe(true);
    expect(run.stderr).not.toContain(KEY);
  });

  it("by default (warn) the info lines are not shown; --log-level info shows them as text", async () => {
    const quiet = await enrich();
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain("a batch was accepted");
    const info = await enrich("--log-level", "info", "--refresh");
    expect(info.code).toBe(0);
    expect(info.stderr).toMatch(/\[fullenrich-rx\] info: a batch was accepted \{/);
  });

  it("a rerun that sends nothing logs why", async () => {
    expect((await enrich()).code).toBe(0);
    const rerun = await enrich("-v");
    expect(rerun.stderr).toContain("nothing to send, every contact is in the log already");
  });

  it("an unknown level or format is a usage error naming the flag", async () => {
    const level = await enrich("--log-level", "loud");
    expect(level.code).toBe(2);
    expect(level.stderr).toMatch(/--log-level: must be one of debug, info, warn, error, silent/);
    const format = await enrich("--log-format", "xml");
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/--log-format: must be text or json/);
  });
});
