import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { streamLogger } from "../../src/internal/logger.js";
import { createWebhookServer, type WebhookServerOptions } from "../../src/webhooks/node-server.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import {
  batchBody,
  bytesOf,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  FailingStore,
  KEY,
  type Listening,
  listen,
  post,
  postSigned,
  sign,
  waitUntil,
} from "./helpers.js";
import { finalStatus, openRaw, requestHead, trackConnections, trickle } from "./raw-client.js";

const PATH = "/webhook";

interface Harness {
  store: EventStore;
  receiver: WebhookReceiver;
  server: Server;
  listening: Listening;
  /** The server side of each accepted connection. */
  sockets: Socket[];
  url: string;
  logs: string[];
}

const open: Harness[] = [];

afterEach(async () => {
  for (const { listening, receiver, store } of open.splice(0)) {
    await listening.close();
    receiver.close();
    await store.close();
  }
});

async function harness(options: WebhookServerOptions = {}, store: EventStore = new MemoryEventStore()) {
  const logs: string[] = [];
  const receiver = new WebhookReceiver({
    store,
    apiKeys: [KEY],
    logger: streamLogger("warn", (line) => logs.push(line)),
  });
  const server = createWebhookServer(receiver, { path: PATH, ...options });
  const sockets = trackConnections(server);
  const listening = await listen(server);
  const created: Harness = {
    store,
    receiver,
    server,
    listening,
    sockets,
    url: `${listening.url}${PATH}`,
    logs,
  };
  open.push(created);
  return created;
}

/** A correctly signed batch delivery, new each time. */
function delivery(): Buffer {
  return bytesOf(batchBody(randomUUID(), [enrichRecord(1, "hostile")]));
}

const ONE_MIB = 1024 * 1024;

describe("requests that cannot be deliveries are answered from their headers, the body unread", () => {
  const body = delivery();
  const cases = [
    {
      name: "no signature",
      head: requestHead("POST", PATH, { "Content-Type": "application/json", "Content-Length": ONE_MIB }),
      status: 401,
      reason: "missing-signature",
    },
    {
      name: "a signature that is not 40 hex digits",
      head: requestHead("POST", PATH, {
        "X-Signature-SHA1": `sha1=${sign(body)}`,
        "Content-Length": ONE_MIB,
      }),
      status: 401,
      reason: "bad-signature",
    },
    {
      name: "another path",
      head: requestHead("POST", "/anything", { "X-Signature-SHA1": sign(body), "Content-Length": ONE_MIB }),
      status: 404,
      reason: "not-found",
    },
    {
      name: "another method",
      head: requestHead("PUT", PATH, { "X-Signature-SHA1": sign(body), "Content-Length": ONE_MIB }),
      status: 405,
      reason: "method",
    },
    {
      name: "a Content-Length over the limit",
      head: requestHead("POST", PATH, { "X-Signature-SHA1": sign(body), "Content-Length": 50 * ONE_MIB }),
      status: 413,
      reason: "too-large",
    },
  ] as const;

  for (const sample of cases) {
    for (const expectContinue of [false, true]) {
      const variant = expectContinue ? ", with Expect: 100-continue (no 100 sent)" : "";
      it(`${sample.name}: ${sample.status}${variant}`, async () => {
        const h = await harness();
        const head = expectContinue
          ? sample.head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n")
          : sample.head;
        const client = await openRaw(h.listening.port);
        client.write(head);
        // Only the headers were sent: a server waiting for the body would never answer.
        await client.until((text) => finalStatus(text) !== undefined);
        await client.closed;
        const response = client.received();
        expect(finalStatus(response)).toBe(sample.status);
        expect(response.startsWith("HTTP/1.1 100")).toBe(false);
        expect(response).not.toContain("100 Continue");
        expect(response.toLowerCase()).toContain("connection: close");
        // The server read exactly the head: not one byte of a body.
        const serverSide = h.sockets[0] as Socket;
        expect(h.sockets).toHaveLength(1);
        expect(serverSide.bytesRead).toBe(Buffer.byteLength(head));
        expect(h.receiver.counters().rejected[sample.reason]).toBe(1);
        expect(await h.store.head()).toBe(0);
      });
    }
  }

  it("a client that sends its 1 MiB body anyway is cut off after the answer, most of it never read", async () => {
    const h = await harness();
    const head = requestHead("POST", PATH, { "Content-Length": ONE_MIB });
    const client = await openRaw(h.listening.port);
    // The head and the start of the body at once, then the rest without waiting for an answer: a
    // bounded number of 64 KiB writes, until the server has closed the connection.
    const chunk = Buffer.alloc(64 * 1024, "x");
    client.write(Buffer.concat([Buffer.from(head), chunk]));
    for (let sent = chunk.length; sent < ONE_MIB && client.write(chunk); sent += chunk.length) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    await client.closed;
    // The server answered 401 and closed with bytes unread, so TCP may reset the connection before
    // the client reads the answer (a client that waits for the answer, or for 100 Continue, gets it).
    const response = client.received();
    if (response !== "") expect(finalStatus(response)).toBe(401);
    const serverSide = h.sockets[0] as Socket;
    expect(serverSide.bytesRead).toBeLessThan(ONE_MIB / 2);
    expect(h.receiver.counters().rejected["missing-signature"]).toBe(1);
    expect(await h.store.head()).toBe(0);
  });

  it("a request that can be a delivery gets 100 Continue, then its body is read and stored", async () => {
    const h = await harness();
    const body = delivery();
    const client = await openRaw(h.listening.port);
    client.write(
      requestHead("POST", PATH, {
        "X-Signature-SHA1": sign(body),
        "Content-Type": "application/json",
        "Content-Length": body.length,
        Expect: "100-continue",
        Connection: "close",
      }),
    );
    await client.until((text) => text.startsWith("HTTP/1.1 100 Continue\r\n"));
    client.write(body);
    await client.until((text) => finalStatus(text) === 200);
    await expectStoredExactlyOnce(h.store, [digestOf(body)]);
  });

  it("counts forged requests in one summary line, not one line each", async () => {
    const h = await harness();
    const body = delivery();
    await post(h.url, body, {});
    for (let i = 0; i < 20; i++) {
      await post(h.url, body, { "x-signature-sha1": "0".repeat(40) });
      await post(`${h.listening.url}/elsewhere`, body, {});
    }
    expect(h.receiver.counters().rejected).toMatchObject({
      "missing-signature": 1,
      "bad-signature": 20,
      "not-found": 20,
    });
    // The first refusal is logged at once; the 40 after it wait for the next summary.
    expect(h.logs).toHaveLength(1);
    expect(h.logs[0]).toMatch(/refused 1 webhook request \(1 missing signature\)/);
    h.receiver.close();
    expect(h.logs).toHaveLength(2);
    expect(h.logs[1]).toMatch(/refused 40 webhook requests \(20 bad signature, 20 wrong path\)/);
    for (const line of h.logs) expect(line).not.toContain(KEY);
  });
});

