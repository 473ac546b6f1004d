import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import * as fc from "fast-check";
import { VirtualTimeScheduler } from "rxjs";
import { afterAll, describe, expect, it } from "vitest";
import { withPayload } from "../../src/events/delivery-body.js";
import { parseEvent, streams } from "../../src/events/event-types.js";
import type { EventStore, NewEvent, StoredEvent } from "../../src/events/store.js";
import { MemoryEventStore, SqliteEventStore } from "../../src/events/stores/index.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { batchBody, contactBody, digestOf, enrichRecord, KEY, signedHeaders, single } from "./helpers.js";

// The receiver stores a delivery's bytes once (`webhook.stored`, before its answer) and parses it
// after into a `webhook.received` that carries what the engine routes it by, not the payload again.
// What the engine reads back (`withPayload`) must be exactly {digest, event, enrichmentId, kind,
// verified, receivedAt, payload: JSON.parse(body text)}, from the memory store and from SQLite.

const RECEIVED_AT = 1_764_000_000_123;
const directories: string[] = [];

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

function receiverOn(store: EventStore): WebhookReceiver {
  const scheduler = new VirtualTimeScheduler();
  scheduler.frame = RECEIVED_AT;
  return new WebhookReceiver({ store, apiKeys: [KEY], scheduler });
}

/** An EventStore that records what `append` was given (and delegates). */
class RecordingStore extends MemoryEventStore {
  readonly given: NewEvent[] = [];
  override append(...args: Parameters<MemoryEventStore["append"]>): ReturnType<MemoryEventStore["append"]> {
    this.given.push(...args[1]);
    return super.append(...args);
  }
}

/** What the engine must read back for a body: the fields, and the payload as JSON.parse reads the text. */
function expectedData(bytes: Buffer, text: string, event: "batch" | "contact", enrichmentId: string) {
  const payload = JSON.parse(text) as { status?: unknown };
  return {
    digest: digestOf(bytes),
    event,
    enrichmentId,
    // A record whose input is an email answers a reverse lookup.
    kind: text.includes('"input":{"email"') ? "reverse" : "enrich",
    verified: true,
    receivedAt: RECEIVED_AT,
    payload,
    // Kept apart from the payload for the projection (the provider's timings).
    ...(typeof payload.status === "string" ? { status: payload.status } : {}),
  };
}

/**
 * Delivers `bytes`, expects "accepted", waits for it to be parsed, checks that the delivery was
 * stored first with the very bytes it came with, and returns the parsed event as the engine reads
 * it (its payload from the stored body).
 */
async function deliver(store: EventStore, bytes: Buffer): Promise<StoredEvent> {
  const receiver = receiverOn(store);
  const answer = await receiver.receive({ rawBody: bytes, headers: signedHeaders(bytes) });
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body)).toEqual({ status: "accepted" });
  await receiver.whenParsed();
  receiver.close();
  const [stored, parsed, ...rest] = await store.readStream(streams.deliveries);
  expect(rest).toEqual([]);
  const raw = parseEvent(stored as StoredEvent);
  if (raw.type !== "webhook.stored") throw new Error(`expected webhook.stored first, got ${raw.type}`);
  expect(raw.data.encoding).toBe("utf8");
  expect(Buffer.from(raw.data.body, "utf8").equals(bytes)).toBe(true);
  const outcome = parseEvent(parsed as StoredEvent);
  if (outcome.type !== "webhook.received") throw new Error(`expected webhook.received, got ${outcome.type}`);
  // The body is written once: the parsed event does not carry it again.
  expect(outcome.data.payload).toBeUndefined();
  const complete = await withPayload(store, outcome);
  if (!complete) throw new Error("the payload could not be read back");
  return { ...(parsed as StoredEvent), data: complete.data };
}

/** Bodies whose text is valid JSON but not what JSON.stringify would write. */
function oddBodies(): { name: string; bytes: Buffer; text: string }[] {
  const id = randomUUID();
  const compact = JSON.stringify(contactBody(id, enrichRecord(1, "splice")));
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const make = (name: string, text: string, prefix: Buffer = Buffer.alloc(0)) => ({
    name,
    bytes: Buffer.concat([prefix, Buffer.from(text, "utf8")]),
    text,
  });
  return [
    make("a body with a leading BOM and whitespace around it", ` \r\n\t${compact}\n\n \t`, bom),
    make("a body with a leading BOM only", compact, bom),
    make("a pretty-printed body", JSON.stringify(contactBody(id, enrichRecord(2, "pretty")), null, 2)),
    make(
      "a body with escapes, exponents, big numbers, a repeated key and __proto__",
      `{ "id" : "${id}", "status":"IN_PROGRESS", "name":"x", "name":"Zo\\u00eb \\ud83d\\ude00 \\\\ \\" \\/ \u2028 é",` +
        ` "cost":{"credits":1.50E1,"big":12345678901234567890,"neg":-0,"tiny":1e-400},` +
        ` "__proto__":{"polluted":true}, "data":[{"input":{"email":"a@b.c"},"custom":{"k":[ ]}}] }`,
    ),
  ];
}

