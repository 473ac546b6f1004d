import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { dedupKeys, parseEvent, streams } from "../../src/events/event-types.js";
import type { AppendOptions, AppendResult, NewEvent } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { storedEvent } from "../../src/webhooks/delivery-events.js";
import { PARSER_CHECKPOINT } from "../../src/webhooks/delivery-parser.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { ForwardingStore } from "../support/forwarding-store.js";
import {
  batchBody,
  bytesOf,
  contactBody,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  KEY,
  outcomeOf,
  signedHeaders,
} from "./helpers.js";

// A delivery acknowledged is stored as it came (`webhook.stored`) and parsed after the answer. What
// a process stored but did not parse (killed in between, or its outcome's append failed) is parsed
// by the next receiver on the log, found from the parser's checkpoint.

const receivers: WebhookReceiver[] = [];
afterEach(() => {
  for (const receiver of receivers.splice(0)) receiver.close();
});

function receiverOn(store: MemoryEventStore | ForwardingStore): WebhookReceiver {
  const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
  receivers.push(receiver);
  return receiver;
}

/** Appends deliveries as a process killed right after its answers left them: stored, not parsed. */
async function storedOnly(store: MemoryEventStore, bodies: readonly Buffer[]): Promise<void> {
  for (const body of bodies) {
    const { event } = storedEvent(body, { digest: digestOf(body), verified: true, receivedAt: 1 });
    await store.append(streams.deliveries, [event]);
  }
}

/** The types of the deliveries stream, in order. */
async function types(store: MemoryEventStore): Promise<string[]> {
  return (await store.readStream(streams.deliveries)).map((event) => event.type);
}

/** An EventStore whose appends of parsed outcomes fail while `failing` is set. */
class OutcomeFailingStore extends ForwardingStore {
  failing = true;
  override append(
    stream: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    if (this.failing && events.some((event) => event.dedupKey?.startsWith("parsed@"))) {
      return Promise.reject(new Error("disk I/O error (simulated)"));
    }
    return this.inner.append(stream, events, options);
  }
}

/** An EventStore that holds the appends of parsed outcomes until {@link release}. */
class OutcomeHoldingStore extends ForwardingStore {
  heldOutcomes = 0;
  private released = false;
  private readonly gate: Promise<void>;
  private open: () => void = () => {};
  private requested: () => void = () => {};
  /** Resolves once an outcome's append is held. */
  readonly outcomeRequested: Promise<void>;

  constructor(inner: MemoryEventStore) {
    super(inner);
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
    this.outcomeRequested = new Promise((resolve) => {
      this.requested = resolve;
    });
  }

  release(): void {
    this.released = true;
    this.open();
  }

  override async append(
    stream: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    if (!this.released && events.some((event) => event.dedupKey?.startsWith("parsed@"))) {
      this.heldOutcomes += events.length;
      this.requested();
      await this.gate;
    }
    return this.inner.append(stream, events, options);
  }
}

