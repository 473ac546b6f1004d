import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { BodyBudget } from "../../src/webhooks/body-budget.js";
import { createWebhookServer } from "../../src/webhooks/node-server.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import {
  batchBody,
  bytesOf,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  KEY,
  type Listening,
  listen,
  postSigned,
  waitUntil,
} from "./helpers.js";
import { finalStatus, openRaw, requestHead } from "./raw-client.js";

describe("BodyBudget", () => {
  it("never holds more than its size, and gives everything back on release", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.tuple(fc.nat({ max: 3 }), fc.integer({ min: 0, max: 5_000 })), { maxLength: 60 }),
        (size, steps) => {
          const budget = new BodyBudget(size);
          const leases = [budget.lease(), budget.lease(), budget.lease(), budget.lease()];
          const held = [0, 0, 0, 0];
          for (const [which, bytes] of steps) {
            const lease = leases[which] as (typeof leases)[number];
            const total = held.reduce((a, b) => a + b, 0);
            const granted = lease.grow(bytes);
            expect(granted).toBe(total + bytes <= size);
            if (granted) held[which] = (held[which] as number) + bytes;
            if (bytes % 7 === 0) {
              lease.release();
              lease.release(); // idempotent
              held[which] = 0;
            }
            expect(budget.bytesHeld).toBe(held.reduce((a, b) => a + b, 0));
            expect(budget.bytesHeld).toBeLessThanOrEqual(size);
          }
          for (const lease of leases) lease.release();
          expect(budget.bytesHeld).toBe(0);
        },
      ),
    );
  });

  it("refuses a size that is not a positive whole number, and a receiver whose budget is below its body limit", () => {
    expect(() => new BodyBudget(0)).toThrow(/positive whole number/);
    expect(
      () =>
        new WebhookReceiver({
          store: new MemoryEventStore(),
          apiKeys: [KEY],
          maxBodyBytes: 2048,
          maxBufferedBytes: 1024,
        }),
    ).toThrow(/must be at least maxBodyBytes/);
  });
});

const KIB = 1024;
const servers: { listening: Listening; receiver: WebhookReceiver }[] = [];
afterEach(async () => {
  for (const { listening, receiver } of servers.splice(0)) {
    await listening.close();
    receiver.close();
  }
});

describe("bodies held at once, over node:http", () => {
  it("answers 503 to the request that would take them over the budget, then serves again", async () => {
    const store = new MemoryEventStore();
    const receiver = new WebhookReceiver({
      store,
      apiKeys: [KEY],
      maxBodyBytes: 64 * KIB,
      maxBufferedBytes: 100 * KIB,
    });
    const listening = await listen(createWebhookServer(receiver, { path: "/webhook" }));
    servers.push({ listening, receiver });
    // Forged signatures of the right shape: each body must be read whole before it can be refused.
    const forged = requestHead("POST", "/webhook", {
      "X-Signature-SHA1": "0".repeat(40),
      "Content-Length": 60 * KIB,
    });
    const part = Buffer.alloc(40 * KIB, "x");
    const holders = [await openRaw(listening.port), await openRaw(listening.port)];
    for (const client of holders) client.write(Buffer.concat([Buffer.from(forged), part]));
    await waitUntil("80 KiB held", () => receiver.bodyBudget.bytesHeld === 80 * KIB);

    const third = await openRaw(listening.port);
    third.write(Buffer.concat([Buffer.from(forged), part]));
    await third.closed;
    expect(finalStatus(third.received())).toBe(503);
    expect(third.received().toLowerCase()).toContain("retry-after: 60");
    expect(receiver.counters().rejected.busy).toBe(1);
    expect(receiver.bodyBudget.bytesHeld).toBe(80 * KIB);

    // The holders finish their bodies: refused for their signature, and the budget is free again.
    for (const client of holders) client.write(Buffer.alloc(20 * KIB, "x"));
    for (const client of holders) await client.until((text) => finalStatus(text) === 401);
    await waitUntil("the budget freed", () => receiver.bodyBudget.bytesHeld === 0);
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1, "budget")]));
    expect((await postSigned(`${listening.url}/webhook`, body)).status).toBe(200);
    await expectStoredExactlyOnce(store, [digestOf(body)]);
    expect(receiver.bodyBudget.bytesHeld).toBe(0);
    for (const client of holders) client.destroy();
  });
});