describe("a parsed delivery's payload is the stored body, read back exactly", () => {
  it("hands the store the body once: as the stored event's text, not as the parsed event's payload", async () => {
    const store = new RecordingStore();
    const [body] = oddBodies();
    if (body === undefined) throw new Error("no body");
    await deliver(store, body.bytes);
    expect(store.given.map((event) => event.type)).toEqual(["webhook.stored", "webhook.received"]);
    const received = store.given[1];
    expect(received?.dataJson).toBeUndefined();
    expect(JSON.stringify(received?.data).length).toBeLessThan(400);
    await store.close();
  });

  for (const body of oddBodies()) {
    it(`stores ${body.name} so that it parses back to exactly the payload JSON.parse read`, async () => {
      const memory = new MemoryEventStore();
      const expected = expectedData(
        body.bytes,
        body.text,
        "contact",
        (JSON.parse(body.text) as { id: string }).id,
      );
      const inMemory = await deliver(memory, body.bytes);
      expect(inMemory.data).toStrictEqual(expected);
      await memory.close();

      const directory = await mkdtemp(join(tmpdir(), "fullenrich-rx-splice-"));
      directories.push(directory);
      const path = join(directory, "events.db");
      const sqlite = await SqliteEventStore.open(path);
      const stored = await deliver(sqlite, body.bytes);
      expect(stored.data).toStrictEqual(expected);
      await sqlite.close();
      // Read back by another connection: the column holds valid JSON text with the same meaning.
      const raw = new Database(path, { readonly: true });
      try {
        const text =
          raw.prepare<[], { data: string }>("SELECT data FROM events WHERE type = 'webhook.stored'").get()
            ?.data ?? "";
        const storedBody = (JSON.parse(text) as { body: string }).body;
        expect(Buffer.from(storedBody, "utf8").equals(body.bytes)).toBe(true);
      } finally {
        raw.close();
      }
      const reopened = await SqliteEventStore.open(path);
      const read = (await reopened.read()).map(parseEvent);
      const received = single(read.filter((event) => event.type === "webhook.received"));
      if (received.type !== "webhook.received") throw new Error("expected webhook.received");
      expect((await withPayload(reopened, received))?.data).toStrictEqual(expected);
      await reopened.close();
    });
  }

  it("keeps `__proto__` an own key of the payload, as JSON.parse does", async () => {
    const store = new MemoryEventStore();
    const body = oddBodies()[3];
    if (body === undefined) throw new Error("no body");
    const stored = await deliver(store, body.bytes);
    const payload = (stored.data as { payload: Record<string, unknown> }).payload;
    expect(Object.hasOwn(payload, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    expect(payload.name).toBe('Zoë \u{1F600} \\ " / \u2028 é');
    await store.close();
  });

  it("holds for any JSON value inside the body, with any JSON whitespace around it", async () => {
    const whitespace = fc
      .array(fc.constantFrom(" ", "\t", "\n", "\r"), { maxLength: 4 })
      .map((s) => s.join(""));
    await fc.assert(
      fc.asyncProperty(fc.json(), whitespace, whitespace, fc.boolean(), async (extra, before, after, bom) => {
        const id = randomUUID();
        const text = `${before}{"id":"${id}","status":"FINISHED","data":[],"extra":${extra}}${after}`;
        const bytes = Buffer.concat([
          bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0),
          Buffer.from(text, "utf8"),
        ]);
        const store = new MemoryEventStore();
        const stored = await deliver(store, bytes);
        expect(stored.data).toStrictEqual(expectedData(bytes, text, "batch", id));
        await store.close();
      }),
      { numRuns: 200 },
    );
  });

  it("still stores a batch body as received (the usual, compact case)", async () => {
    const store = new MemoryEventStore();
    const id = randomUUID();
    const text = JSON.stringify(batchBody(id, [enrichRecord(3, "b"), enrichRecord(4, "b")]));
    const bytes = Buffer.from(text);
    const stored = await deliver(store, bytes);
    expect(stored.data).toStrictEqual(expectedData(bytes, text, "batch", id));
    await store.close();
  });
});
