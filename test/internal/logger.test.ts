// Logs: a pino instance taken as is (fields stay structured), the engine's own messages reaching
// it, JSON lines with pino's field names, and never the API key.
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { jsonLogger, type Logger, streamLogger, toLogger } from "../../src/internal/logger.js";
import { contacts, KEY, virtualWorldPerTest } from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

/** A real pino logger writing JSON lines into an array, synchronously. */
function pinoInto(lines: Record<string, unknown>[]): pino.Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return pino({ level: "debug" }, destination);
}

describe("a pino instance as the library's logger", () => {
  const start = virtualWorldPerTest();

  it("is accepted as is, and gets the engine's retries, 429 pauses and polling takeovers with their fields", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pinoInto(lines);
    const w = await start({
      mode: "webhook",
      simulator: { faults: { random429Rate: 0.3, loseBatchWebhook: () => true } },
      client: { logger },
      engine: { logger },
    });
    const job = w.engine.enrich(contacts(6), { batchSize: 2 });
    await w.advance(30 * MINUTE);
    expect((await job.summary).resolved).toBe(6);
    const byMessage = (text: string) => lines.filter((line) => String(line.msg).startsWith(text));
    const pauses = byMessage("FullEnrich answered 429");
    expect(pauses).toHaveLength(w.simulator.counters().rateLimited);
    expect(pauses[0]).toMatchObject({ level: 40, method: expect.any(String), pauseMs: expect.any(Number) });
    expect(byMessage("FullEnrich call failed; retrying")).toHaveLength(w.client.stats().retries);
    // One line per takeover the log recorded (a probe poll that settles its batch is none).
    const takeovers = byMessage("polling takes over");
    const recorded = (await w.store.read()).filter((event) => event.type === "fallback.activated");
    expect(recorded.length).toBeGreaterThan(0);
    expect(takeovers).toHaveLength(recorded.length);
    expect(takeovers[0]).toMatchObject({
      level: 30,
      reason: expect.any(String),
      enrichmentId: expect.any(String),
    });
    expect(byMessage("a batch was accepted")).toHaveLength(3);
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });

  it("a logger that only looks like pino in part is called as a Logger", () => {
    const calls: unknown[][] = [];
    const record = (...args: unknown[]) => calls.push(args);
    const plain: Logger & { child: () => void } = {
      debug: record,
      info: record,
      warn: record,
      error: record,
      child: () => {},
    };
    toLogger(plain).info("hello", { a: 1 });
    expect(calls).toEqual([["hello", { a: 1 }]]);
  });
});

describe("jsonLogger", () => {
  it("writes one JSON object a line with pino's field names, from its level up", () => {
    const written: string[] = [];
    const logger = jsonLogger(
      "info",
      (line) => written.push(line),
      () => 1_700_000_000_000,
    );
    logger.debug("hidden");
    logger.info("a batch was accepted", { batchId: "b1", contacts: 3 });
    logger.error("failed", { error: new Error("boom") });
    expect(written).toHaveLength(2);
    expect(written.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n"))).toBe(true);
    const [first, second] = written.map((line) => JSON.parse(line));
    expect(first).toEqual({
      level: 30,
      time: 1_700_000_000_000,
      pid: process.pid,
      hostname: expect.any(String),
      name: "fullenrich-rx",
      msg: "a batch was accepted",
      batchId: "b1",
      contacts: 3,
    });
    expect(second).toMatchObject({ level: 50, msg: "failed", error: { type: "Error", message: "boom" } });
  });

  it("never writes a secret-looking field's value, in JSON or in text", () => {
    const written: string[] = [];
    jsonLogger("debug", (line) => written.push(line)).info("x", {
      apiKey: KEY,
      authorization: `Bearer ${KEY}`,
    });
    streamLogger("debug", (line) => written.push(line)).warn("y", { api_key: KEY });
    expect(written.join("")).not.toContain(KEY);
    expect(written.join("")).toContain("[redacted]");
  });
});
