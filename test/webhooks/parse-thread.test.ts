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

/** The receiver's parse thread, with a count of the batches handed to it. */
interface ThreadHandle {
  ready: boolean;
  worker: { terminate(): Promise<number> };
  parse(deliveries: readonly unknown[]): Promise<unknown>;
}
function threadOf(receiver: unknown): ThreadHandle | undefined {
  return (receiver as { parser: { thread?: ThreadHandle } }).parser.thread;
}
function countBatches(thread: ThreadHandle): { batches: number } {
  const count = { batches: 0 };
  const parse = thread.parse.bind(thread);
  thread.parse = (deliveries) => {
    count.batches++;
    return parse(deliveries);
  };
  return count;
}
/** Resolves once the thread has loaded its modules (within 20 s). */
async function whenReady(thread: ThreadHandle): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!thread.ready) {
    if (Date.now() > deadline) throw new Error("the parse thread was not ready within 20 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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
  const thread = threadOf(receiver);
  if (thread !== undefined) await whenReady(thread);
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
    let count = { batches: 0 };
    const threaded = await appendedFor((store) => {
      const receiver = new compiled.WebhookReceiver({ store, apiKeys: [KEY] });
      const thread = threadOf(receiver);
      if (thread === undefined) throw new Error("no parse thread");
      count = countBatches(thread);
      return receiver;
    }, new compiled.MemoryEventStore());
    expect(count.batches).toBeGreaterThan(0);
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

  it("parses a batch at once on the calling thread while the thread is loading, and in the thread once it is ready", async () => {
    const store = new compiled.MemoryEventStore();
    const receiver = new compiled.WebhookReceiver({ store, apiKeys: [KEY] });
    const thread = threadOf(receiver);
    if (thread === undefined) throw new Error("no parse thread");
    const count = countBatches(thread);
    // Loading its modules takes a few hundred milliseconds: a delivery meanwhile is not kept waiting.
    expect(thread.ready).toBe(false);
    const [first, second] = bodies();
    if (first === undefined || second === undefined) throw new Error("no bodies");
    await receiver.receive({ rawBody: first, headers: signedHeaders(first) });
    await receiver.whenParsed();
    expect(receiver.counters()).toMatchObject({ stored: 1, accepted: 1 });
    const batchesWhileLoading = count.batches;
    await whenReady(thread);
    await receiver.receive({ rawBody: second, headers: signedHeaders(second) });
    await receiver.whenParsed();
    receiver.close();
    expect(receiver.counters()).toMatchObject({ stored: 2, accepted: 2 });
    expect(count.batches).toBe(batchesWhileLoading + 1);
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
    const thread = threadOf(receiver);
    if (thread === undefined) throw new Error("no parse thread");
    await whenReady(thread);
    // The worker dies before the first batch reaches it.
    await thread.worker.terminate();
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
