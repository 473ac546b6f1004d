import { existsSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { freePort, runCli, startCli, waitFor } from "../support/cli-process.js";

const KEY = "cli-test-key";
const SCALE = "0.01";
let dir: string;
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], timeScale: Number(SCALE), seed: 3 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-cli-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function csv(rows: number, extraColumns = ""): string {
  const header = `first_name,last_name,domain,company_name,linkedin_url,custom.crm_id${extraColumns ? `,${extraColumns}` : ""}`;
  const lines = Array.from(
    { length: rows },
    (_, i) => `Person${i},Family${i},example${i % 3}.com,,,${1000 + i}`,
  );
  return `${header}\n${lines.join("\n")}\n`;
}

function commonArgs(out = "out.jsonl", baseUrl = sim.baseUrl): string[] {
  return ["--out", out, "--api-key", KEY, "--base-url", baseUrl, "--time-scale", SCALE, "--quiet"];
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(join(dir, file), "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function expectEveryRowOnce(file: string, rows: number): Record<string, unknown>[] {
  const results = lines(file);
  expect(results).toHaveLength(rows);
  const ids = results.map((r) => (r.custom as Record<string, string>).crm_id);
  expect(new Set(ids).size).toBe(rows);
  for (const result of results) {
    expect(Object.keys(result).sort()).toEqual(
      [
        "contact_info",
        "contact_key",
        "custom",
        "enrichment_id",
        "input",
        "profile",
        "source",
        "status",
      ].sort(),
    );
    expect(result.custom).not.toHaveProperty("_fxr");
  }
  return results;
}

/**
 * Each line's contact_info and profile are what the simulator sent for that contact (found through
 * the line's enrichment and its custom value `key`), or null when it sent no record.
 */
function expectSimulatorTruth(
  running: RunningSimulator,
  results: Record<string, unknown>[],
  key: string,
): void {
  const enrichments = new Map(running.simulator.enrichments().map((e) => [e.id, e]));
  for (const result of results) {
    const enrichment = enrichments.get(result.enrichment_id as string);
    const request = enrichment?.request as { data: { custom: Record<string, string> }[] } | undefined;
    const value = (result.custom as Record<string, string>)[key];
    const index = request?.data.findIndex((contact) => contact.custom[key] === value) ?? -1;
    expect(index).toBeGreaterThanOrEqual(0);
    const record = enrichment?.contacts[index]?.record;
    expect(result.contact_info).toEqual(record?.contact_info ?? null);
    expect(result.profile).toEqual(record?.profile ?? null);
  }
}

describe.each(["tidy", "liveShapes"] as const)(
  "fullenrich-rx enrich (built CLI, child process) against the %s simulator",
  (profile) => {
    // Under liveShapes, half the batches pass through a status neither running nor final; none is
    // canceled, so that every contact has its record.
    let profileSim: RunningSimulator;
    beforeAll(async () => {
      profileSim =
        profile === "tidy"
          ? sim
          : await startSimulator({
              apiKeys: [KEY],
              timeScale: Number(SCALE),
              seed: 3,
              profile,
              liveShapes: { stallRate: 0.5, cancelRate: 0 },
            });
    });
    afterAll(async () => {
      if (profileSim !== sim) await profileSim.close();
    });
    const common = (out = "out.jsonl") => commonArgs(out, profileSim.baseUrl);
    const postsBefore = () => profileSim.simulator.counters().callsByRoute["POST /contact/enrich/bulk"] ?? 0;

    it("polling mode: one line per contact, exactly once; then status and export", async () => {
      await writeFile(join(dir, "leads.csv"), csv(25));
      const posts = postsBefore();
      const run = await runCli(
        ["enrich", "--input", "leads.csv", ...common(), "--batch-size", "10", "--json"],
        { cwd: dir },
      );
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const results = expectEveryRowOnce("out.jsonl", 25);
      expect(results.every((r) => r.source === "poll" && r.status === "FINISHED")).toBe(true);
      expectSimulatorTruth(profileSim, results, "crm_id");
      expect(postsBefore() - posts).toBe(3);
      const summary = JSON.parse(run.stdout) as {
        resolved: number;
        bySource: { poll: number };
        apiCalls: number;
      };
      expect(summary.resolved).toBe(25);
      expect(summary.bySource.poll).toBe(25);
      expect(existsSync(join(dir, ".fullenrich-rx/events.db"))).toBe(true);

      const status = await runCli(["status", "--json"], { cwd: dir });
      expect(status.code).toBe(0);
      const parsed = JSON.parse(status.stdout) as {
        batches: { state: string; resolved: number }[];
        unfinished: number;
      };
      expect(parsed.batches).toHaveLength(3);
      expect(parsed.batches.every((b) => b.state === "completed FINISHED")).toBe(true);
      expect(parsed.unfinished).toBe(0);

      const exported = await runCli(
        ["export", "--store", ".fullenrich-rx/events.db", "--out", "again.jsonl"],
        {
          cwd: dir,
        },
      );
      expect(exported.code).toBe(0);
      expect(
        lines("again.jsonl")
          .map((r) => r.contact_key)
          .sort(),
      ).toEqual(results.map((r) => r.contact_key).sort());
      // Results are personal data: --out and exports are owner-only.
      expect(statSync(join(dir, "out.jsonl")).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, "again.jsonl")).mode & 0o777).toBe(0o600);
    });

    it("webhook mode with per-contact events, through the built-in receiver", async () => {
      await writeFile(join(dir, "leads.csv"), csv(12));
      const port = await freePort();
      const run = await runCli(
        [
          "enrich",
          "--input",
          "leads.csv",
          ...common(),
          "--webhook-url",
          `http://127.0.0.1:${port}/hooks`,
          "--listen",
          `127.0.0.1:${port}`,
          "--contact-events",
        ],
        { cwd: dir },
      );
      expect(run.code).toBe(0);
      const results = expectEveryRowOnce("out.jsonl", 12);
      expect(results.every((r) => r.source === "webhook")).toBe(true);
      expectSimulatorTruth(profileSim, results, "crm_id");
      expect(run.stdout).toMatch(/by webhook 12, by polling 0/);
    });

    it("--format csv writes a flat CSV of the main fields", async () => {
      await writeFile(join(dir, "leads.csv"), csv(4));
      const run = await runCli(["enrich", "--input", "leads.csv", ...common("out.csv"), "--format", "csv"], {
        cwd: dir,
      });
      expect(run.code).toBe(0);
      const [header, ...rows] = readFileSync(join(dir, "out.csv"), "utf8").trim().split("\n");
      expect(header).toMatch(
        /^enrichment_id,contact_key,status,source,first_name,last_name,domain,company_name,linkedin_url,custom\.crm_id,work_email/,
      );
      expect(rows).toHaveLength(4);
    });

    it("reverse lookups from a CSV of emails", async () => {
      await writeFile(
        join(dir, "emails.csv"),
        "email,custom.crm_id\nada@example.com,1\nalan@example.org,2\n",
      );
      const before = profileSim.simulator.counters().callsByRoute["POST /contact/reverse/email/bulk"] ?? 0;
      const run = await runCli(["reverse", "--input", "emails.csv", ...common()], { cwd: dir });
      expect(run.code).toBe(0);
      const results = expectEveryRowOnce("out.jsonl", 2);
      expect(results.map((r) => (r.input as { email: string }).email).sort()).toEqual([
        "ada@example.com",
        "alan@example.org",
      ]);
      expect(
        (profileSim.simulator.counters().callsByRoute["POST /contact/reverse/email/bulk"] ?? 0) - before,
      ).toBe(1);
      expectSimulatorTruth(profileSim, results, "crm_id");
    });

    it("a wrong key: exit 1, a message a person understands, no retry storm", async () => {
      await writeFile(join(dir, "leads.csv"), csv(3));
      const unauthorized = profileSim.simulator.counters().unauthorized;
      const run = await runCli(["enrich", "--input", "leads.csv", ...common(), "--api-key", "not-the-key"], {
        cwd: dir,
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/the API key was refused \(401/);
      expect(run.stderr).not.toContain("not-the-key");
      expect(profileSim.simulator.counters().unauthorized - unauthorized).toBe(1);
    });
  },
);

describe("bad input: exit 2, the row and field named, nothing sent", () => {
  const cases: { name: string; file: string; content: string; args?: string[]; message: RegExp }[] = [
    {
      name: "missing last name without linkedin_url",
      file: "in.csv",
      content: "first_name,last_name,domain\nAda,Lovelace,example.com\nAlan,,example.com\n",
      message: /row 3: last_name: is required unless linkedin_url is given/,
    },
    {
      name: "missing domain and company without linkedin_url",
      file: "in.csv",
      content: "first_name,last_name,domain,company_name\nAda,Lovelace,,\n",
      message: /row 2: domain: domain or company_name is required/,
    },
    {
      name: "a numeric custom value",
      file: "in.jsonl",
      content: `{"first_name":"Ada","last_name":"L","domain":"e.com"}\n\n{"first_name":"Al","last_name":"T","domain":"e.com","custom":{"crm_id":42}}\n`,
      message: /row 3: custom\.crm_id: custom values must be strings/,
    },
    {
      name: "more than 10 custom keys",
      file: "in.csv",
      content: `first_name,last_name,domain,${Array.from({ length: 11 }, (_, i) => `custom.k${i}`).join(",")}\nAda,L,e.com,${Array(11).fill("v").join(",")}\n`,
      message: /row 2: custom: custom may hold at most 10 keys, got 11/,
    },
    {
      name: "a custom value over 100 characters",
      file: "in.csv",
      content: `first_name,last_name,domain,custom.note\nAda,L,e.com,${"x".repeat(101)}\n`,
      message: /row 2: custom\.note: custom values may be at most 100 characters, got 101/,
    },
    {
      name: "an unknown enrich field (flag)",
      file: "in.csv",
      content: "first_name,last_name,domain\nAda,L,e.com\n",
      args: ["--fields", "contact.work_emails,contact.fax"],
      message: /--fields: unknown enrich field "contact\.fax"/,
    },
    {
      name: "an unknown enrich field (row)",
      file: "in.jsonl",
      content: `{"first_name":"Ada","last_name":"L","domain":"e.com","enrich_fields":["contact.fax"]}\n`,
      message: /row 1: enrich_fields\.0: must be one of/,
    },
    {
      name: "an empty file",
      file: "in.csv",
      content: "first_name,last_name,domain\n",
      message: /holds no contacts/,
    },
    {
      name: "a malformed CSV",
      file: "in.csv",
      content: 'first_name,last_name,domain\nAda,"Love\nlace,e.com\n',
      message: /malformed CSV/,
    },
    {
      name: "a malformed JSON line",
      file: "in.jsonl",
      content: `{"first_name":"Ada","last_name":"L","domain":"e.com"}\n{"first_name":\n`,
      message: /line 2: not valid JSON/,
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, async () => {
      await writeFile(join(dir, testCase.file), testCase.content);
      const calls = sim.simulator.counters().calls;
      const run = await runCli(
        ["enrich", "--input", testCase.file, ...commonArgs(), ...(testCase.args ?? [])],
        {
          cwd: dir,
        },
      );
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(testCase.message);
      expect(sim.simulator.counters().calls).toBe(calls);
      expect(existsSync(join(dir, ".fullenrich-rx"))).toBe(false);
    });
  }

  it("missing flags and a missing key are usage errors too", async () => {
    await writeFile(join(dir, "in.csv"), csv(1));
    const noOut = await runCli(["enrich", "--input", "in.csv"], { cwd: dir });
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/--out FILE is required/);
    const noKey = await runCli(["enrich", "--input", "in.csv", "--out", "o.jsonl"], { cwd: dir });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/no API key: set FULLENRICH_API_KEY or pass --api-key-file PATH/);
  });
});

