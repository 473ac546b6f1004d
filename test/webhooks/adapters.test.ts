import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import express, { type ErrorRequestHandler } from "express";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { createExpressMiddleware, RawBodyUnavailableError } from "../../src/webhooks/express-adapter.js";
import { createFetchHandler } from "../../src/webhooks/fetch-adapter.js";
import { createNodeListener } from "../../src/webhooks/node-adapter.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import {
  batchBody,
  bytesOf,
  contactBody,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  KEY,
  type Listening,
  listen,
  post,
  postSigned,
  rawExchange,
  serveHono,
  sign,
  statusOf,
} from "./helpers.js";

const PATH = "/webhooks/fullenrich";

interface Harness {
  store: MemoryEventStore;
  receiver: WebhookReceiver;
  server: Listening;
}

const running: Harness[] = [];

afterEach(async () => {
  for (const { server, receiver, store } of running.splice(0)) {
    await server.close();
    receiver.close();
    await store.close();
  }
});

function makeReceiver(maxBodyBytes?: number): { store: MemoryEventStore; receiver: WebhookReceiver } {
  const store = new MemoryEventStore();
  const receiver = new WebhookReceiver({
    store,
    apiKeys: [KEY],
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
  });
  return { store, receiver };
}

async function harness(
  mount: (receiver: WebhookReceiver) => Server | Promise<Listening>,
  maxBodyBytes?: number,
): Promise<Harness> {
  const { store, receiver } = makeReceiver(maxBodyBytes);
  const mounted = await mount(receiver);
  const server = "url" in mounted ? mounted : await listen(mounted);
  const created = { store, receiver, server };
  running.push(created);
  return created;
}

function honoApp(receiver: WebhookReceiver): Hono {
  const handle = createFetchHandler(receiver);
  const app = new Hono();
  app.post(PATH, (c) => handle(c.req.raw));
  app.all("/any-method", (c) => handle(c.req.raw));
  return app;
}

/** The same checks for every adapter: accepted, duplicate, 401, quarantined; each stored once. */
async function exerciseCommonPath(h: Harness, url: string): Promise<void> {
  const id = randomUUID();
  const batch = bytesOf(batchBody(id, [enrichRecord(1, "adapter"), enrichRecord(2, "adapter")]));
  const contact = bytesOf(contactBody(id, enrichRecord(1, "adapter")));
  const truncated = batch.subarray(0, 100);

  const first = await postSigned(url, batch);
  expect(first.status).toBe(200);
  expect(first.json).toEqual({ status: "accepted" });
  expect(first.headers.get("content-type")).toMatch(/application\/json/);
  expect((await postSigned(url, contact)).json).toEqual({ status: "accepted" });
  expect((await postSigned(url, batch)).json).toEqual({ status: "duplicate" });
  // Acknowledged once stored; quarantined when parsed, after the answer.
  expect((await postSigned(url, truncated)).json).toEqual({ status: "accepted" });
  expect((await post(url, contact, { "x-signature-sha1": sign(contact, "wrong") })).status).toBe(401);
  expect((await post(url, contact, {})).status).toBe(401);

  await h.receiver.whenParsed();
  await expectStoredExactlyOnce(h.store, [digestOf(batch), digestOf(contact), digestOf(truncated)]);
  expect(h.receiver.counters()).toMatchObject({
    stored: 3,
    accepted: 2,
    duplicate: 1,
    quarantined: 1,
    rejected: { "bad-signature": 1, "missing-signature": 1 },
  });
}

describe("node:http (createNodeListener)", () => {
  it("stores, deduplicates and refuses over a real server", async () => {
    const h = await harness((receiver) => createServer(createNodeListener(receiver, { path: PATH })));
    await exerciseCommonPath(h, `${h.server.url}${PATH}`);
  });
});

