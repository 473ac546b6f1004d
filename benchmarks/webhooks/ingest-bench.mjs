#!/usr/bin/env node
// Webhook ingest benchmark: deliveries per second and latency of
//   (a) a bare node:http server that reads the body and answers 200,
//   (b) fullenrich-rx's WebhookReceiver (HMAC-SHA1 check, durable append of the delivery as it came
//       to a SqliteEventStore with synchronous=FULL in a temp file, then 200; JSON parsing and
//       schema validation follow the answer, and their outcomes are appended too),
//   (c) @octokit/webhooks' node middleware (HMAC-SHA256 check, JSON parse, one handler, nothing stored),
// each in its own child process, loaded by autocannon in another child process, on 127.0.0.1.
//
// Every request carries a DISTINCT, correctly signed body (a sequence number inside `custom`), so
// the receiver stores every one of them instead of answering "duplicate".
//
// Usage (after `npm run build`):
//   node benchmarks/webhooks/ingest-bench.mjs [--quick] [--duration S] [--connections N]
//        [--only bare,receiver,octokit] [--sizes 3kb,200kb] [--runs N] [--profile] [--no-warmup]
// --runs N measures every server N times, alternating (bare, receiver, octokit, bare, …), and
// reports each run and the median of the runs' ratios to bare.
// Environment: BENCH_DURATION, BENCH_CONNECTIONS (flags win); BENCH_DIST=path of another build to
// measure instead of dist/ (e.g. to compare two versions of the store); BENCH_STORE=normal|memory
// runs the receiver on a synchronous=NORMAL or in-memory store instead, to see what the commit costs.
// Writes benchmarks/results/webhook-ingest.json and prints a table.

import { fork } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const SECRET = "fe_bench_webhook_key_0123456789abcdef";
const PATH = "/webhooks/fullenrich";

// --- realistic FullEnrich payloads -------------------------------------------------------------

const FIRST = ["Alex", "Maria", "Sam", "Priya", "Jonas", "Chloé", "Omar", "Lena", "Diego", "Aiko"];
const LAST = ["Martin", "García", "Kim", "Novak", "Dubois", "Okafor", "Rossi", "Larsen", "Silva", "Tanaka"];
const COMPANIES = [
  ["Acme Analytics", "acme-analytics.com"],
  ["Northwind Labs", "northwindlabs.io"],
  ["Blue Harbor", "blueharbor.co"],
  ["Quantix", "quantix.dev"],
  ["Helios Retail", "heliosretail.com"],
];
const TITLES = [
  "Head of Sales",
  "Software Engineer",
  "Marketing Manager",
  "CTO",
  "Account Executive",
  "Founder",
];

