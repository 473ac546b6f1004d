import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EVENT_SCHEMAS } from "../../src/events/event-types.js";
import { openStore } from "../../src/events/stores/index.js";
import { seededRandom } from "../../src/internal/random.js";
import { type RunningSimulator, type SimulatorFaults, startSimulator } from "../../src/simulator/index.js";
import { type CliRun, freePort, runCli, startCli } from "../support/cli-process.js";

/**
 * The CLI killed with SIGKILL at seeded random points, then run again with the same command (and,
 * when it reports ambiguous batches, with the command it prints), over real loopback HTTP against
 * the simulator: every row ends up exactly once in --out, no contact the provider accepted is sent
 * twice, and the only contacts ever reported ambiguous belong to a POST that was on the wire at
 * the kill.
 */

const KEY = "crash-key";
const ROWS = 60;
/** One provider minute lasts 0.3 s: contacts take 0.15–0.45 s, a webhook deadline 2.25 s. */
const TIME_SCALE = 0.005;
const RATE_LIMIT = 6;

const cleanups: (() => Promise<void>)[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ObservedPost {
  rows: string[];
  receivedAt: number;
  answeredAt: number | null;
}

/** A simulator that notes every POST it receives: which rows, when it arrived, when it was answered. */
async function observedSimulator(
  rateLimit = RATE_LIMIT,
  timeScale = TIME_SCALE,
  faults: SimulatorFaults = {},
): Promise<{ sim: RunningSimulator; posts: ObservedPost[] }> {
  const sim = await startSimulator({ apiKeys: [KEY], timeScale, seed: 7, rateLimit, faults });
  cleanups.push(() => sim.close());
  const posts: ObservedPost[] = [];
  const handle = sim.simulator.handle.bind(sim.simulator);
  sim.simulator.handle = async (request) => {
    if (request.method !== "POST") return handle(request);
    const body = (await request.clone().json()) as { data: { custom?: { row?: string } }[] };
    const post: ObservedPost = {
      rows: body.data.map((contact) => contact.custom?.row ?? "?"),
      receivedAt: Date.now(),
      answeredAt: null,
    };
    posts.push(post);
    const response = await handle(request);
    post.answeredAt = Date.now();
    return response;
  };
  return { sim, posts };
}

async function workspace(rows: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fxr-crash-"));
  if (!process.env.KEEP_CRASH_DIRS) cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const lines = ["first_name,last_name,domain,custom.row"];
  for (let row = 0; row < rows; row++) lines.push(`Ada${row},Crash${row},crash${row % 5}.example,${row}`);
  await writeFile(join(dir, "leads.csv"), `${lines.join("\n")}\n`);
  return dir;
}

/** The rows an `ambiguous` report names (from its `lines …` list: line 2 holds row 0). */
function ambiguousRows(stderr: string): string[] {
  const rows: string[] = [];
  for (const match of stderr.matchAll(
    /contacts: lines? ([\d, ]+)(?: and \d+ more)?(?:, sent [^)]+)?\) ambiguous/g,
  )) {
    for (const line of (match[1] as string).split(",")) rows.push(String(Number(line.trim()) - 2));
  }
  return rows;
}

/** `enrich` from leads.csv to out.jsonl on events.db, against the simulator, quiet. */
function enrichArgs(sim: RunningSimulator, timeScale: number, rateLimit: number, extra: string[]): string[] {
  return [
    ...["enrich", "--input", "leads.csv", "--out", "out.jsonl", "--store", "events.db"],
    ...["--base-url", sim.baseUrl, "--time-scale", String(timeScale), "--rate-limit", String(rateLimit)],
    "--quiet",
    ...extra,
  ];
}

/**
 * The rows whose POST's answer the killed process had recorded (an `enrichment.accepted` in the
 * log): those were never on the wire at the kill, whatever the provider's side saw.
 */
async function rowsRecordedAccepted(dir: string): Promise<Set<string>> {
  const store = await openStore(join(dir, "events.db"));
  try {
    const events = await store.read();
    const accepted = new Set(
      events
        .filter((event) => event.type === "enrichment.accepted")
        .map((event) => EVENT_SCHEMAS["enrichment.accepted"].parse(event.data).batchId),
    );
    const rows = new Set<string>();
    for (const event of events) {
      if (event.type !== "enrichment.requested") continue;
      const requested = EVENT_SCHEMAS["enrichment.requested"].parse(event.data);
      if (!accepted.has(requested.batchId)) continue;
      for (const { contact } of requested.contacts) {
        rows.add(String((contact.custom as { row?: unknown } | undefined)?.row));
      }
    }
    return rows;
  } finally {
    await store.close();
  }
}

async function outRows(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, "out.jsonl"), "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => (JSON.parse(line) as { custom: { row: string } }).custom.row);
}

