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
import { createWebhookServer } from "../../src/webhooks/node-server.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
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

describe("rough edges: one test per message", () => {
  it("--version prints the package's version", async () => {
    const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    const run = await runCli(["--version"], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(manifest.version);
  });

  it("an unknown flag close to a known one: did you mean it? (exit 2, nothing sent)", async () => {
    const before = posts();
    const run = await runCli(enrichArgs(sim.baseUrl, "--batchsize", "10"), { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown flag --batchsize; did you mean --batch-size?");
    expect(posts()).toBe(before);
    const command = await runCli(["enrihc"], { cwd: dir });
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unknown command "enrihc"; did you mean enrich?');
  });

  it("--store pg://x: only postgres:// and postgresql:// are PostgreSQL; no SQLite file named after it", async () => {
    const run = await runCli(enrichArgs(sim.baseUrl, "--store", "pg://db.example/leads"), { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--store: "pg://db.example/leads" looks like a pg: URL, which is not a store: use postgres://… (or postgresql://…) for PostgreSQL',
    );
    expect(existsSync(join(dir, "pg:"))).toBe(false);
  });

  it("--out - writes the results to stdout, the summary to stderr, and no file named -", async () => {
    const run = await runCli(enrichArgs(sim.baseUrl, "--out", "-"), { cwd: dir });
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(
      lines.map((line) => (JSON.parse(line) as { custom: { crm_id: string } }).custom.crm_id).sort(),
    ).toEqual(["1", "2"]);
    expect(run.stderr).toMatch(/2\/2 contacts written to stdout/);
    expect(existsSync(join(dir, "-"))).toBe(false);
  });

  it("reverse --fields is refused, not silently ignored", async () => {
    await writeFile(join(dir, "emails.csv"), "email\nada@example.com\n");
    const args = ["reverse", "--input", "emails.csv", "--out", "o.jsonl", "--api-key", KEY];
    const run = await runCli([...args, "--base-url", sim.baseUrl, "--fields", "contact.phones"], {
      cwd: dir,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--fields applies to enrich only: a reverse lookup takes no enrich_fields");
  });

  it("a missing input file: says no such file and where, not a bare ENOENT", async () => {
    const run = await runCli(
      enrichArgs(sim.baseUrl).map((arg) => (arg === "leads.csv" ? "nope.csv" : arg)),
      {
        cwd: dir,
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--input: no such file: ${join(dir, "nope.csv")}`);
    expect(run.stderr).not.toContain("ENOENT");
  });

  it("serve on a busy port: says to choose another --listen, not a raw EADDRINUSE", async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      const run = await runCli(
        ["serve", "--listen", `127.0.0.1:${port}`, "--store", "s.db", "--api-key", KEY],
        {
          cwd: dir,
        },
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `cannot listen on 127.0.0.1:${port}: the port is already in use; choose another with --listen HOST:PORT`,
      );
      expect(run.stderr).not.toContain("EADDRINUSE");
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it("a CSV without a column contacts need: one error about the column, not one per row", async () => {
    await writeFile(
      join(dir, "leads.csv"),
      "first_name,last_name\nAda,Lovelace\nAlan,Turing\nGrace,Hopper\n",
    );
    const run = await runCli(enrichArgs(sim.baseUrl), { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--input: the CSV has no "domain or company_name" column: each contact needs first_name, last_name and domain or company_name, or a linkedin_url',
    );
    expect(run.stderr).not.toMatch(/row \d/);
    await writeFile(join(dir, "emails.csv"), "mail\nada@example.com\n");
    const reverse = await runCli(
      ["reverse", "--input", "emails.csv", "--out", "o.jsonl", "--api-key", KEY, "--base-url", sim.baseUrl],
      { cwd: dir },
    );
    expect(reverse.code).toBe(2);
    expect(reverse.stderr).toContain(
      'the CSV has no "email" column: a reverse lookup needs one email per row',
    );
    expect(reverse.stderr).toContain(`are not API fields: "mail"; --map 'COLUMN=FIELD' reads one as a field`);
  });

  it("a CRM's extra columns: an error that says how to go on; --ignore-unknown-columns leaves them out with a note; --map reads one", async () => {
    await writeFile(
      join(dir, "leads.csv"),
      "first_name,last_name,domain,Owner,Region,custom.crm_id\nAda,Lovelace,example.com,bob,eu,1\nAlan,Turing,example.org,eve,us,2\n",
    );
    const refused = await runCli(enrichArgs(sim.baseUrl), { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('unknown columns "Owner", "Region"');
    expect(refused.stderr).toContain("Pass --ignore-unknown-columns to leave them out, or --map");
    const ignored = await runCli(enrichArgs(sim.baseUrl, "--ignore-unknown-columns"), { cwd: dir });
    expect(ignored.code).toBe(0);
    expect(ignored.stderr).toContain(
      'note: left out the columns "Owner", "Region" (--ignore-unknown-columns',
    );
    const owners = await runCli(
      enrichArgs(sim.baseUrl, "--map", "Owner=custom.owner", "--ignore-unknown-columns", "--out", "-"),
      { cwd: dir },
    );
    expect(owners.code).toBe(0);
    expect(owners.stderr).toContain('note: left out the column "Region"');
    const custom = owners.stdout
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { custom: Record<string, string> }).custom.owner)
      .sort();
    expect(custom).toEqual(["bob", "eve"]);
    const bad = await runCli(enrichArgs(sim.baseUrl, "--map", "Owner=boss"), { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--map: Owner=boss: "boss" is not first_name, last_name');
  });

  it("test-webhook against a fullenrich-rx receiver: verified and answered, nothing stored in the log", async () => {
    const store = await SqliteEventStore.open(join(dir, "events.db"));
    const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
    const server = createWebhookServer(receiver, { path: "/hook" });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const run = await runCli(["test-webhook", "--url", `http://127.0.0.1:${port}/hook`, "--api-key", KEY], {
        cwd: dir,
      });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("a fullenrich-rx receiver: the sample was not stored");
      expect(await store.head()).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      receiver.close();
      await store.close();
    }
  });

  it("export --job with a job the log does not hold: exit 1, says so, writes nothing", async () => {
    expect((await runCli(enrichArgs(sim.baseUrl), { cwd: dir })).code).toBe(0);
    const run = await runCli(["export", "--out", "none.jsonl", "--job", "nosuch"], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no job "nosuch" in the event log at');
    expect(existsSync(join(dir, "none.jsonl"))).toBe(false);
  });

  it("a rerun that sends nothing says why", async () => {
    expect((await runCli(enrichArgs(sim.baseUrl), { cwd: dir })).code).toBe(0);
    const rerun = await runCli(enrichArgs(sim.baseUrl), { cwd: dir });
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(
      "0 API calls (all 2 contacts already enriched in the store; --refresh sends them again)",
    );
  });
});

describe("--max-wait", () => {
  it("stops waiting: exit 1, the rows without a result named, and the same command later finishes them, POSTing nothing twice", async () => {
    const before = posts();
    const stopped = await runCli(enrichArgs(sim.baseUrl, "--max-wait", "200ms"), { cwd: dir });
    expect(stopped.code).toBe(1);
    // Sent or still queued when the wait ran out (the machine's load decides): either way named.
    expect(stopped.stderr).toMatch(
      /\(2 contacts: lines 2, 3[^)]*\) timed-out: no result within the job's maximum wait/,
    );
    expect(stopped.stderr).toContain(
      "the job stopped waiting (--max-wait) before these contacts had a result",
    );
    const sent = posts() - before;
    expect(sent).toBeLessThanOrEqual(1);
    const again = await runCli(enrichArgs(sim.baseUrl), { cwd: dir });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    // A batch that left is followed, not sent again; one that never left is sent now.
    expect(posts() - before).toBe(1);
    expect(readFileSync(join(dir, "out.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
  });

  it("a --max-wait that is not a duration is a usage error", async () => {
    const run = await runCli(enrichArgs(sim.baseUrl, "--max-wait", "soon"), { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--max-wait: must be a number and a unit");
  });
});
