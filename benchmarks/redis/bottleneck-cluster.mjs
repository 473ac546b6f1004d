// Experiment: can bottleneck's own Redis clustering (datastore "ioredis") share one rate limit
// between processes, on the local Redis 7? Run with Redis up (REDIS_URL, default
// redis://127.0.0.1:6379):
//
//   node benchmarks/redis/bottleneck-cluster.mjs
//
// It runs two child processes sharing one bottleneck cluster (a fresh id per run, keys deleted
// at the end) and checks:
//   (a) it works at all: the limiter connects, loads its Lua scripts and runs jobs;
//   (b) whether any sliding window holds more calls than the budget, with the settings one would
//       use for "L calls per window" — a reservoir of L refreshed every window (+ maxConcurrent L;
//       with the default heartbeat, then with a 50 ms one), and minTime = window / L — counting a call in every window that meets its [start, end]
//       (the provider may see it anywhere in between), like our WindowBudget's guarantee;
//   (c) whether jobs get stuck after a process is SIGKILLed while running a job: with
//       maxConcurrent 1, process A starts a long job and is killed; can process B still run one?
//       Once without and once with a job `expiration`.
// Prints a JSON report and writes benchmarks/results/bottleneck-cluster.json.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Bottleneck from "bottleneck";
import Redis from "ioredis";

const here = fileURLToPath(import.meta.url);
const resultsFile = join(dirname(here), "..", "results", "bottleneck-cluster.json");
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const LIMIT = 5;
const WINDOW_MS = 1_000;

function clientOptions() {
  const url = new URL(redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    maxRetriesPerRequest: 2,
  };
}

const settings = {
  reservoir: {
    maxConcurrent: LIMIT,
    reservoir: LIMIT,
    reservoirRefreshAmount: LIMIT,
    reservoirRefreshInterval: WINDOW_MS,
  },
  // The reservoir is only refreshed when a script runs in Redis (a submit, or the heartbeat, every
  // 5 s by default): the same, with a heartbeat well under the window.
  reservoirFastHeartbeat: {
    maxConcurrent: LIMIT,
    reservoir: LIMIT,
    reservoirRefreshAmount: LIMIT,
    reservoirRefreshInterval: WINDOW_MS,
    heartbeatInterval: 50,
  },
  minTime: { minTime: WINDOW_MS / LIMIT },
  single: { maxConcurrent: 1 },
};

