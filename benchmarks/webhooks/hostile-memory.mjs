#!/usr/bin/env node
// Memory under hostile clients: 100 connections at once, each announcing a 10 MiB body and then
// sending it as fast as the server takes it, against the webhook receiver (createWebhookServer, a
// SQLite store in a temporary directory) running in a child process. Reports how much the server's
// resident memory grew: its peak (VmHWM, reset just before the attack) minus its size just before;
// and how many bytes it read from its sockets (the clients' count is what their kernel accepted).
//
// Scenarios:
//   unsigned          no X-Signature-SHA1 header: refused (401) from the headers, body unread;
//   malformed         a signature header that is not 40 hex digits: the same;
//   oversized         a well-formed signature and a 50 MiB Content-Length: 413 from the headers;
//   forged-signature  a well-formed but wrong signature and a 10 MiB body (the size limit): the
//                     body must be read to check the HMAC, so this one is bounded by
//                     connections × maxBodyBytes, not by the early refusal.
//
// Usage (after `npm run build`):
//   node benchmarks/webhooks/hostile-memory.mjs [--connections N] [--mib N] [--runs N] [--only a,b] [--out FILE]
// Each scenario runs --runs times (default 3), each on a fresh server; the median growth is reported.
// Environment: BENCH_DIST=path of another build to measure instead of dist/ (an older build without
// createWebhookServer is served through createNodeListener on a plain node:http server).
// Writes benchmarks/results/hostile-memory.json (or --out) and prints a table.

import { execFileSync, fork } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { connect } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const KEY = "fe_bench_hostile_key_0123456789abcdef";
const PATH = "/webhook";
const MIB = 1024 * 1024;

// --- the server (child process) ------------------------------------------------------------------

async function runServer() {
  const dist = resolve(root, process.env.BENCH_DIST ?? "dist", "index.js");
  const library = await import(dist);
  const directory = mkdtempSync(join(tmpdir(), "fullenrich-rx-hostile-"));
  const store = await library.SqliteEventStore.open(join(directory, "events.db"));
  const receiver = new library.WebhookReceiver({ store, apiKeys: [KEY] });
  const server = library.createWebhookServer
    ? library.createWebhookServer(receiver, { path: PATH })
    : createServer(library.createNodeListener(receiver));
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  // Bytes the server read from its sockets (heads, and whatever body it read or discarded).
  const sockets = new Set();
  let bytesReadClosed = 0;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      bytesReadClosed += socket.bytesRead;
    });
  });
  const bytesRead = () => [...sockets].reduce((sum, socket) => sum + socket.bytesRead, bytesReadClosed);
  process.on("message", async (message) => {
    if (message?.type === "bytes-read") {
      process.send({ type: "bytes-read", bytes: bytesRead() });
    } else if (message?.type === "gc") {
      global.gc?.();
      process.send({ type: "gc-done" });
    } else if (message?.type === "stop") {
      server.closeAllConnections();
      server.close();
      const counters = receiver.counters();
      receiver.close();
      const stored = await store.head();
      await store.close();
      rmSync(directory, { recursive: true, force: true });
      process.send({
        type: "report",
        counters,
        stored,
        createWebhookServer: Boolean(library.createWebhookServer),
      });
      process.disconnect();
    }
  });
  process.send({ type: "listening", port: server.address().port });
}

// --- the attack (parent process) -----------------------------------------------------------------

