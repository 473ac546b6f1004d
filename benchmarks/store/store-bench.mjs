// Benchmark of the SQLite event store (the compiled one: run `npm run build` first).
//
//   node benchmarks/store/store-bench.mjs [--dir <directory>] [--events <replay size>] [--quick]
//
// (a) appends/s, one event per append, awaiting each (one transaction each), synchronous=FULL;
// (b) appends/s, one event per append, 64 in flight (group commit), synchronous=FULL;
//     (both also with synchronous=NORMAL, for comparison);
// (c) replay of N events (1,000,000 by default), written first in big transactions (not timed),
//     then read back via read() pages and via subscribe(0) until caught up, each in a fresh child
//     process so that its peak RSS (getrusage maxrss) and sampled peak heap are its own.
// Prints a table and writes benchmarks/results/store.json.
import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteEventStore } from "../../dist/events/stores/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(here, "..", "results", "store.json");

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : process.argv[index + 1];
}

function payload(n) {
  return {
    requestId: `req-${Math.floor(n / 100)}`,
    contactIndex: n % 100,
    email: `person.${n}@example.com`,
    status: n % 3 === 0 ? "found" : "not_found",
    credits: n % 3 === 0 ? 1 : 0,
  };
}

function event(n) {
  return { type: "contact.enriched", version: 1, data: payload(n), dedupKey: `contact-${n}` };
}

function mb(bytes) {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

/** (a): awaits every single-event append. */
async function sequential(path, durability, count) {
  const store = await SqliteEventStore.open(path, { durability });
  const started = performance.now();
  for (let n = 0; n < count; n += 1) await store.append(`s-${n % 10}`, [event(n)]);
  const seconds = (performance.now() - started) / 1000;
  const { transactions } = store.diagnostics();
  await store.close();
  return {
    appends: count,
    seconds,
    appendsPerSecond: count / seconds,
    transactions,
    meanLatencyMs: (seconds * 1000) / count,
  };
}

/** (b): `inFlight` writers, each awaiting its own single-event appends. */
async function grouped(path, durability, count, inFlight) {
  const store = await SqliteEventStore.open(path, { durability });
  let next = 0;
  const latencies = [];
  const writer = async () => {
    while (next < count) {
      const n = next;
      next += 1;
      const started = performance.now();
      await store.append(`s-${n % 10}`, [event(n)]);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, writer));
  const seconds = (performance.now() - started) / 1000;
  const { transactions } = store.diagnostics();
  await store.close();
  latencies.sort((a, b) => a - b);
  return {
    appends: count,
    inFlight,
    seconds,
    appendsPerSecond: count / seconds,
    transactions,
    meanGroupSize: count / transactions,
    p50LatencyMs: latencies[Math.floor(latencies.length * 0.5)],
    p99LatencyMs: latencies[Math.floor(latencies.length * 0.99)],
  };
}

/** (c) setup, not timed in the results: big batches straight through the store. */
async function prefill(path, total) {
  const store = await SqliteEventStore.open(path, { durability: "normal" });
  const batch = 10_000;
  const started = performance.now();
  for (let from = 0; from < total; from += batch) {
    const events = [];
    for (let n = from; n < Math.min(total, from + batch); n += 1) events.push(event(n));
    await store.append(`stream-${(from / batch) % 50}`, events);
  }
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  return { events: total, seconds, fileMB: mb(statSync(path).size) };
}

/** Child-process side of (c). */
async function replay(mode, path) {
  let peakHeap = 0;
  const sample = () => {
    const { heapUsed } = process.memoryUsage();
    if (heapUsed > peakHeap) peakHeap = heapUsed;
  };
  const store = await SqliteEventStore.open(path, { checkpointIntervalMs: 0 });
  const head = await store.head();
  sample();
  const started = performance.now();
  let count = 0;
  let checksum = 0;
  if (mode === "read") {
    let after = 0;
    for (;;) {
      const page = await store.read({ after, limit: 1000 });
      if (page.length === 0) break;
      for (const stored of page) checksum += stored.data.contactIndex;
      count += page.length;
      after = page[page.length - 1].position;
      sample();
    }
  } else {
    await new Promise((resolve, reject) => {
      const subscription = store.subscribe(0).subscribe({
        next: (stored) => {
          checksum += stored.data.contactIndex;
          count += 1;
          if (count % 1000 === 0) sample();
          if (count === head) {
            subscription?.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
      if (head === 0) resolve();
    });
  }
  const seconds = (performance.now() - started) / 1000;
  sample();
  await store.close();
  const peakRss = process.resourceUsage().maxRSS * 1024;
  return {
    mode,
    events: count,
    checksum,
    seconds,
    eventsPerSecond: count / seconds,
    peakRssMB: mb(peakRss),
    peakHeapMB: mb(peakHeap),
  };
}

function runChild(mode, path) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--child", mode, path], { execArgv: [] });
    child.once("message", resolve);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`replay child (${mode}) exited with ${code}`));
    });
  });
}

