// Benchmark of readByTags on a large log (the compiled stores: run `npm run build` first).
//
//   node benchmarks/store/tags-bench.mjs [--events 1000000] [--tags 10000] [--only sqlite,postgres]
//                                        [--dir <directory>] [--runs 5]
//
// Fills each store with N events (not timed in the results), each carrying two tags as the engine
// tags its events: `job:<j>` (100 events per job) and `identity:<i>` (one per event). Then, in the
// same process, times readByTags for:
//   - `--tags` identity tags at once, drawn at random (each finds one event);
//   - one job tag (100 events);
//   - `--tags` tags that match nothing.
// Each lookup runs `--runs` times; the table shows the median and the best. PostgreSQL uses
// DATABASE_URL (default the local `test` database) and a schema of its own, dropped at the end.
// Prints a table and writes benchmarks/results/store-tags.json.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { PostgresEventStore, SqliteEventStore } from "../../dist/events/stores/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(here, "..", "results", "store-tags.json");

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : process.argv[index + 1];
}

const totalEvents = Number(option("--events", 1_000_000));
const tagCount = Number(option("--tags", 10_000));
const runs = Number(option("--runs", 5));
const only = option("--only", "sqlite,postgres").split(",");
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function event(n) {
  return {
    type: n % 10 === 0 ? "enrichment.requested" : "contact.resolved",
    version: 1,
    data: { contact: n, email: `person.${n}@example.com`, status: n % 3 === 0 ? "found" : "not_found" },
    dedupKey: `contact-${n}`,
    tags: [`job:${Math.floor(n / 100)}`, `identity:${n}`],
  };
}

/** A deterministic pseudo-random sequence (mulberry32), so both stores look up the same tags. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function prefill(store, batch) {
  const started = performance.now();
  for (let from = 0; from < totalEvents; from += batch) {
    const events = [];
    for (let n = from; n < Math.min(totalEvents, from + batch); n += 1) events.push(event(n));
    await store.append(`stream-${(from / batch) % 50}`, events);
  }
  return (performance.now() - started) / 1000;
}

async function time(label, run) {
  const samples = [];
  let found = 0;
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    found = (await run()).length;
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { lookup: label, found, medianMs: samples[Math.floor(samples.length / 2)], bestMs: samples[0] };
}

async function lookups(store) {
  const next = random(42);
  const identities = Array.from({ length: tagCount }, () => `identity:${Math.floor(next() * totalEvents)}`);
  const missing = Array.from({ length: tagCount }, (_, i) => `identity:none-${i}`);
  const jobTag = `job:${Math.floor(totalEvents / 200)}`;
  return [
    await time(`${tagCount} identity tags`, () => store.readByTags(identities)),
    await time(`${tagCount} identity tags, types filter`, () =>
      store.readByTags(identities, { types: ["contact.resolved"] }),
    ),
    await time("1 job tag (100 events)", () => store.readByTags([jobTag])),
    await time(`${tagCount} tags matching nothing`, () => store.readByTags(missing)),
  ];
}

async function sqlite(directory) {
  const path = join(directory, "tags.db");
  const store = await SqliteEventStore.open(path, { durability: "normal" });
  const prefillSeconds = await prefill(store, 10_000);
  const results = await lookups(store);
  await store.close();
  return { prefillSeconds, fileMB: Math.round(statSync(path).size / 1024 / 1024), lookups: results };
}

async function postgres() {
  const schema = `fxrx_bench_tags_${process.pid}`;
  const url = new URL(databaseUrl);
  url.searchParams.set("schema", schema);
  const store = await PostgresEventStore.open(url.toString());
  try {
    const prefillSeconds = await prefill(store, 5_000);
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`ANALYZE "${schema}".events; ANALYZE "${schema}".tags`);
    const size = await admin.query(
      `SELECT (pg_total_relation_size('"${schema}".events') + pg_total_relation_size('"${schema}".tags'))::bigint AS bytes`,
    );
    await admin.end();
    const results = await lookups(store);
    return { prefillSeconds, sizeMB: Math.round(Number(size.rows[0].bytes) / 1024 / 1024), lookups: results };
  } finally {
    await store.close();
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

const base = option("--dir", tmpdir());
mkdirSync(base, { recursive: true });
const directory = mkdtempSync(join(base, "fullenrich-rx-tags-"));
const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  events: totalEvents,
  tagsPerEvent: 2,
  runs,
  stores: {},
};
try {
  if (only.includes("sqlite")) results.stores.sqlite = await sqlite(directory);
  if (only.includes("postgres")) results.stores.postgres = await postgres();
} finally {
  rmSync(directory, { recursive: true, force: true });
}

const rows = [["store", "lookup", "events found", "median ms", "best ms"]];
for (const [name, store] of Object.entries(results.stores)) {
  for (const lookup of store.lookups) {
    rows.push([name, lookup.lookup, lookup.found, lookup.medianMs.toFixed(1), lookup.bestMs.toFixed(1)]);
  }
}
const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
for (const row of rows)
  console.log(row.map((cell, column) => String(cell).padEnd(widths[column])).join("  "));
for (const [name, store] of Object.entries(results.stores)) {
  console.log(
    `${name}: prefill of ${totalEvents} events in ${store.prefillSeconds.toFixed(1)} s (not timed above)`,
  );
}
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${resultsFile}`);