/** One result record as the provider sends it: input echo, custom, contact_info and a profile. */
function record(index, { historyEntries, seqPlaceholder }) {
  const first = FIRST[index % FIRST.length];
  const last = LAST[(index * 7) % LAST.length];
  const [company, domain] = COMPANIES[index % COMPANIES.length];
  const handle = `${first}-${last}-${index}`
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9-]/g, "");
  const local = `${first}.${last}`
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z.]/g, "");
  const history = Array.from({ length: historyEntries }, (_, n) => ({
    title: TITLES[(index + n + 1) % TITLES.length],
    is_current: false,
    start_at: `20${10 + n}-${1 + (n % 12)}-0T00:00:00Z`,
    end_at: `20${11 + n}-${1 + ((n + 5) % 12)}-0T00:00:00Z`,
    company: {
      name: COMPANIES[(index + n + 1) % COMPANIES.length][0],
      domain: COMPANIES[(index + n + 1) % COMPANIES.length][1],
    },
    description: "Led a team across several regions, owned the roadmap and the quarterly targets.",
  }));
  return {
    input: {
      first_name: first,
      last_name: last,
      full_name: `${first} ${last}`,
      company_domain: domain,
      professional_network_url: `https://www.linkedin.com/in/${handle}/`,
    },
    custom: {
      row: String(index),
      crm_id: `0035g00000${String(100000 + index)}AAA`,
      seq: seqPlaceholder ?? String(index),
    },
    contact_info: {
      most_probable_work_email: { email: `${local}@${domain}`, status: "DELIVERABLE" },
      most_probable_personal_email: { email: `${local}${index}@gmail.com`, status: "HIGH_PROBABILITY" },
      most_probable_phone: {
        number: `+1 555-${String(100 + (index % 900))}-${String(1000 + index).slice(-4)}`,
        region: "US",
      },
      work_emails: [
        { email: `${local}@${domain}`, status: "DELIVERABLE" },
        {
          email: `${first[0]}${last}@${domain}`
            .toLowerCase()
            .normalize("NFKD")
            .replace(/[^a-z@.-]/g, ""),
          status: "CATCH_ALL",
        },
      ],
      personal_emails: [{ email: `${local}${index}@gmail.com`, status: "HIGH_PROBABILITY" }],
      phones: [
        { number: `+1 555-${String(100 + (index % 900))}-${String(1000 + index).slice(-4)}`, region: "US" },
        {
          number: `+33 6 12 34 ${String(10 + (index % 89))} ${String(10 + ((index * 3) % 89))}`,
          region: "FR",
        },
      ],
    },
    profile: {
      id: randomUUID(),
      full_name: `${first} ${last}`,
      first_name: first,
      last_name: last,
      headline: `${TITLES[index % TITLES.length]} at ${company}`,
      summary: "Builder of teams and products. Previously scaled revenue operations from seed to series C.",
      location: { country: "United States", country_code: "US", city: "San Francisco" },
      social_profiles: { professional_network: { url: `https://www.linkedin.com/in/${handle}/`, handle } },
      employment: {
        current: {
          title: TITLES[index % TITLES.length],
          is_current: true,
          start_at: "2021-3-0T00:00:00Z",
          company: { name: company, domain },
        },
        history,
      },
      skills: ["Sales", "Negotiation", "CRM", "Forecasting", "Leadership"],
    },
  };
}

const SEQ_WIDTH = 12;
const SEQ_MARK = "#".repeat(SEQ_WIDTH);

/**
 * A body template: JSON text with a fixed-width placeholder for a sequence number, so that each
 * request gets distinct bytes for the price of one copy and one HMAC.
 */
function template(size) {
  const id = randomUUID();
  let body;
  if (size === "3kb") {
    body = {
      id,
      name: "bench leads",
      status: "IN_PROGRESS",
      cost: { credits: 14 },
      data: [record(1, { historyEntries: 6, seqPlaceholder: SEQ_MARK })],
    };
  } else {
    const data = Array.from({ length: 100 }, (_, index) =>
      record(index, { historyEntries: 2, seqPlaceholder: index === 0 ? SEQ_MARK : undefined }),
    );
    body = { id, name: "bench leads", status: "FINISHED", cost: { credits: 1400 }, data };
  }
  const text = JSON.stringify(body);
  const at = text.indexOf(SEQ_MARK);
  return { prefix: Buffer.from(text.slice(0, at)), suffix: Buffer.from(text.slice(at + SEQ_WIDTH)) };
}

function bodyAt({ prefix, suffix }, seq) {
  return Buffer.concat([prefix, Buffer.from(String(seq).padStart(SEQ_WIDTH, "0")), suffix]);
}

// --- roles ---------------------------------------------------------------------------------

