// A child process for the event stores' multi-process tests. Plain ESM on purpose: it imports the
// COMPILED stores from dist/ (the test command builds first), so no TypeScript loader is needed.
// <path> is a SQLite file, or a postgres:// URL (with a ?schema= parameter) for the PostgreSQL store.
//
//   node store-child.mjs writer <path> <id> <count> <batchSize> <inFlight> <sharedKey> <pauseMs>
//     waits for "go" on the IPC channel, appends <count> events {proc, seq} in batches of
//     <batchSize>, keeping <inFlight> appends in flight (issued in order, pausing <pauseMs> after
//     each; after its first batch it waits until another process has written), then tries one
//     event with dedup key <sharedKey>; prints one JSON line
//     {id, appended, sharedAppended, sharedPosition}.
//   node store-child.mjs crash <path> <maxK> <lanes>
//     appends batches forever; batch b has k = 1 + (b % maxK) events {batch, k, i}; prints
//     "ack <b>" only after the append of batch b resolved. Meant to be killed.
//   node store-child.mjs trickle <path> <count> <delayMs>
//     appends <count> single events {n} with <delayMs> between them, prints "done".
//   node store-child.mjs append-one <path> <stream> <type> <label> [dedupKey]
//     appends one event {label} of <type> (with <dedupKey>), prints "ack <position>" (or
//     "duplicate <position>"), then exits.
//   node store-child.mjs natural <path>
//     opens, appends one event, awaits close() and prints "closed", then lets the process end by
//     itself (no process.exit): an awaited close() must complete even with nothing else to do.
import { PostgresEventStore, SqliteEventStore } from "../../dist/events/stores/index.js";

const [mode, path, ...args] = process.argv.slice(2);

/** The store at `path`: PostgreSQL for a postgres:// URL, else SQLite with `sqliteOptions`. */
function open(sqliteOptions = {}) {
  return /^postgres(ql)?:\/\//.test(path)
    ? PostgresEventStore.open(path)
    : SqliteEventStore.open(path, sqliteOptions);
}

function waitForGo() {
  if (typeof process.send !== "function") return Promise.resolve();
  return new Promise((resolve) => {
    process.on("message", (message) => {
      if (message === "go") resolve();
    });
    process.send("ready");
  });
}

async function writer() {
  const [id, countText, batchText, inFlightText, sharedKey, pauseText] = args;
  const pauseMs = Number(pauseText ?? 0);
  const count = Number(countText);
  const batchSize = Number(batchText);
  const inFlight = Number(inFlightText);
  const store = await open({ checkpointIntervalMs: 50 });
  await waitForGo();
  const pending = new Set();
  let appended = 0;
  let barrier = true;
  for (let seq = 0; seq < count; seq += batchSize) {
    const events = [];
    for (let n = seq; n < Math.min(count, seq + batchSize); n += 1) {
      events.push({ type: "child.wrote", version: 1, data: { proc: id, seq: n }, dedupKey: `${id}-${n}` });
    }
    const promise = store.append(`proc-${id}`, events).then((result) => {
      appended += result.appended.length;
    });
    pending.add(promise);
    promise.finally(() => pending.delete(promise));
    if (barrier) {
      // Barrier through the store itself: after our first commit, wait until another process has
      // written too, so that the two writers certainly overlap.
      barrier = false;
      await promise;
      const deadline = Date.now() + 10_000;
      while ((await store.head()) <= appended) {
        if (Date.now() > deadline) throw new Error("the other writer never wrote");
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    if (pending.size >= inFlight) await Promise.race(pending);
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  await Promise.all(pending);
  const shared = await store.append(`proc-${id}`, [
    { type: "child.shared", version: 1, data: { proc: id }, dedupKey: sharedKey },
  ]);
  const sharedPosition = shared.appended[0]?.position ?? shared.duplicates[0]?.position;
  await store.close();
  process.stdout.write(
    `${JSON.stringify({ id, appended, sharedAppended: shared.appended.length === 1, sharedPosition })}\n`,
  );
}

async function crash() {
  const [maxKText, lanesText] = args;
  const maxK = Number(maxKText);
  const lanes = Number(lanesText);
  const store = await open({ durability: "full", checkpointIntervalMs: 10 });
  let next = 0;
  const lane = async () => {
    for (;;) {
      const batch = next;
      next += 1;
      const k = 1 + (batch % maxK);
      const events = [];
      for (let i = 0; i < k; i += 1) {
        events.push({ type: "crash.wrote", version: 1, data: { batch, k, i }, dedupKey: `b${batch}-${i}` });
      }
      await store.append(`crash-${batch % 3}`, events);
      process.stdout.write(`ack ${batch}\n`);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

async function trickle() {
  const [countText, delayText] = args;
  const store = await open();
  await waitForGo();
  for (let n = 1; n <= Number(countText); n += 1) {
    await store.append("trickle", [{ type: "trickled", version: 1, data: { n } }]);
    await new Promise((resolve) => setTimeout(resolve, Number(delayText)));
  }
  await store.close();
  process.stdout.write("done\n");
}

async function natural() {
  const store = await open();
  await store.append("natural", [{ type: "natural", version: 1, data: {} }]);
  await store.close();
  process.stdout.write("closed\n");
}

async function appendOne() {
  const [stream, type, label, dedupKey] = args;
  const store = await open();
  const event = { type, version: 1, data: { label } };
  const result = await store.append(stream, [dedupKey === undefined ? event : { ...event, dedupKey }]);
  await store.close();
  const [appended] = result.appended;
  process.stdout.write(
    appended === undefined ? `duplicate ${result.duplicates[0]?.position}\n` : `ack ${appended.position}\n`,
  );
}

const modes = { writer, crash, trickle, natural, "append-one": appendOne };
const run = modes[mode];
if (run === undefined) {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
run().then(
  () => {
    if (mode !== "natural") process.exit(0);
  },
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