function nextMessage(child, type) {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (message) => {
      if (message?.type !== type) return;
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolvePromise(message);
    };
    const onExit = (code) => reject(new Error(`server exited with code ${code} before sending ${type}`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Resident and peak resident memory of a process, in bytes (Linux /proc). */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

/** Resets the process's peak resident size to its current one (Linux ≥ 4.0). */
function resetPeak(pid) {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

function sign(body) {
  return createHmac("sha1", KEY).update(body).digest("hex");
}

const SCENARIOS = {
  unsigned: (mib) => ({ "Content-Length": mib * MIB }),
  malformed: (mib) => ({ "X-Signature-SHA1": "sha1=not-a-signature", "Content-Length": mib * MIB }),
  oversized: () => ({ "X-Signature-SHA1": "0".repeat(40), "Content-Length": 50 * MIB }),
  "forged-signature": (mib) => ({ "X-Signature-SHA1": "0".repeat(40), "Content-Length": mib * MIB }),
};

/**
 * One hostile connection: the head, then the announced body in 64 KiB writes as fast as the socket
 * takes them, until all is sent or the server closed. Resolves with what happened.
 */
function attack(port, headers, announced, deadlineMs) {
  return new Promise((resolvePromise) => {
    const chunk = Buffer.alloc(64 * 1024, "x");
    const socket = connect(port, "127.0.0.1");
    let sent = 0;
    let response = "";
    let error = null;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? null;
      resolvePromise({ status, bodyBytesSent: sent, error });
    };
    const timer = setTimeout(finish, deadlineMs);
    socket.on("data", (data) => {
      response += data.toString("latin1");
    });
    socket.on("error", (cause) => {
      error = cause.code ?? cause.message;
    });
    socket.on("close", finish);
    const pump = () => {
      while (sent < announced && !socket.destroyed) {
        const size = Math.min(chunk.length, announced - sent);
        sent += size;
        if (!socket.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    socket.on("connect", () => {
      const lines = Object.entries({ Host: "127.0.0.1", "Content-Type": "application/json", ...headers });
      socket.write(`POST ${PATH} HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`);
      pump();
    });
  });
}

async function scenario(name, { connections, mib }) {
  const server = fork(fileURLToPath(import.meta.url), ["--role", "server"], {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const { port } = await nextMessage(server, "listening");
  // Warm up the accepting path with a few valid deliveries.
  for (let i = 0; i < 20; i++) {
    const body = Buffer.from(JSON.stringify({ id: `warm-${i}`, status: "FINISHED", data: [] }));
    await fetch(`http://127.0.0.1:${port}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature-sha1": sign(body) },
      body,
    });
  }
  server.send({ type: "gc" });
  await nextMessage(server, "gc-done");
  await new Promise((done) => setTimeout(done, 300));
  server.send({ type: "bytes-read" });
  const readBefore = (await nextMessage(server, "bytes-read")).bytes;
  const before = memoryOf(server.pid);
  resetPeak(server.pid);
  const headers = SCENARIOS[name](mib);
  const announced = Math.min(Number(headers["Content-Length"]), mib * MIB);
  const started = performance.now();
  const outcomes = await Promise.all(
    Array.from({ length: connections }, () => attack(port, headers, announced, 120_000)),
  );
  const elapsedMs = performance.now() - started;
  const after = memoryOf(server.pid);
  server.send({ type: "bytes-read" });
  const readAfter = (await nextMessage(server, "bytes-read")).bytes;
  server.send({ type: "stop" });
  const report = await nextMessage(server, "report");
  await new Promise((done) => (server.exitCode === null ? server.once("exit", done) : done()));

  const statuses = {};
  for (const { status, error } of outcomes) {
    const key = status ?? (error ? `no answer (${error})` : "no answer");
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const bodySent = outcomes.reduce((sum, outcome) => sum + outcome.bodyBytesSent, 0);
  return {
    scenario: name,
    connections,
    announcedBytesEach: Number(headers["Content-Length"]),
    rssBeforeBytes: before.rss,
    peakRssBytes: after.peak,
    rssAfterBytes: after.rss,
    peakGrowthBytes: after.peak - before.rss,
    bodyBytesWrittenByClients: bodySent,
    bytesReadByServer: readAfter - readBefore,
    statuses,
    elapsedMs: Math.round(elapsedMs),
    server: report,
  };
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The commit measured, and whether src/ had uncommitted changes. */
function commitOf() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root }).toString().trim();
    const dirty =
      execFileSync("git", ["status", "--porcelain", "src"], { cwd: root }).toString().trim() !== "";
    return dirty ? `${head} (src/ modified)` : head;
  } catch {
    return null;
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      role: { type: "string" },
      connections: { type: "string" },
      mib: { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      runs: { type: "string" },
    },
  });
  if (values.role === "server") return runServer();
  const connections = Number(values.connections ?? 100);
  const mib = Number(values.mib ?? 10);
  const names = values.only ? values.only.split(",") : Object.keys(SCENARIOS);
  const runs = Number(values.runs ?? 3);
  const results = [];
  for (const name of names) {
    if (!SCENARIOS[name]) throw new Error(`unknown scenario ${name} (${Object.keys(SCENARIOS).join(", ")})`);
    const each = [];
    for (let run = 0; run < runs; run++) {
      const result = await scenario(name, { connections, mib });
      each.push(result);
      console.log(
        `${name.padEnd(17)} RSS ${mb(result.rssBeforeBytes)} → peak ${mb(result.peakRssBytes)} ` +
          `(+${mb(result.peakGrowthBytes)}); server read ${mb(result.bytesReadByServer)} of the ` +
          `${mb(result.bodyBytesWrittenByClients)} of body the clients wrote; ` +
          `answers ${JSON.stringify(result.statuses)}; ${result.elapsedMs} ms`,
      );
    }
    const growths = each.map((result) => result.peakGrowthBytes).sort((a, b) => a - b);
    const median = growths[Math.floor(growths.length / 2)];
    results.push({ scenario: name, medianPeakGrowthBytes: median, runs: each });
    console.log(`${name.padEnd(17)} median growth +${mb(median)} over ${runs} runs`);
  }
  const out = resolve(values.out ?? join(root, "benchmarks/results/hostile-memory.json"));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        dist: process.env.BENCH_DIST ?? "dist",
        commit: process.env.BENCH_DIST ? null : commitOf(),
        loadAverage: loadavg(),
        node: process.version,
        cpu: `${cpus()[0]?.model ?? "unknown"}, ${cpus().length} cores`,
        connections,
        mibEach: mib,
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`written to ${out}`);
}

await main();
