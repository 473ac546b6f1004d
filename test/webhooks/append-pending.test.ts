import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import express from "express";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { createExpressHealthHandler, createExpressMiddleware } from "../../src/webhooks/express-adapter.js";
import { createFetchHandler, createFetchHealthHandler } from "../../src/webhooks/fetch-adapter.js";
import { createWebhookServer } from "../../src/webhooks/node-server.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import {
  batchBody,
  bytesOf,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  HeldStore,
  KEY,
  type Listening,
  listen,
  serveHono,
  sign,
} from "./helpers.js";
import { finalStatus, openRaw, requestHead } from "./raw-client.js";

// "Never acknowledge a webhook before it is durably stored", shown directly: the store's append is
// held by the test, and no byte of an answer may leave the server until it is released.

const PATH = "/webhooks/fullenrich";
const HEALTH = "/healthz";

type Mount = (receiver: WebhookReceiver) => Promise<Listening>;

const adapters: { name: string; mount: Mount }[] = [
  {
    name: "node:http (createWebhookServer)",
    mount: (receiver) => listen(createWebhookServer(receiver, { path: PATH, healthPath: HEALTH })),
  },
  {
    name: "Express 5 (createExpressMiddleware)",
    mount: (receiver) => {
      const app = express();
      app.post(PATH, createExpressMiddleware(receiver));
      app.get(HEALTH, createExpressHealthHandler(receiver));
      return listen(createServer(app));
    },
  },
  {
    name: "Hono (createFetchHandler)",
    mount: (receiver) => {
      const handle = createFetchHandler(receiver);
      const app = new Hono();
      app.post(PATH, (c) => handle(c.req.raw));
      app.get(HEALTH, createFetchHealthHandler(receiver));
      return serveHono(app);
    },
  },
];

const running: { server: Listening; receiver: WebhookReceiver; store: HeldStore }[] = [];

afterEach(async () => {
  for (const { server, receiver, store } of running.splice(0)) {
    await server.close();
    receiver.close();
    await store.close();
  }
});

async function setup(
  mount: Mount,
): Promise<{ server: Listening; receiver: WebhookReceiver; store: HeldStore }> {
  const store = new HeldStore();
  const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
  const server = await mount(receiver);
  const created = { server, receiver, store };
  running.push(created);
  return created;
}

/** Sends a whole signed delivery on a raw connection and waits until the receiver is appending it. */
async function deliverAndHold(h: { server: Listening; store: HeldStore }) {
  const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1, "held")]));
  const client = await openRaw(h.server.port);
  client.write(
    Buffer.concat([
      Buffer.from(
        requestHead("POST", PATH, {
          "Content-Type": "application/json",
          "X-Signature-SHA1": sign(body),
          "Content-Length": body.length,
        }),
      ),
      body,
    ]),
  );
  await h.store.appendCalled(1);
  // A barrier instead of a sleep: a whole request on another connection is served while the append
  // is held, so the server has had every chance to write an answer to the first one.
  const probe = await fetch(`${h.server.url}${HEALTH}`);
  expect(probe.status).toBe(200);
  expect(client.received()).toBe("");
  return { client, body };
}

for (const adapter of adapters) {
  describe(adapter.name, () => {
    it("sends no answer while the append is pending, then 200 once it committed", async () => {
      const h = await setup(adapter.mount);
      const { client, body } = await deliverAndHold(h);
      expect(await h.store.inner.head()).toBe(0);
      h.store.release();
      const response = await client.until((text) => finalStatus(text) !== undefined && text.includes("}"));
      client.destroy();
      expect(finalStatus(response)).toBe(200);
      expect(response).toContain('{"status":"accepted"}');
      // Parsed only after the answer: its outcome is the second append, held like the first.
      await h.store.appendCalled(2);
      expect((await h.store.inner.read()).map((event) => event.type)).toEqual(["webhook.stored"]);
      h.store.release();
      await expectStoredExactlyOnce(h.store, [digestOf(body)]);
    });

    it("sends no answer while the append is pending, then 503 with Retry-After when it fails", async () => {
      const h = await setup(adapter.mount);
      const { client } = await deliverAndHold(h);
      h.store.fail();
      const response = await client.until((text) => finalStatus(text) !== undefined && text.includes("}"));
      client.destroy();
      expect(finalStatus(response)).toBe(503);
      expect(response.toLowerCase()).toContain("retry-after: 60");
      expect(await h.store.inner.head()).toBe(0);
      expect(h.receiver.counters().storeErrors).toBe(1);
      // The probe now says the store cannot append.
      expect((await fetch(`${h.server.url}${HEALTH}`)).status).toBe(503);
    });
  });
}