describe("the CLI killed at random points, then run again", () => {
  it("every row once in --out; nothing the provider accepted sent twice; ambiguous only what was on the wire", async () => {
    const random = seededRandom(2026);
    const points = Array.from({ length: 20 }, (_, index) => ({
      index,
      mode: index % 2 === 0 ? ("polling" as const) : ("webhook" as const),
      // Killed once the provider saw this many POSTs (of 12), a little later: before the first,
      // while batches queue behind the rate limit and the running limit, and near the end.
      afterPosts: Math.floor(random.next() * 12),
      thenMs: Math.floor(random.next() * 150),
    }));
    const outcomes: string[] = [];
    // Four kill points at a time: each has its own simulator, store and port.
    for (let start = 0; start < points.length; start += 4) {
      // Settled, not raced: a failing point must not leave the others running into cleanup.
      const settled = await Promise.allSettled(
        points.slice(start, start + 4).map((point) => crashAndRerun(point)),
      );
      for (const result of settled) {
        if (result.status === "rejected") throw result.reason;
        outcomes.push(result.value);
      }
    }
    // The kill points landed in different phases, including while batches queued.
    expect(outcomes.filter((outcome) => outcome === "killed mid-run").length).toBeGreaterThanOrEqual(12);
  }, 240_000);

  async function crashAndRerun(point: {
    index: number;
    mode: "polling" | "webhook";
    afterPosts: number;
    thenMs: number;
  }): Promise<string> {
    const { sim, posts } = await observedSimulator();
    const dir = await workspace(ROWS);
    const port = await freePort();
    const args = enrichArgs(sim, TIME_SCALE, RATE_LIMIT, [
      ...["--batch-size", "5", "--max-running", "3"],
      ...(point.mode === "webhook"
        ? ["--webhook-url", `http://127.0.0.1:${port}/hook`, "--listen", `127.0.0.1:${port}`]
        : []),
    ]);
    const env = { FULLENRICH_API_KEY: KEY };
    const first = startCli(args, { cwd: dir, env });
    const deadline = Date.now() + 20_000;
    while (posts.length < point.afterPosts && Date.now() < deadline) await sleep(2);
    await sleep(point.thenMs);
    const killAt = Date.now();
    first.child.kill("SIGKILL");
    const killed = await first.done;
    const postsAtKill = posts.length;
    const answeredInLog = await rowsRecordedAccepted(dir);

    const runs: CliRun[] = [];
    let next = args;
    for (let attempt = 0; attempt < 3; attempt++) {
      const run = await runCli(next, { cwd: dir, env, timeoutMs: 60_000 });
      runs.push(run);
      if (run.code === 0) break;
      const resubmit = /\n {2}(fullenrich-rx enrich .* --on-ambiguous resubmit)\n/.exec(run.stderr);
      expect(resubmit, `kill point ${point.index}: exit ${run.code}\n${run.stderr}`).not.toBeNull();
      next = (resubmit?.[1] ?? "").split(" ").slice(1);
    }
    const last = runs.at(-1);
    expect(last?.code, `kill point ${point.index}: ${last?.stderr}`).toBe(0);

    const story = (): string =>
      `\nposts (rows@received/answered, ms from the kill): ${posts
        .map((post) => `${post.rows[0]}@${post.receivedAt - killAt}/${(post.answeredAt ?? killAt) - killAt}`)
        .join(
          " ",
        )}\nin ${dir}\n${runs.map((run, index) => `run ${index + 2}: exit ${run.code}\n${run.stdout}${run.stderr}`).join("\n")}`;
    // Every row exactly once in --out.
    const rows = await outRows(dir);
    expect(rows.length, `kill point ${point.index}${story()}`).toBe(ROWS);
    expect(new Set(rows).size).toBe(ROWS);

    // Contacts sent twice were reported ambiguous; ambiguous ones were on the wire at the kill.
    const reported = new Set(runs.flatMap((run) => ambiguousRows(run.stderr)));
    const sends = new Map<string, number>();
    for (const post of posts) for (const row of post.rows) sends.set(row, (sends.get(row) ?? 0) + 1);
    for (const [row, count] of sends) {
      if (count > 1) {
        expect(reported.has(row), `kill point ${point.index}: row ${row} sent ${count} times${story()}`).toBe(
          true,
        );
      }
    }
    for (const row of reported) {
      const before = posts.slice(0, postsAtKill).filter((post) => post.rows.includes(row));
      // Either a POST on the wire at the kill (no answer yet, or answered before the process could
      // record it: the log the killed process left holds no acceptance of it), or none at all
      // (killed between recording the request and sending it).
      expect(
        answeredInLog.has(row),
        `kill point ${point.index}: row ${row} reported ambiguous${story()}`,
      ).toBe(false);
      expect(before.length).toBeLessThanOrEqual(1);
    }
    expect(sim.simulator.counters().rateLimited, `kill point ${point.index}`).toBe(0);
    return killed.signal === "SIGKILL" && postsAtKill > 0 && postsAtKill < ROWS / 5
      ? "killed mid-run"
      : "other";
  }
});