function limiterFor(id, kind) {
  return new Bottleneck({
    id,
    datastore: "ioredis",
    clientOptions: clientOptions(),
    clearDatastore: false,
    timeout: 60_000,
    ...settings[kind],
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForGo() {
  return new Promise((resolve) => {
    process.on("message", (message) => {
      if (message === "go") resolve();
    });
    process.send("ready");
  });
}

// ---------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------

async function childLoad(id, kind, jobs) {
  const limiter = limiterFor(id, kind);
  limiter.on("error", (error) => process.stderr.write(`limiter error: ${error?.message ?? error}\n`));
  await limiter.ready();
  await waitForGo();
  const calls = [];
  await Promise.all(
    Array.from({ length: jobs }, (_, n) =>
      limiter.schedule(async () => {
        const start = Date.now();
        await sleep(20 + ((n * 37) % 120));
        calls.push({ start, end: Date.now() });
      }),
    ),
  );
  process.stdout.write(`${JSON.stringify({ calls })}\n`);
  await limiter.disconnect(true);
}

async function childHold(id, expiration) {
  const limiter = limiterFor(id, "single");
  await limiter.ready();
  const options = expiration > 0 ? { expiration } : {};
  void limiter.schedule(options, async () => {
    process.stdout.write("running\n");
    await sleep(60_000);
  });
  await sleep(120_000);
}

async function childProbe(id, waitMs) {
  const limiter = limiterFor(id, "single");
  await limiter.ready();
  const start = Date.now();
  const ran = limiter.schedule(async () => Date.now() - start);
  const outcome = await Promise.race([ran, sleep(waitMs).then(() => "stuck")]);
  process.stdout.write(`${JSON.stringify({ outcome, counts: limiter.counts() })}\n`);
  await limiter.disconnect(false);
}

// ---------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------

function start(args) {
  const child = fork(here, args, { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const lines = [];
  const stderr = [];
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => stderr.push(chunk));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  const ready = new Promise((resolve) => child.on("message", (message) => message === "ready" && resolve()));
  return { child, lines, stderr, exited, ready };
}

async function until(predicate, ms) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** The most calls whose [start, end] meets one window (as in test/api/limiter.test.ts). */
function worstWindow(calls, windowMs) {
  let worst = 0;
  for (const from of calls.flatMap((c) => [c.start, c.end, c.end - windowMs + 1, c.start - windowMs + 1])) {
    const to = from + windowMs;
    worst = Math.max(worst, calls.filter((c) => c.start < to && c.end >= from).length);
  }
  return worst;
}

/** The most call starts in one window. */
function worstStarts(calls, windowMs) {
  let worst = 0;
  for (const { start: from } of calls) {
    worst = Math.max(worst, calls.filter((c) => c.start >= from && c.start < from + windowMs).length);
  }
  return worst;
}

async function loadScenario(kind, jobsPerProcess) {
  const id = `fxrx-exp-${randomBytes(4).toString("hex")}`;
  const children = [0, 1].map(() => start(["load", id, kind, String(jobsPerProcess)]));
  const began = Date.now();
  try {
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.send("go");
    const finished = await Promise.race([
      Promise.all(children.map((c) => c.exited)),
      sleep(60_000).then(() => "timeout"),
    ]);
    if (finished === "timeout") {
      return { kind, works: false, error: "timed out", stderr: children.flatMap((c) => c.stderr) };
    }
    const calls = children.flatMap((c) => JSON.parse(c.lines[0] ?? '{"calls":[]}').calls);
    return {
      kind,
      settings: settings[kind],
      works: calls.length === 2 * jobsPerProcess,
      calls: calls.length,
      elapsedMs: Date.now() - began,
      budget: LIMIT,
      windowMs: WINDOW_MS,
      worstSlidingWindow: worstWindow(calls, WINDOW_MS),
      worstStartsPerWindow: worstStarts(calls, WINDOW_MS),
      stderr: children
        .flatMap((c) => c.stderr)
        .join("")
        .slice(0, 500),
    };
  } finally {
    for (const c of children) c.child.kill("SIGKILL");
    await deleteKeys(id);
  }
}

async function crashScenario(expiration) {
  const id = `fxrx-exp-${randomBytes(4).toString("hex")}`;
  const holder = start(["hold", id, String(expiration)]);
  try {
    const running = await until(() => holder.lines.includes("running"), 15_000);
    if (!running) return { expiration, error: "the holder never ran", stderr: holder.stderr.join("") };
    holder.child.kill("SIGKILL");
    await holder.exited;
    const probe = start(["probe", id, "8000"]);
    await Promise.race([probe.exited, sleep(15_000)]);
    probe.child.kill("SIGKILL");
    const report = JSON.parse(probe.lines[0] ?? "{}");
    return {
      expiration: expiration || null,
      probeOutcome:
        report.outcome === "stuck" ? "stuck: not run within 8 s" : `ran after ${report.outcome} ms`,
      stderr: probe.stderr.join("").slice(0, 500),
    };
  } finally {
    holder.child.kill("SIGKILL");
    await deleteKeys(id);
  }
}

async function deleteKeys(id) {
  const redis = new Redis(clientOptions());
  try {
    const keys = await redis.keys(`b_${id}_*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

async function parent() {
  const redis = new Redis(clientOptions());
  const info = await redis.info("server");
  redis.disconnect();
  const version = /redis_version:(\S+)/.exec(info)?.[1];
  const report = {
    redisVersion: version,
    bottleneckVersion: Bottleneck.version,
    load: [
      await loadScenario("reservoir", 20),
      await loadScenario("reservoirFastHeartbeat", 20),
      await loadScenario("minTime", 10),
    ],
    crash: [await crashScenario(0), await crashScenario(2_000)],
  };
  const text = JSON.stringify(report, null, 2);
  process.stdout.write(`${text}\n`);
  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${text}\n`);
}

const [mode, ...args] = process.argv.slice(2);
const run =
  mode === "load"
    ? () => childLoad(args[0], args[1], Number(args[2]))
    : mode === "hold"
      ? () => childHold(args[0], Number(args[1]))
      : mode === "probe"
        ? () => childProbe(args[0], Number(args[1]))
        : parent;
run().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