describe("Express 5 (createExpressMiddleware)", () => {
  it("stores, deduplicates and refuses when mounted with app.post(path, middleware)", async () => {
    const h = await harness((receiver) => {
      const app = express();
      app.post(PATH, createExpressMiddleware(receiver));
      return createServer(app);
    });
    await exerciseCommonPath(h, `${h.server.url}${PATH}`);
  });

  it("answers 413 and closes the connection on an oversized body", async () => {
    const h = await harness((receiver) => {
      const app = express();
      app.post(PATH, createExpressMiddleware(receiver));
      return createServer(app);
    }, 1024);
    const exchange = await rawExchange(
      h.server.port,
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Signature-SHA1: ${"0".repeat(40)}\r\nContent-Length: 65536\r\n\r\n`,
    );
    expect(statusOf(exchange.response)).toBe(413);
    expect(exchange.closed).toBe(true);
    expect(await h.store.head()).toBe(0);
  });

  it("mounted after express.json(), fails with an error that says how to mount it, and stores nothing", async () => {
    const errors: unknown[] = [];
    const h = await harness((receiver) => {
      const app = express();
      app.use(express.json());
      app.post(PATH, createExpressMiddleware(receiver));
      const onError: ErrorRequestHandler = (error, _req, res, _next) => {
        errors.push(error);
        res.status(500).json({ error: (error as Error).message });
      };
      app.use(onError);
      return createServer(app);
    });
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const answer = await postSigned(`${h.server.url}${PATH}`, body);
    expect(answer.status).toBe(500);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RawBodyUnavailableError);
    expect(answer.json.error).toMatch(/mount the middleware before express\.json\(\)/);
    expect(answer.json.error).toMatch(/express\.raw\(\{ type: '\*\/\*'/);
    expect(await h.store.head()).toBe(0);
    expect(h.receiver.counters().accepted).toBe(0);
  });

  it("works behind express.raw({ type: '*/*' }), with the Buffer it leaves", async () => {
    const h = await harness((receiver) => {
      const app = express();
      app.use(express.json());
      app.post(PATH, express.raw({ type: "*/*", limit: "10mb" }), createExpressMiddleware(receiver));
      return createServer(app);
    });
    // app.use(express.json()) skips bodies that are not JSON, so the route's express.raw() reads it.
    const url = `${h.server.url}${PATH}`;
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const answer = await post(url, body, {
      "content-type": "application/octet-stream",
      "x-signature-sha1": sign(body),
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ status: "accepted" });
    await expectStoredExactlyOnce(h.store, [digestOf(body)]);
  });

  it("works with express.raw({ type: '*/*' }) as the route's body parser, 200 KB batch bodies included", async () => {
    const h = await harness((receiver) => {
      const app = express();
      app.post(PATH, express.raw({ type: "*/*", limit: "10mb" }), createExpressMiddleware(receiver));
      return createServer(app);
    });
    const url = `${h.server.url}${PATH}`;
    const records = Array.from({ length: 100 }, (_, index) => enrichRecord(index, "express-raw"));
    const big = bytesOf(batchBody(randomUUID(), records));
    expect(big.length).toBeGreaterThan(100 * 1024);
    expect((await postSigned(url, big)).json).toEqual({ status: "accepted" });
    expect((await postSigned(url, big)).json).toEqual({ status: "duplicate" });
    await expectStoredExactlyOnce(h.store, [digestOf(big)]);
  });

  it("answers 413 when express.raw() left a Buffer larger than maxBodyBytes (chunked, no content-length)", async () => {
    const h = await harness((receiver) => {
      const app = express();
      app.post(PATH, express.raw({ type: "*/*", limit: "1mb" }), createExpressMiddleware(receiver));
      return createServer(app);
    }, 1024);
    const chunk = Buffer.alloc(4096, "x");
    const exchange = await rawExchange(
      h.server.port,
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `X-Signature-SHA1: ${sign(chunk)}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      [Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n0\r\n\r\n")],
    );
    // Before the fix, the middleware waited for a body express.raw() had already consumed: no answer.
    expect(statusOf(exchange.response)).toBe(413);
    expect(exchange.closed).toBe(true);
    expect(h.receiver.counters().rejected["too-large"]).toBe(1);
    expect(await h.store.head()).toBe(0);
  });

  it("says how to mount express.raw() so that its 100 KB default limit does not refuse batch bodies", async () => {
    expect(new RawBodyUnavailableError().message).toMatch(
      /express\.raw\(\{ type: '\*\/\*', limit: '10mb' \}\)/,
    );
    // What happens with the default limit: express.raw() itself answers 413 to a 100-contact batch.
    const h = await harness((receiver) => {
      const app = express();
      app.post(PATH, express.raw({ type: "*/*" }), createExpressMiddleware(receiver));
      return createServer(app);
    });
    const records = Array.from({ length: 100 }, (_, index) => enrichRecord(index, "express-default"));
    const big = bytesOf(batchBody(randomUUID(), records));
    expect((await postSigned(`${h.server.url}${PATH}`, big)).status).toBe(413);
    expect(await h.store.head()).toBe(0);
  });
});

describe("Hono on @hono/node-server (createFetchHandler)", () => {
  it("stores, deduplicates and refuses", async () => {
    const h = await harness((receiver) => serveHono(honoApp(receiver)));
    await exerciseCommonPath(h, `${h.server.url}${PATH}`);
  });

  it("answers 405 to other methods and 413 to oversized bodies", async () => {
    const h = await harness((receiver) => serveHono(honoApp(receiver)), 1024);
    const small = bytesOf({ id: "x", status: "FINISHED", data: [] });
    const get = await post(`${h.server.url}/any-method`, small, {}, "GET");
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");

    const declared = await rawExchange(
      h.server.port,
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Signature-SHA1: ${"0".repeat(40)}\r\nContent-Length: 65536\r\n\r\n`,
    );
    expect(statusOf(declared.response)).toBe(413);
    expect(declared.response.toLowerCase()).toContain("connection: close");
    expect(declared.closed).toBe(true);

    const chunk = Buffer.alloc(600, "y");
    const encoded = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from("\r\n"),
    ]);
    const chunked = await rawExchange(
      h.server.port,
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Signature-SHA1: ${"0".repeat(40)}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      [encoded, encoded],
    );
    expect(statusOf(chunked.response)).toBe(413);
    expect(chunked.closed).toBe(true);
    expect(h.receiver.counters().rejected).toMatchObject({ method: 1, "too-large": 2 });
    expect(await h.store.head()).toBe(0);
  });
});