async function main() {
  const quick = process.argv.includes("--quick");
  const replayEvents = Number(option("--events", quick ? 100_000 : 1_000_000));
  const sequentialCount = quick ? 300 : 2_000;
  const groupedCount = quick ? 5_000 : 50_000;
  const base = option("--dir", tmpdir());
  mkdirSync(base, { recursive: true });
  const directory = mkdtempSync(join(base, "fullenrich-rx-bench-"));
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    directory: base,
    appends: {},
    replay: {},
  };
  try {
    for (const durability of ["full", "normal"]) {
      results.appends[`sequential-${durability}`] = await sequential(
        join(directory, `seq-${durability}.db`),
        durability,
        sequentialCount,
      );
      results.appends[`grouped64-${durability}`] = await grouped(
        join(directory, `grouped-${durability}.db`),
        durability,
        groupedCount,
        64,
      );
    }
    const replayPath = join(directory, "replay.db");
    results.replay.prefill = await prefill(replayPath, replayEvents);
    results.replay.read = await runChild("read", replayPath);
    results.replay.subscribe = await runChild("subscribe", replayPath);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }

  const rows = [
    ["benchmark", "ops", "seconds", "ops/s", "notes"],
    ...Object.entries(results.appends).map(([name, r]) => [
      name,
      r.appends,
      r.seconds.toFixed(2),
      Math.round(r.appendsPerSecond),
      r.meanGroupSize === undefined
        ? `${r.transactions} txns, mean ${r.meanLatencyMs.toFixed(2)} ms`
        : `${r.transactions} txns, ${r.meanGroupSize.toFixed(1)}/txn, p50 ${r.p50LatencyMs.toFixed(2)} ms, p99 ${r.p99LatencyMs.toFixed(2)} ms`,
    ]),
    [
      "replay prefill (untimed)",
      results.replay.prefill.events,
      results.replay.prefill.seconds.toFixed(2),
      Math.round(results.replay.prefill.events / results.replay.prefill.seconds),
      `file ${results.replay.prefill.fileMB} MB`,
    ],
    ...["read", "subscribe"].map((mode) => {
      const r = results.replay[mode];
      return [
        `replay ${mode === "read" ? "read() pages of 1000" : "subscribe(0)"}`,
        r.events,
        r.seconds.toFixed(2),
        Math.round(r.eventsPerSecond),
        `peak RSS ${r.peakRssMB} MB, peak heap ${r.peakHeapMB} MB`,
      ];
    }),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  for (const row of rows) {
    console.log(row.map((cell, column) => String(cell).padEnd(widths[column])).join("  "));
  }
  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${resultsFile}`);
}

if (process.argv[2] === "--child") {
  replay(process.argv[3], process.argv[4]).then(
    (result) => {
      process.send?.(result);
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  await main();
}