async function runServer(kind) {
  let server;
  let report = async () => ({});
  if (kind === "bare") {
    server = createServer((req, res) => {
      const chunks = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", () => {
        Buffer.concat(chunks);
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"status":"ok"}');
      });
    });
  } else if (kind === "receiver") {
    // BENCH_DIST points at another build of the library, to compare two versions.
    const { WebhookReceiver, createNodeListener, SqliteEventStore, MemoryEventStore } = await import(
      resolve(root, process.env.BENCH_DIST ?? "dist", "index.js")
    );
    const directory = mkdtempSync(join(tmpdir(), "fullenrich-rx-bench-"));
    // BENCH_STORE (diagnosis only): "full" (default: synchronous=FULL), "normal", or "memory".
    const variant = process.env.BENCH_STORE ?? "full";
    const store =
      variant === "memory"
        ? new MemoryEventStore()
        : await SqliteEventStore.open(join(directory, "events.db"), { durability: variant });
    const receiver = new WebhookReceiver({ store, apiKeys: [SECRET] });
    const failures = {};
    receiver.failures$.subscribe(({ reason }) => {
      failures[reason] = (failures[reason] ?? 0) + 1;
    });
    server = createServer(createNodeListener(receiver, { path: PATH }));
    report = async () => {
      // Deliveries acknowledged but not parsed yet when the load stopped: the time to parse them.
      // (A build from before ack-before-parse, via BENCH_DIST, has neither: nothing is left to parse.)
      const stoppedAt = performance.now();
      const atStop = receiver.counters();
      const backlog = (atStop.stored ?? atStop.accepted) - atStop.accepted - atStop.quarantined;
      await receiver.whenParsed?.();
      const parseDrainMs = performance.now() - stoppedAt;
      // Requests cut off when the load stopped may still be appending: let them settle first.
      let last = -1;
      for (let settled = 0; settled < 5; ) {
        await new Promise((done) => setTimeout(done, 50));
        const seen = JSON.stringify(receiver.counters());
        settled = seen === last ? settled + 1 : 0;
        last = seen;
      }
      const diagnostics = store.diagnostics?.() ?? {
        synchronous: "memory",
        journalMode: "-",
        transactions: 0,
        operations: 0,
      };
      const head = await store.head();
      await store.close();
      rmSync(directory, { recursive: true, force: true });
      return {
        counters: receiver.counters(),
        parseBacklogAtStop: backlog,
        parseDrainMs,
        failures,
        stored: head,
        synchronous: diagnostics.synchronous,
        journalMode: diagnostics.journalMode,
        transactions: diagnostics.transactions,
        appendsPerCommit:
          diagnostics.transactions === 0 ? 0 : diagnostics.operations / diagnostics.transactions,
        eventsPerCommit: diagnostics.transactions === 0 ? 0 : head / diagnostics.transactions,
        walCheckpoints: diagnostics.walCheckpoints,
      };
    };
  } else if (kind === "octokit") {
    const { Webhooks, createNodeMiddleware } = await import("@octokit/webhooks");
    const webhooks = new Webhooks({ secret: SECRET });
    let handled = 0;
    webhooks.on("push", () => {
      handled++;
    });
    const middleware = createNodeMiddleware(webhooks, { path: PATH });
    server = createServer((req, res) => {
      middleware(req, res, () => {
        res.writeHead(404);
        res.end();
      });
    });
    report = async () => ({ handled });
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  server.keepAliveTimeout = 30_000;
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  process.send({ type: "listening", port: server.address().port });
  // CPU time of the whole process (every thread: the writer's, the GC's) from the measured load's start.
  let cpuAtMark = process.cpuUsage();
  process.on("message", async (message) => {
    if (message?.type === "mark") {
      cpuAtMark = process.cpuUsage();
      process.send({ type: "marked" });
      return;
    }
    if (message?.type !== "stop") return;
    const { user, system } = process.cpuUsage(cpuAtMark);
    await new Promise((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    const cpu = { userMs: user / 1000, systemMs: system / 1000 };
    process.send({ type: "report", report: { ...(await report()), cpu } });
    process.disconnect();
  });
}

async function runLoad({ port, kind, size, duration, connections }) {
  const { default: autocannon } = await import("autocannon");
  const body = template(size);
  let seq = 0;
  const runId = Math.floor(Math.random() * 1e6) * 1e6; // distinct across warm-up and measured runs
  const signed = (bytes) =>
    kind === "octokit"
      ? {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(bytes).digest("hex")}`,
        }
      : {
          "content-type": "application/json",
          "x-signature-sha1": createHmac("sha1", SECRET).update(bytes).digest("hex"),
        };
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration,
    pipelining: 1,
    timeout: 30,
    requests: [
      {
        method: "POST",
        path: PATH,
        setupRequest: (request) => {
          const bytes = bodyAt(body, runId + ++seq);
          return { ...request, method: "POST", path: PATH, headers: signed(bytes), body: bytes };
        },
      },
    ],
  });
  const loadCpu = process.cpuUsage(cpuBefore);
  return {
    bodyBytes: body.prefix.length + SEQ_WIDTH + body.suffix.length,
    loadGeneratorCpuMs: (loadCpu.user + loadCpu.system) / 1000,
    requestsPerSecond: result.requests.average,
    ok2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: result.statusCodeStats,
    totalRequests: result.requests.total,
    latency: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      average: result.latency.average,
    },
    duration: result.duration,
  };
}

// --- orchestration -----------------------------------------------------------------------

function child(args, execArgv = []) {
  return fork(fileURLToPath(import.meta.url), args, {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

function nextMessage(proc, type) {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (message) => {
      if (message?.type !== type) return;
      proc.off("message", onMessage);
      proc.off("exit", onExit);
      resolvePromise(message);
    };
    const onExit = (code) => reject(new Error(`child exited with code ${code} before sending ${type}`));
    proc.on("message", onMessage);
    proc.once("exit", onExit);
  });
}

async function measure({ kind, size, duration, connections, warmup, profileDir }) {
  const execArgv = profileDir
    ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${kind}-${size}.cpuprofile`]
    : [];
  const server = child(["--role", "server", "--kind", kind], execArgv);
  const { port } = await nextMessage(server, "listening");
  const load = async (seconds) => {
    const generator = child([
      "--role",
      "load",
      "--kind",
      kind,
      "--size",
      size,
      "--port",
      String(port),
      "--duration",
      String(seconds),
      "--connections",
      String(connections),
    ]);
    const { result } = await nextMessage(generator, "result");
    return result;
  };
  if (warmup > 0) await load(warmup);
  server.send({ type: "mark" });
  await nextMessage(server, "marked");
  const result = await load(duration);
  server.send({ type: "stop" });
  const { report } = await nextMessage(server, "report");
  await new Promise((done) => (server.exitCode === null ? server.once("exit", done) : done()));
  const { userMs, systemMs } = report.cpu;
  // The server's CPU (all its threads) per request of the measured load, in microseconds.
  const serverCpuUsPerRequest = ((userMs + systemMs) * 1000) / Math.max(1, result.totalRequests);
  return { kind, size, ...result, serverCpuUsPerRequest, server: report };
}

const LABELS = {
  bare: "bare node:http (read body, 200)",
  receiver: "fullenrich-rx receiver + SQLite FULL",
  octokit: "@octokit/webhooks middleware",
};

function table(results) {
  const rows = [
    ["run", "server", "body", "req/s", "p50 ms", "p99 ms", "× bare", "CPU µs/req", "non-2xx", "errors"],
  ];
  for (const result of results) {
    rows.push([
      String(result.run),
      LABELS[result.kind],
      `${(result.bodyBytes / 1024).toFixed(1)} KB`,
      result.requestsPerSecond.toFixed(0),
      String(result.latency.p50),
      String(result.latency.p99),
      result.ratioToBare === null ? "-" : result.ratioToBare.toFixed(2),
      result.serverCpuUsPerRequest.toFixed(0),
      String(result.non2xx),
      String(result.errors),
    ]);
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row, index) => {
      const line = row
        .map((cell, column) => (column === 1 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
        .join("  ");
      return index === 0 ? `${line}\n${widths.map((width) => "-".repeat(width)).join("  ")}` : line;
    })
    .join("\n");
}

async function main() {
  const { values } = parseArgs({
    options: {
      role: { type: "string" },
      kind: { type: "string" },
      size: { type: "string" },
      port: { type: "string" },
      duration: { type: "string" },
      connections: { type: "string" },
      only: { type: "string" },
      sizes: { type: "string" },
      quick: { type: "boolean" },
      runs: { type: "string" },
      profile: { type: "boolean" },
      "no-warmup": { type: "boolean" },
      out: { type: "string" },
    },
  });
  if (values.role === "server") return runServer(values.kind);
  if (values.role === "load") {
    const result = await runLoad({
      port: Number(values.port),
      kind: values.kind,
      size: values.size,
      duration: Number(values.duration),
      connections: Number(values.connections),
    });
    process.send({ type: "result", result });
    process.disconnect();
    return;
  }

  const duration = Number(values.duration ?? process.env.BENCH_DURATION ?? (values.quick ? 3 : 10));
  const connections = Number(values.connections ?? process.env.BENCH_CONNECTIONS ?? 64);
  const warmup = values["no-warmup"] ? 0 : values.quick ? 1 : 2;
  const kinds = (values.only ?? "bare,receiver,octokit").split(",");
  const sizes = (values.sizes ?? "3kb,200kb").split(",");
  const profileDir = values.profile ? join(root, "benchmarks/results/profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const runs = Number(values.runs ?? 1);
  const results = [];
  for (let run = 1; run <= runs; run++) {
    for (const size of sizes) {
      const round = [];
      for (const kind of kinds) {
        process.stderr.write(
          `run ${run}/${runs}: measuring ${kind} with ${size} bodies: ${connections} connections, ${duration} s…\n`,
        );
        round.push({ run, ...(await measure({ kind, size, duration, connections, warmup, profileDir })) });
      }
      // Each ratio against the bare server of the same run (measured minutes apart at most).
      const bare = round.find((other) => other.kind === "bare");
      for (const result of round) {
        result.ratioToBare =
          bare && result.kind !== "bare" ? result.requestsPerSecond / bare.requestsPerSecond : null;
      }
      results.push(...round);
    }
  }
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  };
  const medians = [];
  for (const size of sizes) {
    for (const kind of kinds) {
      const mine = results.filter((result) => result.kind === kind && result.size === size);
      medians.push({
        kind,
        size,
        runs: mine.length,
        requestsPerSecond: median(mine.map((result) => result.requestsPerSecond)),
        ratioToBare: kind === "bare" ? null : median(mine.map((result) => result.ratioToBare)),
        ratios: kind === "bare" ? null : mine.map((result) => result.ratioToBare),
        p50: median(mine.map((result) => result.latency.p50)),
        p99: median(mine.map((result) => result.latency.p99)),
      });
    }
  }
  const output = {
    benchmark: "webhook-ingest",
    date: new Date().toISOString(),
    command: `node benchmarks/webhooks/ingest-bench.mjs ${process.argv.slice(2).join(" ")}`.trim(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    duration,
    connections,
    warmup,
    runs,
    target: "receiver >= 0.40 x bare and above @octokit/webhooks for 3 KB bodies; >= 0.10 x bare for 200 KB",
    loadAverage: loadavg(),
    medians,
    results,
  };
  const out = resolve(root, values.out ?? "benchmarks/results/webhook-ingest.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(output, null, 2)}\n`);
  console.log(table(results));
  const at = (kind, size) => medians.find((entry) => entry.kind === kind && entry.size === size);
  for (const size of sizes) {
    const receiver = at("receiver", size);
    const octokit = at("octokit", size);
    if (receiver?.ratioToBare == null) continue;
    const floor = size === "3kb" ? 0.4 : 0.1;
    const aboveOctokit = octokit?.ratioToBare == null || receiver.ratioToBare > octokit.ratioToBare;
    console.log(
      `\nmedian of ${receiver.runs} run(s), ${size}: receiver / bare ${receiver.ratioToBare.toFixed(2)} ` +
        `(runs ${receiver.ratios.map((ratio) => ratio.toFixed(2)).join(", ")}), octokit / bare ` +
        `${octokit?.ratioToBare?.toFixed(2) ?? "-"} — target ≥ ${floor}${size === "3kb" ? " and above octokit" : ""}: ` +
        `${receiver.ratioToBare >= floor && (size !== "3kb" || aboveOctokit) ? "met" : "NOT met"}`,
    );
  }
  for (const result of results.filter((r) => r.kind === "receiver")) {
    const { counters, stored, eventsPerCommit, synchronous, transactions, parseBacklogAtStop, parseDrainMs } =
      result.server;
    console.log(
      `receiver ${result.size} (run ${result.run}): ${counters.stored ?? counters.accepted + counters.quarantined} deliveries stored, ${counters.accepted} parsed, ` +
        `${counters.duplicate} duplicates, ${counters.storeErrors} store errors; ${stored} events, ` +
        `synchronous=${synchronous === 2 ? "FULL" : synchronous}, ${transactions} commits, ` +
        `${eventsPerCommit.toFixed(1)} events per commit; ${parseBacklogAtStop} left to parse when the load stopped, ` +
        `parsed ${parseDrainMs.toFixed(0)} ms later`,
    );
  }
  console.log(`\nwritten to ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
