// The long-run benchmark (issue 16): start time, memory and a small enrich as the log grows.
//
//   npm run build && node benchmarks/long-run/run.mjs [--sizes 0,100000,1000000] [--dir /tmp/fxr-long-run]
//
// For each size: a SQLite log filled with that many settled contacts (fill-log.mjs, not timed
// here), then, each in a fresh process: the first engine start (no snapshot yet: the whole log is
// replayed, and the snapshot written at close), a second start (from the snapshot), a lookup of
// 10 000 contact identities by tag, and the CLI enriching 5 new contacts against the simulator (the
// simulator in this process, time scale 0.01). Writes benchmarks/results/long-run.json.
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startSimulator } from "../../dist/simulator/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : process.argv[index + 1];
}
const sizes = option("--sizes", "0,100000,1000000").split(",").map(Number);
const dir = option("--dir", "/tmp/fxr-long-run");
mkdirSync(dir, { recursive: true });

// Asynchronous: the simulator answers from this process meanwhile.
const run = promisify(execFile);
const node = async (args, options = {}) =>
  (await run(process.execPath, args, { cwd: root, encoding: "utf8", maxBuffer: 1 << 26, ...options })).stdout;
const json = (text) => JSON.parse(text.trim().split("\n").at(-1));

const sim = await startSimulator({ apiKeys: ["bench"], timeScale: 0.01, seed: 16 });
const rows = [];
for (const size of sizes) {
  const store = join(dir, `log-${size}.db`);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(store + suffix, { force: true });
  const fill = json(
    await node(["benchmarks/long-run/fill-log.mjs", "--contacts", String(size), "--store", store]),
  );
  const first = json(await node(["benchmarks/long-run/measure.mjs", "start", store]));
  const second = json(await node(["benchmarks/long-run/measure.mjs", "start", store]));
  const lookup =
    size === 0 ? null : json(await node(["benchmarks/long-run/measure.mjs", "lookup", store, "10000"]));
  // The CLI on this log: 5 contacts never sent before.
  const work = join(dir, `work-${size}`);
  mkdirSync(work, { recursive: true });
  writeFileSync(
    join(work, "five.csv"),
    `first_name,last_name,domain\n${Array.from({ length: 5 }, (_, i) => `New${i},Person${i},fresh${i}.example`).join("\n")}\n`,
  );
  const times = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = performance.now();
    await node(
      [
        "dist/cli/main.js",
        "enrich",
        "--input",
        join(work, "five.csv"),
        "--out",
        join(work, "out.jsonl"),
        "--store",
        store,
        "--base-url",
        sim.baseUrl,
        "--time-scale",
        "0.01",
        "--quiet",
        "--refresh",
      ],
      { env: { ...process.env, FULLENRICH_API_KEY: "bench" } },
    );
    times.push(performance.now() - started);
  }
  const enrichMs = times.sort((a, b) => a - b)[1];
  const row = {
    size,
    events: fill.events,
    fillSeconds: fill.seconds,
    firstStart: first,
    start: second,
    lookup,
    enrichMs,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
await sim.close();

const machine = `${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version}`;
writeFileSync(
  join(root, "benchmarks/results/long-run.json"),
  `${JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2)}\n`,
);
console.log(
  "\n| settled contacts | events | first start (replay), RSS | start from snapshot, RSS | 10 000 lookups | 5-contact enrich (CLI) |",
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(
    `| ${row.size.toLocaleString("en")} | ${row.events.toLocaleString("en")} | ${(row.firstStart.startMs / 1000).toFixed(2)} s, ${row.firstStart.peakRssMb} MB | ${(row.start.startMs / 1000).toFixed(2)} s, ${row.start.peakRssMb} MB | ${row.lookup ? `${row.lookup.lookupMs.toFixed(0)} ms (${row.lookup.found} found)` : "—"} | ${(row.enrichMs / 1000).toFixed(2)} s |`,
  );
}
console.log(`\n${machine}`);
