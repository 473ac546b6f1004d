import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import stringWidth from "string-width";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { CLI, waitFor } from "../support/cli-process.js";

/**
 * The live progress as a person sees it: the built CLI runs in a real terminal (a tmux pane of a
 * given width), against the simulator over loopback HTTP; the test reads the screen with
 * `tmux capture-pane`, as it is drawn, several times a second.
 */

const run = promisify(execFile);
const KEY = "tty-test-key";
// One provider minute lasts 6 s: a batch of 10 is first polled about 8 s after it was sent.
const SCALE = 0.1;

let sim: RunningSimulator;
let dir: string;
const sessions: string[] = [];

beforeAll(async () => {
  // tmux is a Debian package (.ci/run installs it when absent): without it, this test cannot run.
  await run("tmux", ["-V"]).catch(() => {
    throw new Error("tmux is needed for this test: apt-get install -y tmux");
  });
  sim = await startSimulator({ apiKeys: [KEY], timeScale: SCALE, seed: 11 });
  dir = await mkdtemp(join(tmpdir(), "fxr-tty-"));
  const rows = Array.from({ length: 10 }, (_, i) => `Person${i},Family${i},example${i % 3}.com,,,${100 + i}`);
  await writeFile(
    join(dir, "leads.csv"),
    `first_name,last_name,domain,company_name,linkedin_url,custom.crm_id\n${rows.join("\n")}\n`,
  );
});

afterAll(async () => {
  for (const session of sessions) await run("tmux", ["kill-session", "-t", session]).catch(() => undefined);
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

/** Starts `command` in a new detached tmux session of `width` columns; the pane stays after it exits. */
async function terminal(width: number, command: string): Promise<string> {
  const session = `fxr-tty-${process.pid}-${sessions.length}`;
  sessions.push(session);
  await run("tmux", ["new-session", "-d", "-s", session, "-x", String(width), "-y", "20", command]);
  return session;
}

/** The screen's lines (wrapped lines joined, so that a line too wide for the pane shows as one). */
async function screen(session: string): Promise<string[]> {
  const { stdout } = await run("tmux", ["capture-pane", "-p", "-J", "-t", session]);
  return stdout.split("\n").filter((line) => line.trim() !== "");
}

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function enrichCommand(out: string, store: string): string {
  const args = [
    CLI,
    "enrich",
    "--input",
    join(dir, "leads.csv"),
    "--out",
    join(dir, out),
    "--store",
    join(dir, store),
    "--base-url",
    sim.baseUrl,
    "--time-scale",
    String(SCALE),
  ];
  const exitFile = join(dir, `${out}.exit`);
  return `env FULLENRICH_API_KEY=${KEY} ${quote(process.execPath)} ${args.map(quote).join(" ")}; echo $? > ${quote(exitFile)}; sleep 600`;
}

describe("the live progress in a real terminal (tmux)", () => {
  it("at 80 columns: redrawn at least once a second while nothing resolves, every line within the width", async () => {
    const session = await terminal(80, enrichCommand("out80.jsonl", "s80.db"));
    await waitFor(
      async () => (await screen(session)).some((line) => line.includes("0/10 contacts")),
      15_000,
      "the progress",
    );
    // Read the screen every 100 ms while no contact has its result (the first poll is ~8 s in).
    const frames: { at: number; text: string }[] = [];
    const started = Date.now();
    while (Date.now() - started < 5_000) {
      const lines = await screen(session);
      if (!lines.some((line) => line.includes(" 0/10 contacts"))) break;
      frames.push({ at: Date.now(), text: lines.join("\n") });
      for (const line of lines) expect(stringWidth(line), line).toBeLessThanOrEqual(80);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const watched = (frames.at(-1)?.at ?? 0) - (frames[0]?.at ?? 0);
    expect(watched).toBeGreaterThanOrEqual(3_000);
    const changes = frames.filter((frame, i) => i > 0 && frame.text !== frames[i - 1]?.text).map((f) => f.at);
    // Once a second, give or take the 100 ms between two reads of the screen and a busy machine.
    expect(changes.length).toBeGreaterThanOrEqual(Math.floor(watched / 1_000) - 1);
    const instants = [frames[0]?.at as number, ...changes];
    const gaps = instants.slice(1).map((at, i) => at - (instants[i] as number));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_500);
    // What it is waiting for, while nothing resolves: the provider, and when it will be polled.
    const last = frames.at(-1)?.text ?? "";
    expect(last).toMatch(/batches: 0 queued · 1 running · 0 waiting for webhook · 0 polling · 0 done/);
    expect(last).toMatch(/next poll in \d+s · API 1\/60 in the last 6\.0s/);
    expect(last).toMatch(/leads \[-+\] 0\/10 contacts 0% · \ds elapsed · ETA ~\ds/);

    // Then it ends, with every contact, the progress in its final state above the summary.
    await waitFor(
      async () => (await readFile(join(dir, "out80.jsonl.exit"), "utf8").catch(() => "")) !== "",
      40_000,
      "the run's end",
    );
    expect((await readFile(join(dir, "out80.jsonl.exit"), "utf8")).trim()).toBe("0");
    const end = await screen(session);
    for (const line of end) expect(stringWidth(line), line).toBeLessThanOrEqual(80);
    expect(end.join("\n")).toMatch(/leads \[#+\] 10\/10 contacts 100% · \d+s elapsed\n/);
    expect(end.join("\n")).toMatch(
      /batches: 0 queued · 0 running · 0 waiting for webhook · 0 polling · 1 done/,
    );
    expect(end.join("\n")).toMatch(/10\/10 contacts written to/);
  }, 60_000);

  it("at 160 columns: the same lines, uncut", async () => {
    const session = await terminal(160, enrichCommand("out160.jsonl", "s160.db"));
    await waitFor(
      async () => (await screen(session)).some((line) => /next poll in/.test(line)),
      15_000,
      "the progress",
    );
    const lines = await screen(session);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^leads \[-{30}\] 0\/10 contacts 0% · \ds elapsed · ETA ~\ds$/);
    expect(lines[1]).toBe("results: by webhook 0 · by poll 0");
    expect(lines[3]).toMatch(/^next poll in \ds · API 1\/60 in the last 6\.0s$/);
  }, 30_000);
});