describe("the budget of a process killed mid-window", () => {
  it("a rerun at once stays inside the account's limit: no window over it, no 429", async () => {
    const limit = 30;
    const { sim, posts } = await observedSimulator(limit, 0.02);
    const dir = await workspace(40);
    // One contact a batch: 40 POSTs, more than a window allows; 60 s windows last 1.2 s here.
    const args = enrichArgs(sim, 0.02, limit, ["--batch-size", "1"]);
    const env = { FULLENRICH_API_KEY: KEY };
    const first = startCli(args, { cwd: dir, env });
    const deadline = Date.now() + 20_000;
    while (posts.length < 21 && Date.now() < deadline) await sleep(2);
    first.child.kill("SIGKILL");
    await first.done;
    expect(posts.length).toBeGreaterThanOrEqual(21);
    expect(posts.length).toBeLessThanOrEqual(limit);
    let rerun = await runCli(args, { cwd: dir, env, timeoutMs: 60_000 });
    // Killed while a POST was on the wire: reported ambiguous; its command sends it again.
    const resubmit = /\n {2}fullenrich-rx (enrich .* --on-ambiguous resubmit)\n/.exec(rerun.stderr);
    if (rerun.code === 1 && resubmit) {
      rerun = await runCli((resubmit[1] ?? "").split(" "), { cwd: dir, env, timeoutMs: 60_000 });
    }
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(new Set(await outRows(dir)).size).toBe(40);
    expect(sim.simulator.counters().rateLimited).toBe(0);
    expect(sim.simulator.counters().busiestWindow).toBeLessThanOrEqual(limit);
  }, 60_000);
});

describe("webhook mode: a POST whose answer is lost (the provider started it, then dropped the connection)", () => {
  /** A webhook-mode run of 15 rows in batches of `batchSize`; the provider drops the answer to the first POST. */
  async function lostAnswer(batchSize = 5, timeScale = TIME_SCALE) {
    const { sim, posts } = await observedSimulator(RATE_LIMIT, timeScale, {
      dropAnswerAfterStart: ({ ordinal }) => ordinal === 0,
    });
    const dir = await workspace(15);
    const port = await freePort();
    const hook = [`--webhook-url`, `http://127.0.0.1:${port}/hook`, "--listen", `127.0.0.1:${port}`];
    const args = enrichArgs(sim, timeScale, RATE_LIMIT, ["--batch-size", String(batchSize), ...hook]);
    return { sim, posts, dir, args, env: { FULLENRICH_API_KEY: KEY } };
  }

  async function expectSettledOnce(dir: string, posts: ObservedPost[], rows: number): Promise<void> {
    const out = await outRows(dir);
    expect(out).toHaveLength(rows);
    expect(new Set(out).size).toBe(rows);
    // Nothing was POSTed twice: the lost answer's batch was adopted from its webhook.
    const sent = posts.flatMap((post) => post.rows);
    expect(new Set(sent).size).toBe(sent.length);
  }

  it("the process alive: the batch is adopted from its webhook; exit 0, nothing resubmitted", async () => {
    const { posts, dir, args, env } = await lostAnswer();
    const run = await runCli(args, { cwd: dir, env, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    await expectSettledOnce(dir, posts, 15);
    expect(posts).toHaveLength(3);
  }, 60_000);

  // A provider minute lasts 2.4 s here: long enough for a CLI to start within the retries, even on
  // a loaded machine (at 1.2 s a start slowed by other work could miss the last retry).
  const scale = 0.04;
  for (const [label, downMs] of [
    ["rerun at once", 0],
    ["rerun three provider minutes later: adopted from a webhook retry", 3 * 60_000 * scale],
  ] as const) {
    it(`killed right after the lost answer, ${label}`, async () => {
      // One batch: the kill lands after its POST was answered (and the answer dropped), never while
      // another batch is between its record and its request.
      const { sim, posts, dir, args, env } = await lostAnswer(15, scale);
      const first = startCli(args, { cwd: dir, env });
      const deadline = Date.now() + 20_000;
      while (posts.length < 1 && Date.now() < deadline) await sleep(2);
      await sleep(20);
      first.child.kill("SIGKILL");
      await first.done;
      // Down while the batch finishes: its webhook fails, and the provider retries it every minute.
      await sleep(downMs);
      const rerun = await runCli(args, { cwd: dir, env, timeoutMs: 60_000 });
      expect(rerun.code, rerun.stderr).toBe(0);
      await expectSettledOnce(dir, posts, 15);
      const batchWebhooks = sim.simulator.deliveries().filter((d) => d.kind === "batch");
      if (downMs > 0) expect(batchWebhooks.some((d) => d.outcome === "error")).toBe(true);
    }, 60_000);
  }
});
