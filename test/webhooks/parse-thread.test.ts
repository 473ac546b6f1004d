import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import type * as Library from "../../src/index.js";
import { ParseThread } from "../../src/webhooks/parse-thread.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { batchBody, bytesOf, contactBody, enrichRecord, KEY, signedHeaders } from "./helpers.js";

// The parse thread runs the compiled worker (a plain Node worker cannot load TypeScript): these
// tests take the receiver from dist/ (`npm test` builds first), and compare what it appends with
// what the receiver from the sources appends, parsing on the calling thread.

const built = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));

/** Throws unless dist/ holds a build of the parse thread at least as new as its sources. */
function assertBuilt(): void {
  for (const name of ["parse-thread", "parse-worker", "delivery-parser", "delivery-events"]) {
    const source = fileURLToPath(new URL(`../../src/webhooks/${name}.ts`, import.meta.url));
    const compiled = built(`webhooks/${name}.js`);
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(`dist/ is older than src/webhooks/${name}.ts: run \`npm run build\` first`);
    }
  }
}

let compiled: typeof Library;
beforeAll(async () => {
  assertBuilt();
  compiled = (await import(built("index.js"))) as typeof Library;
});

/** Bodies of every kind a receiver parses: a batch, a contact event, and what gets quarantined. */
function bodies(): Buffer[] {
  const id = "8c1f9e0a-5d7b-4c2e-9a61-3f0b2d4e6a71";
  let deep: unknown = { end: true };
  for (let level = 0; level < 140; level++) deep = [deep];
  return [
    bytesOf(batchBody(id, [enrichRecord(1, "thread"), enrichRecord(2, "thread")])),
    bytesOf(contactBody(id, enrichRecord(3, "thread"))),
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytesOf(contactBody(id, enrichRecord(4, "bom")))]),
    Buffer.from('{"id":"x","status":'),
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    bytesOf({ id, status: "FINISHED", data: deep }),
    bytesOf({ status: "FINISHED", data: [] }),
  ];
}

/** What a receiver appended for `bodies`: each event's type, data and dedup key, in order. */
async function appendedFor(
  make: (store: InstanceType<typeof MemoryEventStore>) => {
    receive: WebhookReceiver["receive"];
    whenParsed(): Promise<void>;
    close(): void;
  },
  store: InstanceType<typeof MemoryEventStore>,
): Promise<unknown[]> {
  const receiver = make(store);
  try {
    for (const body of bodies()) {
      const answer = await receiver.receive({ rawBody: body, headers: signedHeaders(body) });
      expect(answer.status).toBe(200);
    }
    await receiver.whenParsed();
  } finally {
    receiver.close();
  }
  return (await store.read()).map(({ type, data, dedupKey }) => {
    // receivedAt is the clock's: the same for both only by chance.
    const { receivedAt: _, ...rest } = data as { receivedAt: number };
    return { type, data: rest, dedupKey };
  });
}

describe("the parse thread", () => {
  it("is there to start from the build, and not from the TypeScript sources", async () => {
    expect(ParseThread.available()).toBe(false);
    const thread = (await import(built("webhooks/parse-thread.js"))) as { ParseThread: typeof ParseThread };
    expect(thread.ParseThread.available()).toBe(true);
  });

  it("appends what parsing on the calling thread appends, for every kind of body", async () => {
    let threadUsed = false;
    const threaded = await appendedFor((store) => {
      const receiver = new compiled.WebhookReceiver({ store, apiKeys: [KEY] });
      const parser = (receiver as unknown as { parser: { thread?: unknown } }).parser;
      threadUsed = parser.thread !== undefined;
      return receiver;
    }, new compiled.MemoryEventStore());
    expect(threadUsed).toBe(true);
    const inline = await appendedFor(
      (store) => new WebhookReceiver({ store, apiKeys: [KEY] }),
      new MemoryEventStore(),
    );
    expect(threaded).toHaveLength(bodies().length * 2);
    expect(threaded).toEqual(inline);
    const types = threaded.map((event) => (event as { type: string }).type);
    expect(types.filter((type) => type === "webhook.received")).toHaveLength(3);
    expect(types.filter((type) => type === "webhook.quarantined")).toHaveLength(4);
  });

  it("parses on the calling thread with parseThread: false, and when the thread stops, says so and loses nothing", async () => {
    const off = new compiled.WebhookReceiver({
      store: new compiled.MemoryEventStore(),
      apiKeys: [KEY],
      parseThread: false,
    });
    expect((off as unknown as { parser: { thread?: unknown } }).parser.thread).toBeUndefined();
    off.close();

    const warnings: string[] = [];
    const store = new compiled.MemoryEventStore();
    const receiver = new compiled.WebhookReceiver({
      store,
      apiKeys: [KEY],
      logger: {
        debug: () => {},
        info: () => {},
        warn: (message: string) => warnings.push(message),
        error: () => {},
      },
    });
    const thread = (
      receiver as unknown as { parser: { thread: { started(): { terminate(): Promise<number> } } } }
    ).parser.thread;
    // The worker dies before the first batch reaches it.
    await thread.started().terminate();
    for (const body of bodies()) await receiver.receive({ rawBody: body, headers: signedHeaders(body) });
    await receiver.whenParsed();
    receiver.close();
    expect(receiver.counters()).toMatchObject({
      stored: bodies().length,
      accepted: 3,
      quarantined: 4,
      unparsed: 0,
    });
    expect(warnings.some((warning) => warning.includes("parse thread stopped"))).toBe(true);
  });
});