describe("deliveries stored but not parsed", () => {
  it("are parsed by the next receiver created on the log, once each, in the order they were stored", async () => {
    const store = new MemoryEventStore();
    const id = randomUUID();
    const good = bytesOf(batchBody(id, [enrichRecord(1, "resume")]));
    const contact = bytesOf(contactBody(id, enrichRecord(2, "resume")));
    const broken = Buffer.from('{"id":"x","status":');
    await storedOnly(store, [good, contact, broken]);

    const receiver = receiverOn(store);
    await receiver.whenParsed();
    expect(await types(store)).toEqual([
      "webhook.stored",
      "webhook.stored",
      "webhook.stored",
      "webhook.received",
      "webhook.received",
      "webhook.quarantined",
    ]);
    const outcomes = (await store.readStream(streams.deliveries)).slice(3).map(parseEvent);
    expect(outcomes.map((event) => (event.data as { digest: string }).digest)).toEqual(
      [good, contact, broken].map(digestOf),
    );
    // Up to the head the sweep read: every stored delivery below it has its outcome.
    expect(await store.getCheckpoint(PARSER_CHECKPOINT)).toBe(3);

    // A second receiver reads on from there, finds nothing left to parse, and moves it on.
    const second = receiverOn(store);
    await second.whenParsed();
    expect(await store.head()).toBe(6);
    expect(await store.getCheckpoint(PARSER_CHECKPOINT)).toBe(6);
    expect(second.counters()).toMatchObject({ accepted: 0, quarantined: 0 });
  });

  it("keys each outcome by its delivery's position, and still recognises an outcome an earlier build keyed by digest", async () => {
    const store = new MemoryEventStore();
    const id = randomUUID();
    const older = bytesOf(batchBody(id, [enrichRecord(1, "older")]));
    const newer = bytesOf(contactBody(id, enrichRecord(2, "newer")));
    await storedOnly(store, [older, newer]);
    // An earlier build parsed the first one, under `parsed:<digest>`.
    const first = await store.findByDedupKey(dedupKeys.delivery(digestOf(older)));
    const firstData = parseEvent(first as NonNullable<typeof first>).data as { receivedAt: number };
    await store.append(streams.deliveries, [
      {
        type: "webhook.received",
        version: 1,
        data: {
          digest: digestOf(older),
          event: "batch",
          enrichmentId: id,
          verified: true,
          receivedAt: firstData.receivedAt,
        },
        dedupKey: dedupKeys.parsedByDigest(digestOf(older)),
      },
    ]);

    const receiver = receiverOn(store);
    await receiver.whenParsed();
    // Only the second was parsed: its outcome under the position of its `webhook.stored`.
    expect(receiver.counters()).toMatchObject({ accepted: 1, quarantined: 0 });
    const events = await store.readStream(streams.deliveries);
    expect(events.map((event) => event.dedupKey)).toEqual([
      dedupKeys.delivery(digestOf(older)),
      dedupKeys.delivery(digestOf(newer)),
      dedupKeys.parsedByDigest(digestOf(older)),
      dedupKeys.parsed(2),
    ]);
    expect(dedupKeys.parsed(2)).toBe("parsed@0000000000000002");
    expect(await store.getCheckpoint(PARSER_CHECKPOINT)).toBe(3);
  });

  it("when parsing falls behind, deliveries over the backlog bound are not held in memory, and are parsed from the log once it is", async () => {
    const inner = new MemoryEventStore();
    // Outcomes wait until released: parsing falls behind the deliveries arriving.
    const store = new OutcomeHoldingStore(inner);
    const body = (n: number) => bytesOf(batchBody(randomUUID(), [enrichRecord(n, "backlog")]));
    const bodies = Array.from({ length: 6 }, (_, n) => body(n));
    const size = bodies[0]?.byteLength ?? 0;
    // Room for two deliveries waiting to be parsed (each holds its text and its bytes).
    const receiver = new WebhookReceiver({ store, apiKeys: [KEY], maxParseBacklogBytes: 4 * size + 100 });
    receivers.push(receiver);
    for (const [index, raw] of bodies.entries()) {
      const answer = await receiver.receive({ rawBody: raw, headers: signedHeaders(raw) });
      expect(answer.status).toBe(200);
      // The first two wait to be parsed (their outcome held); the others were only stored.
      if (index === 1) await store.outcomeRequested;
    }
    expect(receiver.counters()).toMatchObject({ stored: 6, accepted: 0 });
    // The parser's next turn (a timer at 0 ms) has come and gone: nothing more was handed over.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.heldOutcomes).toBe(2);

    store.release();
    await receiver.whenParsed();
    // Every delivery parsed once: the two held, then the four others by the sweep after them.
    expect(receiver.counters()).toMatchObject({ stored: 6, accepted: 6, quarantined: 0 });
    await expectStoredExactlyOnce(inner, bodies.map(digestOf));
  });

  it("a retry of a delivery stored but not parsed is a duplicate, and the delivery is still parsed once", async () => {
    const store = new MemoryEventStore();
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1, "retry")]));
    await storedOnly(store, [body]);
    const receiver = receiverOn(store);
    const answer = await receiver.receive({ rawBody: body, headers: signedHeaders(body) });
    expect(JSON.parse(answer.body)).toEqual({ status: "duplicate" });
    await receiver.whenParsed();
    expect(await types(store)).toEqual(["webhook.stored", "webhook.received"]);
  });

  it("an outcome whose append failed stays stored, is counted, and is parsed by a later sweep", async () => {
    const inner = new MemoryEventStore();
    const store = new OutcomeFailingStore(inner);
    const receiver = receiverOn(store);
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1, "fail")]));
    const answer = await receiver.receive({ rawBody: body, headers: signedHeaders(body) });
    // Stored: acknowledged, whatever becomes of the parse.
    expect(answer.status).toBe(200);
    await receiver.whenParsed();
    expect(receiver.counters()).toMatchObject({ stored: 1, accepted: 0, unparsed: 1 });
    expect(await types(inner)).toEqual(["webhook.stored"]);
    // The checkpoint never passes a delivery without its outcome.
    expect(await inner.getCheckpoint(PARSER_CHECKPOINT)).toBe(0);

    store.failing = false;
    const next = receiverOn(store);
    await next.whenParsed();
    expect(await types(inner)).toEqual(["webhook.stored", "webhook.received"]);
    expect(await outcomeOf(inner, digestOf(body))).toBeDefined();
  });

  it("a body that is not UTF-8 is stored as base64, byte for byte, and quarantined when parsed", async () => {
    const store = new MemoryEventStore();
    const receiver = receiverOn(store);
    const body = Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0xff, 0x7d]);
    await receiver.receive({ rawBody: body, headers: signedHeaders(body) });
    await receiver.whenParsed();
    const [stored, outcome] = (await store.readStream(streams.deliveries)).map(parseEvent);
    if (stored?.type !== "webhook.stored") throw new Error("expected webhook.stored first");
    expect(stored.data.encoding).toBe("base64");
    expect(Buffer.from(stored.data.body, "base64")).toEqual(body);
    expect(outcome?.type).toBe("webhook.quarantined");
  });
});