describe("crashes and interruptions", () => {
  // A provider whose contacts take 0.3–6 s, in batches of 2: results spread over seconds.
  let slow: RunningSimulator;
  beforeAll(async () => {
    slow = await startSimulator({
      apiKeys: [KEY],
      timeScale: 0.05,
      seed: 4,
      contactDurationMs: { min: 300, max: 6_000 },
    });
  });
  afterAll(async () => {
    await slow.close();
  });
  const slowPosts = () => slow.simulator.counters().callsByRoute["POST /contact/enrich/bulk"] ?? 0;

  /** Starts a slow run and waits for its first result line. */
  async function startSlowRun() {
    const args = [
      "enrich",
      "--input",
      "leads.csv",
      ...commonArgs(),
      "--base-url",
      slow.baseUrl,
      "--batch-size",
      "2",
      "--time-scale",
      "0.05",
    ];
    const first = startCli(args, { cwd: dir });
    await waitFor(
      () => existsSync(join(dir, "out.jsonl")) && readFileSync(join(dir, "out.jsonl"), "utf8").length > 0,
      30_000,
      "a first result",
    );
    return { args, first };
  }

  it("kill -9 mid-run, then the same command again: every contact exactly once, no second POST", async () => {
    await writeFile(join(dir, "leads.csv"), csv(30));
    const posts = slowPosts();
    const { args, first } = await startSlowRun();
    first.child.kill("SIGKILL");
    const killed = await first.done;
    expect(killed.signal).toBe("SIGKILL");
    expect(slowPosts() - posts).toBe(15);
    expect(lines("out.jsonl").length).toBeLessThan(30);

    const second = await runCli(args, { cwd: dir });
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expectEveryRowOnce("out.jsonl", 30);
    expect(slowPosts() - posts).toBe(15);
  });

  it("SIGINT stops cleanly with a line saying how to resume, and the rerun finishes", async () => {
    await writeFile(join(dir, "leads.csv"), csv(20));
    const posts = slowPosts();
    const { args, first } = await startSlowRun();
    first.child.kill("SIGINT");
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/To resume, run the same command again with the same --store/);
    expect(lines("out.jsonl").length).toBeLessThan(20);
    const second = await runCli(args, { cwd: dir });
    expect(second.code).toBe(0);
    expectEveryRowOnce("out.jsonl", 20);
    expect(slowPosts() - posts).toBe(10);
  });
});

