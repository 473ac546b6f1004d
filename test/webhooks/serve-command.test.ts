import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveCommand } from "../../src/cli/commands/serve.js";
import type { CliIo } from "../../src/cli/io.js";
import { UsageError } from "../../src/cli/usage-error.js";
import { parseEvent } from "../../src/events/event-types.js";
import { SqliteEventStore } from "../../src/events/stores/index.js";
import {
  batchBody,
  bytesOf,
  contactBody,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  KEY,
  post,
  postSigned,
  sign,
  waitUntil,
} from "./helpers.js";
import { openRaw } from "./raw-client.js";

interface FakeIo {
  io: CliIo;
  controller: AbortController;
  stdout: () => string;
  stderr: () => string;
}

function fakeIo(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): FakeIo {
  const controller = new AbortController();
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  err.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  return {
    io: { stdout: out, stderr: err, env, cwd, signal: controller.signal },
    controller,
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

/** Starts the command and waits for the line that gives the address it listens on. */
async function startServe(args: string[], fake: FakeIo): Promise<{ url: string; done: Promise<number> }> {
  const done = serveCommand(args, fake.io);
  let failed: unknown;
  done.catch((error: unknown) => {
    failed = error;
  });
  const url = await waitUntil("the listening line", () => {
    if (failed !== undefined) throw failed;
    return /listening on (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(fake.stdout())?.[1];
  });
  return { url, done };
}

describe("fullenrich-rx serve", () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), "fullenrich-rx-serve-"));
  });
  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it("stores signed deliveries in the SQLite file, prints a line for each, and stops on abort", async () => {
    const fake = fakeIo({ FULLENRICH_API_KEY: KEY }, directory);
    const { url, done } = await startServe(
      ["--listen", "127.0.0.1:0", "--store", "events.db", "--print"],
      fake,
    );
    const id = randomUUID();
    const batch = bytesOf(batchBody(id, [enrichRecord(1, "serve")]));
    const contact = bytesOf(contactBody(id, enrichRecord(1, "serve")));
    const broken = Buffer.from('{"id":"x","status":');

    expect((await postSigned(url, batch)).json).toEqual({ status: "accepted" });
    expect((await postSigned(url, batch)).json).toEqual({ status: "duplicate" });
    expect((await postSigned(url, contact)).json).toEqual({ status: "accepted" });
    // Acknowledged once stored; quarantined when parsed, after the answer.
    expect((await postSigned(url, broken)).json).toEqual({ status: "accepted" });
    expect((await post(url, contact, { "x-signature-sha1": sign(contact, "wrong-key") })).status).toBe(401);

    const lines = await waitUntil("4 printed deliveries", () => {
      const printed = fake
        .stdout()
        .split("\n")
        .filter((line) => /^\d{4}-\d\d-\d\dT/.test(line));
      return printed.length === 4 ? printed : undefined;
    });
    // A new delivery is printed once parsed, a retry (not parsed again) at once: in any order.
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`Z batch ${id}$`)),
        expect.stringMatching(new RegExp(`Z retry ${id} duplicate$`)),
        expect.stringMatching(new RegExp(`Z contact ${id}$`)),
        expect.stringMatching(/Z unparsed - quarantined$/),
      ]),
    );
    // --print is a summary: no personal data from the body.
    expect(fake.stdout()).not.toContain("Ada1");
    expect(fake.stdout()).not.toContain(KEY);
    // Refusals are summarised: the first at once, in one line.
    expect(fake.stderr()).toMatch(/refused 1 webhook request \(1 bad signature\)/);

    fake.controller.abort();
    expect(await done).toBe(0);
    expect(fake.stdout()).toMatch(
      /stopped: 3 stored \(2 parsed, 1 quarantined, 0 left for the next start\), 1 duplicates, 0 store errors \(answered 503\), 1 refused \(1 bad signature/,
    );

    // The command closed the store; the file holds the three deliveries, once each.
    const store = await SqliteEventStore.open(join(directory, "events.db"), { checkpointIntervalMs: 0 });
    try {
      const events = await expectStoredExactlyOnce(store, [
        digestOf(batch),
        digestOf(contact),
        digestOf(broken),
      ]);
      expect(events.map((event) => parseEvent(event).type)).toEqual([
        "webhook.received",
        "webhook.received",
        "webhook.quarantined",
      ]);
    } finally {
      await store.close();
    }
    // Stopped means stopped: nothing listens any more.
    await expect(fetch(url, { method: "POST", body: batch })).rejects.toThrow();
  });

  it("--verbose prints the body, --api-key overrides the environment, --max-body-bytes is applied", async () => {
    const fake = fakeIo({ FULLENRICH_API_KEY: "not-this-one" });
    const { url, done } = await startServe(
      [
        "--listen",
        "127.0.0.1:0",
        "--store",
        join(directory, "verbose.db"),
        "--api-key",
        KEY,
        "--verbose",
        "--max-body-bytes",
        "2048",
      ],
      fake,
    );
    const body = bytesOf(contactBody(randomUUID(), enrichRecord(7, "verbose")));
    expect(body.length).toBeLessThan(2048);
    expect((await postSigned(url, body)).status).toBe(200);
    expect((await postSigned(url, Buffer.alloc(4096, "{"))).status).toBe(413);
    const printed = await waitUntil("the printed body", () =>
      fake
        .stdout()
        .split("\n")
        .find((line) => line.startsWith("{")),
    );
    expect(JSON.parse(printed)).toEqual(JSON.parse(body.toString("utf8")));
    fake.controller.abort();
    expect(await done).toBe(0);
    expect(fake.stdout()).toMatch(/1 too large/);
  });

  it("--path, GET /healthz, the limit flags and --api-key-file", async () => {
    writeFileSync(join(directory, "key.txt"), `${KEY}\n`, { mode: 0o600 });
    const fake = fakeIo({}, directory);
    const { url, done } = await startServe(
      [
        "--listen",
        "127.0.0.1:0",
        "--store",
        "paths.db",
        "--path",
        "/hooks/fullenrich",
        "--api-key-file",
        "key.txt",
        "--headers-timeout",
        "0.3",
        "--max-connections",
        "50",
      ],
      fake,
    );
    expect(url).toMatch(/\/hooks\/fullenrich$/);
    expect(fake.stdout()).toMatch(
      /listening on http:\/\/127\.0\.0\.1:\d+\/hooks\/fullenrich \(health: GET \/healthz\)/,
    );
    const origin = new URL(url).origin;
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(3, "paths")]));
    expect((await postSigned(url, body)).json).toEqual({ status: "accepted" });
    expect((await postSigned(`${origin}/webhook`, body)).status).toBe(404);
    const health = await post(`${origin}/healthz`, "", {}, "GET");
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: "ok", store: "ready", lastAppend: { ok: true } });

    // --headers-timeout 0.3: a connection that sends nothing is closed after 0.3 s.
    const silent = await openRaw(Number(new URL(url).port));
    const closedAfter = await silent.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(280);
    expect(closedAfter).toBeLessThan(2_300);

    fake.controller.abort();
    expect(await done).toBe(0);
    expect(fake.stdout()).toMatch(/1 wrong path/);
    expect(fake.stdout()).toMatch(/1 connections closed \(1 timed out, 0 not HTTP, 0 over the cap\)/);
    expect(fake.stdout()).not.toContain(KEY);
  });

  it("refuses to start without an API key (exit 2 through the CLI), saying why", async () => {
    const fake = fakeIo({});
    const run = serveCommand(["--listen", "127.0.0.1:0", "--store", join(directory, "nokey.db")], fake.io);
    await expect(run).rejects.toBeInstanceOf(UsageError);
    await expect(run).rejects.toThrow(/signatures cannot be checked without the key/);
  });

  it("reports bad usage as UsageError", async () => {
    const env = { FULLENRICH_API_KEY: KEY };
    await expect(serveCommand(["--store", "x.db"], fakeIo(env).io)).rejects.toThrow(
      /--listen HOST:PORT is required/,
    );
    await expect(serveCommand(["--listen", "127.0.0.1:0"], fakeIo(env).io)).rejects.toThrow(/--store PATH/);
    await expect(serveCommand(["--listen", "nowhere", "--store", "x.db"], fakeIo(env).io)).rejects.toThrow(
      /--listen: must be HOST:PORT/,
    );
    await expect(
      serveCommand(["--listen", ":0", "--store", "x.db", "--max-body-bytes", "-3"], fakeIo(env).io),
    ).rejects.toThrow(/--max-body-bytes/);
    await expect(
      serveCommand(["--listen", ":0", "--store", "x.db", "--bogus"], fakeIo(env).io),
    ).rejects.toBeInstanceOf(UsageError);
    const usage = async (extra: string[], message: RegExp): Promise<void> => {
      const run = serveCommand(["--listen", ":0", "--store", "x.db", ...extra], fakeIo(env).io);
      await expect(run).rejects.toBeInstanceOf(UsageError);
      await expect(run).rejects.toThrow(message);
    };
    await usage(["--path", "hooks"], /--path: must be a path starting with "\/"/);
    await usage(["--path", "/hooks?x=1"], /--path: must be a path/);
    await usage(["--path", "/healthz"], /--path: \/healthz is the health probe's path/);
    await usage(["--headers-timeout", "0"], /--headers-timeout: must be a positive number/);
    await usage(["--body-timeout", "soon"], /--body-timeout: must be a number/);
    await usage(["--idle-timeout=-1"], /--idle-timeout: must be a positive number/);
    await usage(["--max-connections", "1.5"], /--max-connections: must be a whole number/);
    await usage(["--api-key", KEY, "--api-key-file", "k"], /not both/);
    await usage(["--max-body-bytes", "2048", "--max-buffered-bytes", "1024"], /below --max-body-bytes 2048/);
  });

  it("serves deliveries by outcome and append latency for Prometheus", async () => {
    const fake = fakeIo({ FULLENRICH_API_KEY: KEY }, directory);
    const { url, done } = await startServe(
      ["--listen", "127.0.0.1:0", "--store", "metrics.db", "--metrics", "127.0.0.1:0"],
      fake,
    );
    const metricsUrl = await waitUntil(
      "the metrics line",
      () => /metrics for Prometheus at (http:\/\/\S+\/metrics)/.exec(fake.stdout())?.[1],
    );
    const id = randomUUID();
    const batch = bytesOf(batchBody(id, [enrichRecord(1, "metrics")]));
    await postSigned(url, batch);
    await postSigned(url, batch);
    await postSigned(url, Buffer.from('{"id":"x","status":'));
    await post(url, batch, { "x-signature-sha1": sign(batch, "wrong-key") });
    await post(url, batch, {});

    /** The value of the sample of `name` whose labels include `labels` (one line of the text format). */
    const sample = (text: string, name: string, labels: Record<string, string>): number => {
      const wanted = Object.entries(labels).map(([key, label]) => `${key}="${label}"`);
      const line = text
        .split("\n")
        .find((candidate) => candidate.startsWith(`${name}{`) && wanted.every((w) => candidate.includes(w)));
      return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    // A stored delivery is counted as accepted or quarantined once parsed, which follows its answer.
    const text = await waitUntil("the two parsed deliveries counted", async () => {
      const scrape = await fetch(metricsUrl);
      expect(scrape.status).toBe(200);
      const body = await scrape.text();
      const parsed = ["accepted", "quarantined"].map((outcome) =>
        sample(body, "fullenrich_rx_webhook_deliveries_total", { outcome }),
      );
      return parsed.every((count) => count >= 1) && body;
    });
    const value = (name: string, labels: Record<string, string>): number => sample(text, name, labels);
    const deliveries = (labels: Record<string, string>) =>
      value("fullenrich_rx_webhook_deliveries_total", labels);
    expect(deliveries({ outcome: "accepted" })).toBe(1);
    expect(deliveries({ outcome: "duplicate" })).toBe(1);
    expect(deliveries({ outcome: "quarantined" })).toBe(1);
    expect(deliveries({ outcome: "forged" })).toBe(1);
    expect(deliveries({ outcome: "refused", reason: "missing-signature" })).toBe(1);
    expect(value("fullenrich_rx_store_append_duration_count", { outcome: "ok" })).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain(KEY);
    expect((await fetch(metricsUrl.replace("/metrics", "/other"))).status).toBe(404);

    fake.controller.abort();
    expect(await done).toBe(0);
    await expect(fetch(metricsUrl)).rejects.toThrow();
  });

  it("a busy metrics port: a clear message naming --metrics, nothing left listening", async () => {
    const fake = fakeIo({ FULLENRICH_API_KEY: KEY }, directory);
    const first = await startServe(
      ["--listen", "127.0.0.1:0", "--store", "a.db", "--metrics", "127.0.0.1:0"],
      fake,
    );
    const port = new URL(
      (/metrics for Prometheus at (\S+)/.exec(fake.stdout()) as RegExpExecArray)[1] as string,
    ).port;
    const second = fakeIo({ FULLENRICH_API_KEY: KEY }, directory);
    await expect(
      serveCommand(
        ["--listen", "127.0.0.1:0", "--store", "b.db", "--metrics", `127.0.0.1:${port}`],
        second.io,
      ),
    ).rejects.toThrow(
      new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use; choose another with --metrics`,
      ),
    );
    fake.controller.abort();
    expect(await first.done).toBe(0);
  });
});
