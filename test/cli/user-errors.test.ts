// The errors people meet first, through the built CLI: each exits non-zero with a message that
// says what to do, sends nothing it should not, and loses nothing.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/events/stores/sqlite-store.js";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { freePort, runCli } from "../support/cli-process.js";

const KEY = "user-errors-key";
const SCALE = "0.01";
let dir: string;
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], timeScale: Number(SCALE), seed: 5 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-user-errors-"));
  await writeFile(
    join(dir, "leads.csv"),
    "first_name,last_name,domain,custom.crm_id\nAda,Lovelace,example.com,1\nAlan,Turing,example.org,2\n",
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function enrichArgs(baseUrl: string, ...extra: string[]): string[] {
  return [
    "enrich",
    "--input",
    "leads.csv",
    "--out",
    "out.jsonl",
    "--api-key",
    KEY,
    "--base-url",
    baseUrl,
    "--time-scale",
    SCALE,
    "--quiet",
    ...extra,
  ];
}

const posts = () => sim.simulator.counters().callsByRoute["POST /contact/enrich/bulk"] ?? 0;

describe("errors users meet, and what they are told", () => {
  it("port in use: exit 1, says to choose another --listen, and POSTs nothing", async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      const before = posts();
      const run = await runCli(
        enrichArgs(
          sim.baseUrl,
          "--webhook-url",
          `http://127.0.0.1:${port}/`,
          "--listen",
          `127.0.0.1:${port}`,
        ),
        { cwd: dir },
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        new RegExp(
          `cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use; choose another with --listen`,
        ),
      );
      expect(posts()).toBe(before);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it("no network (connection refused): the batch is rejected, not ambiguous; the same command later sends it", async () => {
    const closedPort = await freePort(); // nothing listens there
    const refused = await runCli(enrichArgs(`http://127.0.0.1:${closedPort}/api/v2`), { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/rejected: could not reach FullEnrich \(ECONNREFUSED\)/);
    expect(refused.stderr).toMatch(/run the same command again to send them/);
    expect(refused.stderr).not.toMatch(/ambiguous/);

    // The same command against a reachable API: the batch is sent (once) and every row written.
    const before = posts();
    const again = await runCli(enrichArgs(sim.baseUrl), { cwd: dir });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(posts()).toBe(before + 1);
    const rows = readFileSync(join(dir, "out.jsonl"), "utf8").trim().split("\n");
    expect(
      rows.map((row) => (JSON.parse(row) as { custom: { crm_id: string } }).custom.crm_id).sort(),
    ).toEqual(["1", "2"]);
  });

  it("a --base-url that is not a URL is a usage error, before the log is even created", async () => {
    const run = await runCli(enrichArgs("app.fullenrich.com/api/v2"), { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--base-url: must be an http:\/\/ or https:\/\/ URL/);
    expect(existsSync(join(dir, ".fullenrich-rx"))).toBe(false);
  });

  it("status and export on a log that does not exist say where they looked, and create nothing", async () => {
    for (const args of [
      ["status", "--store", "missing.db"],
      ["export", "--store", "missing.db", "--out", "all.jsonl"],
    ]) {
      const run = await runCli(args, { cwd: dir });
      expect(run.code, args[0]).toBe(1);
      expect(run.stderr).toContain(`no event log at ${join(dir, "missing.db")}: pass the --store that`);
      expect(existsSync(join(dir, "missing.db"))).toBe(false);
    }
  });

  it("a store locked by another program: exit 1, says which file and to stop the program holding it", async () => {
    const path = join(dir, "events.db");
    await (await SqliteEventStore.open(path)).close();
    const locker = new Database(path, { fileMustExist: true });
    try {
      locker.exec("BEGIN EXCLUSIVE");
      const before = posts();
      const run = await runCli(enrichArgs(sim.baseUrl, "--store", "events.db"), { cwd: dir });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`the event store ${path} is locked`);
      expect(run.stderr).toMatch(/Stop the program that keeps it locked/);
      expect(posts()).toBe(before);
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
  }, 30_000);
});