describe("demo", () => {
  it("runs with no key and no network, and prints the side-by-side summary", async () => {
    const run = await runCli(["demo"], { cwd: dir, timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/contacts \(each exactly once\)\s+50\/50\s+50\/50/);
    expect(run.stdout).toMatch(/probes and polling fallbacks\s+1 \(probe\)\s+none/);
    expect(run.stdout).toMatch(/by webhook \/ by polling\s+40 \/ 10\s+0 \/ 50/);
  });
});

describe("files the CLI writes are private", () => {
  it("an export into a new directory is owner-only; an existing readable file gets a warning and keeps its mode", async () => {
    await writeFile(join(dir, "leads.csv"), csv(3));
    const run = await runCli(["enrich", "--input", "leads.csv", ...commonArgs()], { cwd: dir });
    expect(run.code).toBe(0);
    const nested = await runCli(["export", "--out", "exports/all.jsonl"], { cwd: dir });
    expect(nested.code).toBe(0);
    expect(nested.stderr).toBe("");
    expect(statSync(join(dir, "exports")).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "exports/all.jsonl")).mode & 0o777).toBe(0o600);
    await writeFile(join(dir, "shared.jsonl"), "", { mode: 0o644 });
    await chmod(join(dir, "shared.jsonl"), 0o644);
    const shared = await runCli(["export", "--out", "shared.jsonl"], { cwd: dir });
    expect(shared.code).toBe(0);
    expect(shared.stderr).toBe(
      `warning: ${join(dir, "shared.jsonl")} (contact results, personal data) can be read by other local users (mode 0644); make it private with: chmod 600 ${join(dir, "shared.jsonl")}\n`,
    );
    expect(statSync(join(dir, "shared.jsonl")).mode & 0o777).toBe(0o644);
  });
});