/** Limits short enough for the tests to stay fast: 300 ms headers, 300 ms more for the body, 200 ms idle. */
const SHORT = { headersTimeoutMs: 300, bodyTimeoutMs: 300, idleTimeoutMs: 200 };
/** How late past a timeout a close may come on a loaded machine (checks run every 75 ms here). */
const SLACK_MS = 2_000;

/** A valid delivery over its own connection while the slow ones hang: answered 200 and stored. */
async function validDeliveryMeanwhile(h: Harness): Promise<void> {
  const body = delivery();
  const answer = await postSigned(h.url, body);
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({ status: "accepted" });
  expect(await h.store.findByDedupKey(`delivery:${digestOf(body)}`)).toBeDefined();
}

describe("slow and idle clients are closed within the timeouts, the others served", () => {
  it("headers sent a byte at a time: 408 and closed after headersTimeoutMs", async () => {
    const h = await harness(SHORT);
    const client = await openRaw(h.listening.port);
    const stop = trickle(
      client,
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${"a".repeat(400)}`,
      20,
    );
    await validDeliveryMeanwhile(h);
    const after = await client.closed;
    stop();
    expect(finalStatus(client.received())).toBe(408);
    expect(after).toBeGreaterThanOrEqual(SHORT.headersTimeoutMs - 20);
    expect(after).toBeLessThan(SHORT.headersTimeoutMs + SLACK_MS);
    expect(h.receiver.counters().closed.timeout).toBe(1);
  });

  it("a body sent a byte at a time: 408 and closed once headers + body time ran out", async () => {
    const h = await harness(SHORT);
    const body = delivery();
    const client = await openRaw(h.listening.port);
    client.write(
      requestHead("POST", PATH, { "X-Signature-SHA1": sign(body), "Content-Length": body.length }),
    );
    const stop = trickle(client, body.toString("latin1"), 20);
    await validDeliveryMeanwhile(h);
    const after = await client.closed;
    stop();
    const limit = SHORT.headersTimeoutMs + SHORT.bodyTimeoutMs;
    expect(finalStatus(client.received())).toBe(408);
    expect(after).toBeGreaterThanOrEqual(limit - 20);
    expect(after).toBeLessThan(limit + SLACK_MS);
    expect(h.receiver.counters().closed.timeout).toBe(1);
    // The slow delivery was never stored: only the valid one (and its parsed outcome).
    await h.receiver.whenParsed();
    expect((await h.store.read()).map((event) => event.type)).toEqual(["webhook.stored", "webhook.received"]);
  });

  it("a connection that sends nothing is closed after headersTimeoutMs", async () => {
    const h = await harness(SHORT);
    const client = await openRaw(h.listening.port);
    await validDeliveryMeanwhile(h);
    const after = await client.closed;
    expect(after).toBeGreaterThanOrEqual(SHORT.headersTimeoutMs - 20);
    expect(after).toBeLessThan(SHORT.headersTimeoutMs + SLACK_MS);
  });

  it("an idle keep-alive connection is closed after idleTimeoutMs (Node 20 adds about 1 s)", async () => {
    const h = await harness(SHORT);
    const client = await openRaw(h.listening.port);
    client.write(requestHead("GET", "/healthz", {}));
    await client.until((text) => finalStatus(text) === 200 && text.includes("keep-alive"));
    const answeredAt = Date.now();
    await validDeliveryMeanwhile(h);
    await client.closed;
    const idle = Date.now() - answeredAt;
    expect(client.received()).toMatch(/Keep-Alive: timeout=0/);
    expect(idle).toBeGreaterThanOrEqual(SHORT.idleTimeoutMs - 20);
    expect(idle).toBeLessThan(SHORT.idleTimeoutMs + 1_000 + SLACK_MS);
  });
});

describe("the connection cap", () => {
  it("closes connections over maxConnections unanswered, and serves again once one is gone", async () => {
    const h = await harness({ maxConnections: 2, headersTimeoutMs: 20_000 });
    const idle = [await openRaw(h.listening.port), await openRaw(h.listening.port)];
    await waitUntil("two connections accepted", () => h.sockets.length === 2);
    const over = await openRaw(h.listening.port);
    await over.closed;
    expect(over.received()).toBe("");
    expect(h.receiver.counters().closed["over-capacity"]).toBe(1);
    expect(h.sockets).toHaveLength(2);

    (idle[0] as (typeof idle)[number]).destroy();
    await waitUntil("the server to see one connection gone", async () => {
      const count = await new Promise<number>((resolve) => h.server.getConnections((_e, n) => resolve(n)));
      return count === 1;
    });
    // A fresh connection per request (keep-alive off), so it counts against the cap as one.
    const body = delivery();
    const answer = await fetch(h.url, {
      method: "POST",
      headers: { "x-signature-sha1": sign(body), connection: "close" },
      body,
    });
    expect(answer.status).toBe(200);
    await expectStoredExactlyOnce(h.store, [digestOf(body)]);
    (idle[1] as (typeof idle)[number]).destroy();
  });
});

describe("GET /healthz", () => {
  it("answers 200 with the store's state, HEAD too, and 405 to other methods", async () => {
    const h = await harness();
    const ok = await post(`${h.listening.url}/healthz`, "", {}, "GET");
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ status: "ok", store: "ready", lastAppend: { ok: null, at: null } });
    expect(ok.headers.get("cache-control")).toBe("no-store");
    const head = await fetch(`${h.listening.url}/healthz`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect((await post(`${h.listening.url}/healthz`, "{}", {})).status).toBe(405);

    expect((await postSigned(h.url, delivery())).status).toBe(200);
    const after = await post(`${h.listening.url}/healthz`, "", {}, "GET");
    expect(after.json).toMatchObject({ status: "ok", store: "ready", lastAppend: { ok: true } });
    expect(h.receiver.counters().rejected.method).toBe(1);
  });

  it("answers 503 while the last append failed, 200 again once one succeeds", async () => {
    const store = new FailingStore(new MemoryEventStore(), 1);
    const h = await harness({}, store);
    const body = delivery();
    expect((await postSigned(h.url, body)).status).toBe(503);
    const failing = await post(`${h.listening.url}/healthz`, "", {}, "GET");
    expect(failing.status).toBe(503);
    expect(failing.json).toMatchObject({
      status: "unavailable",
      store: "append-failing",
      lastAppend: { ok: false },
    });
    // The provider's retry succeeds: healthy again.
    expect((await postSigned(h.url, body)).status).toBe(200);
    expect((await post(`${h.listening.url}/healthz`, "", {}, "GET")).status).toBe(200);
  });

  it("answers 503 when the store cannot be read (closed), and once the receiver is closed", async () => {
    const h = await harness();
    await h.store.close();
    const unreachable = await post(`${h.listening.url}/healthz`, "", {}, "GET");
    expect(unreachable.status).toBe(503);
    expect(unreachable.json).toMatchObject({ status: "unavailable", store: "unreachable" });

    const other = await harness();
    other.receiver.close();
    const stopped = await post(`${other.listening.url}/healthz`, "", {}, "GET");
    expect(stopped.status).toBe(503);
    expect(stopped.json).toMatchObject({ store: "stopped" });
  });
});
