// Benchmark: single-event appends per second across several writer processes on one PostgreSQL
// store (the compiled store: run `npm run build` first).
//
//   node benchmarks/store/pg-writers-bench.mjs [--writers 4] [--seconds 10] [--in-flight 1,4,16]
//                                              [--repeat 3] [--stream shared|own] [--out <file>]
//
// For each in-flight level, starts `--writers` child processes on a fresh schema; each opens its
// own PostgresEventStore and, for `--seconds`, keeps that many `append` calls in flight, each
// carrying one event with its own dedup key, all to the stream `deliveries` (`--stream shared`,
// as the webhook receivers do) or each process to its own stream (`--stream own`). In-flight 1 is
// "one by one": each process awaits every append before the next. Afterwards the parent reads the
// whole log back and checks it: every acknowledged event stored once, positions increasing, each
// process's events in the order it appended them. Each level runs `--repeat` times (levels taken in
// turn); the table shows the run with the median rate. PostgreSQL comes from DATABASE_URL (default the
// local `test` database). Prints a table and writes benchmarks/results/store-pg-writers.json.
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { PostgresEventStore } from "../../dist/events/stores/index.js";

const here = dirname(fileURLToPath(import.meta.url));

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : process.argv[index + 1];
}

const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function urlWithSchema(schema) {
  const url = new URL(databaseUrl);
  url.searchParams.set("schema", schema);
  return url.toString();
}

async function child() {
  const [url, id, secondsText, inFlightText, streamMode] = process.argv.slice(3);
  const store = await PostgresEventStore.open(url);
  const stream = streamMode === "own" ? `writer-${id}` : "deliveries";
  await new Promise((resolve) => {
    process.once("message", resolve);
    process.send?.("ready");
  });
  const deadline = performance.now() + Number(secondsText) * 1000;
  let seq = 0;
  let appended = 0;
  const latencies = [];
  const lane = async () => {
    while (performance.now() < deadline) {
      const n = seq;
      seq += 1;
      const started = performance.now();
      const result = await store.append(stream, [
        { type: "webhook.received", version: 1, data: { writer: id, seq: n }, dedupKey: `w${id}-${n}` },
      ]);
      latencies.push(performance.now() - started);
      appended += result.appended.length;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Number(inFlightText) }, lane));
  const seconds = (performance.now() - started) / 1000;
  const { transactions } = store.diagnostics();
  await store.close();
  latencies.sort((a, b) => a - b);
  process.send?.({
    id,
    appended,
    seconds,
    transactions,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  });
}

async function run(writers, seconds, inFlight, streamMode) {
  const schema = `fxrx_bench_w_${process.pid}_${inFlight}_${Date.now().toString(36)}`;
  const url = urlWithSchema(schema);
  const setup = await PostgresEventStore.open(url);
  await setup.close();
  const children = Array.from({ length: writers }, (_, index) =>
    fork(
      fileURLToPath(import.meta.url),
      ["--child", url, String(index), String(seconds), String(inFlight), streamMode],
      {
        execArgv: [],
      },
    ),
  );
  const reports = children.map(
    (process) =>
      new Promise((resolve, reject) => {
        process.on("message", (message) => {
          if (typeof message === "object") resolve(message);
        });
        process.once("exit", (code) => {
          if (code !== 0) reject(new Error(`writer exited with ${code}`));
        });
      }),
  );
  await Promise.all(
    children.map(
      (process) =>
        new Promise((resolve) => process.once("message", (message) => message === "ready" && resolve())),
    ),
  );
  for (const process of children) process.send("go");
  const results = await Promise.all(reports);

  // Check the log: every acknowledged event once, positions increasing, each writer's order kept.
  const reader = await PostgresEventStore.open(url);
  const all = await reader.read();
  await reader.close();
  const appended = results.reduce((sum, result) => sum + result.appended, 0);
  const problems = [];
  if (all.length !== appended) problems.push(`${all.length} events stored, ${appended} acknowledged`);
  for (let i = 1; i < all.length; i += 1) {
    if (all[i].position <= all[i - 1].position) problems.push(`positions not increasing at ${i}`);
  }
  const lastSeq = new Map();
  for (const event of all) {
    const { writer, seq } = event.data;
    if (seq <= (lastSeq.get(writer) ?? -1)) problems.push(`writer ${writer} out of order at seq ${seq}`);
    lastSeq.set(writer, seq);
  }
  const head = all.at(-1)?.position ?? 0;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
  const wallSeconds = Math.max(...results.map((result) => result.seconds));
  return {
    writers,
    inFlightPerWriter: inFlight,
    stream: streamMode,
    appends: appended,
    seconds: wallSeconds,
    appendsPerSecond: appended / wallSeconds,
    transactions: results.reduce((sum, result) => sum + result.transactions, 0),
    p50LatencyMs: Math.max(...results.map((result) => result.p50)),
    p99LatencyMs: Math.max(...results.map((result) => result.p99)),
    positionGaps: head - all.length,
    problems: problems.slice(0, 5),
  };
}

async function main() {
  const writers = Number(option("--writers", 4));
  const seconds = Number(option("--seconds", 10));
  const levels = option("--in-flight", "1,4,16").split(",").map(Number);
  const repeat = Number(option("--repeat", 3));
  const streamMode = option("--stream", "shared");
  const out = option("--out", join(here, "..", "results", "store-pg-writers.json"));
  const samples = new Map(levels.map((level) => [level, []]));
  for (let round = 0; round < repeat; round += 1) {
    for (const inFlight of levels)
      samples.get(inFlight).push(await run(writers, seconds, inFlight, streamMode));
  }
  const runs = levels.map((level) => {
    const sorted = [...samples.get(level)].sort((a, b) => a.appendsPerSecond - b.appendsPerSecond);
    return {
      ...sorted[Math.floor(sorted.length / 2)],
      allAppendsPerSecond: samples.get(level).map((sample) => Math.round(sample.appendsPerSecond)),
      problems: samples.get(level).flatMap((sample) => sample.problems),
    };
  });
  const rows = [
    [
      "writers",
      "in flight each",
      "stream",
      "appends",
      "appends/s (median)",
      "all runs",
      "txns",
      "p50 ms",
      "p99 ms",
      "gaps",
      "check",
    ],
    ...runs.map((r) => [
      r.writers,
      r.inFlightPerWriter,
      r.stream,
      r.appends,
      Math.round(r.appendsPerSecond),
      r.allAppendsPerSecond.join(" / "),
      r.transactions,
      r.p50LatencyMs.toFixed(2),
      r.p99LatencyMs.toFixed(2),
      r.positionGaps,
      r.problems.length === 0 ? "ok" : r.problems.join("; "),
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  for (const row of rows)
    console.log(row.map((cell, column) => String(cell).padEnd(widths[column])).join("  "));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const settings = await client.query(
    "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'synchronous_commit', 'fsync', 'commit_delay')",
  );
  await client.end();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? "unknown",
        postgres: Object.fromEntries(settings.rows.map((row) => [row.name, row.setting])),
        secondsPerRun: seconds,
        repeat,
        runs,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${out}`);
}

if (process.argv[2] === "--child") {
  child().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  await main();
}
