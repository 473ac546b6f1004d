import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withPayload } from "../../src/events/delivery-body.js";
import { type EventData, parseEvent } from "../../src/events/event-types.js";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore, SqliteEventStore } from "../../src/events/stores/index.js";
import { streamLogger } from "../../src/internal/logger.js";
import {
  type AcceptedDelivery,
  type ReceiverCounters,
  WebhookReceiver,
} from "../../src/webhooks/receiver.js";
import {
  batchBody,
  bytesOf,
  contactBody,
  deliveryEvents,
  digestOf,
  enrichRecord,
  expectStoredExactlyOnce,
  KEY,
  type Listening,
  post,
  postSigned,
  rawExchange,
  reverseRecord,
  serveNode,
  sign,
  signedHeaders,
  single,
  statusOf,
} from "./helpers.js";

const noRejections: ReceiverCounters["rejected"] = {
  method: 0,
  "not-found": 0,
  "too-large": 0,
  busy: 0,
  "missing-signature": 0,
  "bad-signature": 0,
  malformed: 0,
};

interface Setup {
  store: EventStore;
  receiver: WebhookReceiver;
  server: Listening;
  accepted: AcceptedDelivery[];
}

const open: Setup[] = [];

async function setup(
  options: { maxBodyBytes?: number; verifySignatures?: boolean; store?: EventStore } = {},
): Promise<Setup> {
  const store = options.store ?? new MemoryEventStore();
  const receiver = new WebhookReceiver({
    store,
    apiKeys: options.verifySignatures === false ? [] : [KEY],
    ...(options.verifySignatures === undefined ? {} : { verifySignatures: options.verifySignatures }),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });
  const accepted: AcceptedDelivery[] = [];
  receiver.deliveries$.subscribe((delivery) => accepted.push(delivery));
  const server = await serveNode(receiver);
  const created = { store, receiver, server, accepted };
  open.push(created);
  return created;
}

afterEach(async () => {
  for (const { server, receiver, store } of open.splice(0)) {
    await server.close();
    receiver.close();
    await store.close();
  }
});

describe("signatures", () => {
  it("refuses a delivery without a signature with 401 and stores nothing", async () => {
    const { store, receiver, server, accepted } = await setup();
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const answer = await post(server.url, body, { "content-type": "application/json" });
    expect(answer.status).toBe(401);
    expect(answer.json.error).toMatch(/missing x-signature-sha1/);
    expect(receiver.counters()).toMatchObject({
      accepted: 0,
      rejected: { ...noRejections, "missing-signature": 1 },
    });
    expect(accepted).toEqual([]);
    expect(await store.head()).toBe(0);
  });

  it("refuses forged, garbage and empty signatures with 401 and stores nothing", async () => {
    const { store, receiver, server } = await setup();
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const forged = [
      sign(body, "another-workspace-key"),
      sign(Buffer.concat([body, Buffer.from(" ")])), // the right key, other bytes
      `sha1=${sign(body)}`,
      sign(body).slice(0, 39),
      "not-hex-at-all",
      "",
    ];
    for (const signature of forged) {
      const answer = await post(server.url, body, {
        "content-type": "application/json",
        "x-signature-sha1": signature,
      });
      expect(answer.status, signature).toBe(401);
    }
    expect(receiver.counters().rejected).toEqual({ ...noRejections, "bad-signature": forged.length });
    expect(await store.head()).toBe(0);
  });

  it("accepts the signature whatever the header name's case, and in upper-case hex", async () => {
    const { store, server } = await setup();
    const first = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const second = bytesOf(batchBody(randomUUID(), [enrichRecord(2)]));
    expect((await post(server.url, first, { "X-SIGNATURE-SHA1": sign(first) })).status).toBe(200);
    expect((await post(server.url, second, { "x-signature-sha1": sign(second).toUpperCase() })).status).toBe(
      200,
    );
    await expectStoredExactlyOnce(store, [digestOf(first), digestOf(second)]);
  });

  it("accepts any of several keys during a key rotation", async () => {
    const store = new MemoryEventStore();
    const receiver = new WebhookReceiver({ store, apiKeys: ["old-key", KEY] });
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const other = bytesOf(batchBody(randomUUID(), [enrichRecord(2)]));
    expect((await receiver.receive({ rawBody: body, headers: signedHeaders(body, "old-key") })).status).toBe(
      200,
    );
    expect((await receiver.receive({ rawBody: other, headers: signedHeaders(other) })).status).toBe(200);
    await expectStoredExactlyOnce(store, [digestOf(body), digestOf(other)]);
  });
});

describe("signed bodies the receiver cannot parse", () => {
  const cases: Array<{ name: string; body: Buffer; reason: RegExp; encoding: "utf8" | "base64" }> = [
    {
      name: "truncated JSON",
      body: bytesOf(batchBody("e-trunc", [enrichRecord(1)])).subarray(0, 120),
      reason: /^not JSON/,
      encoding: "utf8",
    },
    {
      name: "no status",
      body: bytesOf({ id: "e-1", data: [] }),
      reason: /does not match the delivery schema: status: missing/,
      encoding: "utf8",
    },
    {
      name: "a status that is not a string",
      body: bytesOf({ id: "e-1", status: 3, data: [] }),
      reason: /does not match the delivery schema: status: expected a string, got 3/,
      encoding: "utf8",
    },
    {
      name: "data that is not a list",
      body: bytesOf({ id: "e-2", status: "FINISHED", data: { first_name: "Ada" } }),
      reason: /does not match the delivery schema: data/,
      encoding: "utf8",
    },
    {
      name: "no id",
      body: bytesOf({ status: "FINISHED", data: [] }),
      reason: /does not say which enrichment it belongs to: id: missing/,
      encoding: "utf8",
    },
    {
      name: "an id that is not a string",
      body: bytesOf({ id: 42, status: "FINISHED", data: [] }),
      reason: /does not say which enrichment it belongs to: id: missing/,
      encoding: "utf8",
    },
    {
      name: "a JSON array",
      body: bytesOf([{ id: "e-3", status: "FINISHED" }]),
      reason: /not a JSON object/,
      encoding: "utf8",
    },
    {
      name: "a per-contact event whose record says which contact it answers neither by custom nor by input",
      body: bytesOf({ id: "e-4", status: "IN_PROGRESS", data: [{ contact_info: { phones: [] } }] }),
      reason: /a IN_PROGRESS delivery with 1 of its 1 records saying neither which contact they answer/,
      encoding: "utf8",
    },
    {
      name: "a per-contact event whose record is not an object",
      body: bytesOf({ id: "e-5", status: "IN_PROGRESS", datas: ["ada@example.com"] }),
      reason: /1 of its 1 records saying neither which contact/,
      encoding: "utf8",
    },
    {
      name: "bytes that are not UTF-8",
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      reason: /not valid UTF-8/,
      encoding: "base64",
    },
  ];

  for (const sample of cases) {
    it(`quarantines ${sample.name} (200, raw body and reason kept), and a retry is a duplicate`, async () => {
      const { store, receiver, server, accepted } = await setup();
      const first = await postSigned(server.url, sample.body);
      expect(first.status).toBe(200);
      // Acknowledged once stored; found unreadable only when parsed, after the answer.
      expect(first.json).toEqual({ status: "accepted" });
      await receiver.whenParsed();

      const retry = await postSigned(server.url, sample.body);
      expect(retry.status).toBe(200);
      expect(retry.json).toEqual({ status: "duplicate" });

      const digest = digestOf(sample.body);
      const parsed = parseEvent(single(await expectStoredExactlyOnce(store, [digest])));
      if (parsed.type !== "webhook.quarantined")
        throw new Error(`expected a quarantined event, got ${parsed.type}`);
      expect(parsed.data.reason).toMatch(sample.reason);
      expect(parsed.data.encoding).toBe(sample.encoding);
      expect(Buffer.from(parsed.data.body, parsed.data.encoding)).toEqual(sample.body);
      expect(parsed.data.verified).toBe(true);
      expect(parsed.data.digest).toBe(digest);

      expect(receiver.counters()).toMatchObject({ accepted: 0, quarantined: 1, duplicate: 1 });
      expect(
        accepted.map(({ quarantined, duplicate, event: kind }) => ({ quarantined, duplicate, kind })),
      ).toEqual([
        { quarantined: true, duplicate: false, kind: null },
        // A retry is not parsed again.
        { quarantined: false, duplicate: true, kind: null },
      ]);
    });
  }

  it("keeps excerpts of the body out of the quarantine reason and the logs", async () => {
    const store = new MemoryEventStore();
    const lines: string[] = [];
    const receiver = new WebhookReceiver({
      store,
      apiKeys: [KEY],
      logger: streamLogger("debug", (line) => lines.push(line)),
    });
    // V8 quotes the text around an unexpected token in JSON.parse's message.
    const bodies = [
      Buffer.from('{"email": ada.lovelace@example.com}'),
      Buffer.from(
        `{"id":"e","status":"FINISHED","data":[{"custom":{"note":"Ada Lovelace"}}] ${"x".repeat(50)}`,
      ),
    ];
    for (const rawBody of bodies) {
      const answer = await receiver.receive({ rawBody, headers: signedHeaders(rawBody) });
      expect(JSON.parse(answer.body)).toEqual({ status: "accepted" });
    }
    await receiver.whenParsed();
    const reasons = (await deliveryEvents(store)).quarantined.map(
      (event) => (event.data as { reason: string }).reason,
    );
    expect(reasons).toHaveLength(2);
    for (const text of [...reasons, ...lines.filter((line) => / (warn|info|error): /.test(line))]) {
      expect(text).not.toMatch(/lovelace|Ada/i);
    }
    expect(reasons[0]).toMatch(/^not JSON: Unexpected token .* \(excerpt omitted\)$/);
  });

  it("with verifySignatures: false, refuses a malformed body with 400 and stores nothing", async () => {
    const { store, receiver, server } = await setup({ verifySignatures: false });
    for (const body of [Buffer.from('{"id":"e-1","status":"FINI'), bytesOf({ status: "FINISHED" })]) {
      const answer = await post(server.url, body, { "content-type": "application/json" });
      expect(answer.status).toBe(400);
      expect(answer.json.error).toMatch(/^malformed delivery/);
    }
    expect(receiver.counters().rejected).toEqual({ ...noRejections, malformed: 2 });
    expect(await store.head()).toBe(0);

    // A well-formed unsigned body is stored, marked unverified.
    const good = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    expect((await post(server.url, good, { "content-type": "application/json" })).status).toBe(200);
    const event = single(await expectStoredExactlyOnce(store, [digestOf(good)]));
    expect((event.data as { verified: boolean }).verified).toBe(false);
  });
});

describe("bodies over maxBodyBytes", () => {
  const MAX = 1024;
  const big = Buffer.alloc(64 * 1024, "a");

  it("answers 413 from the content-length alone, without reading the body, and closes the connection", async () => {
    const { store, receiver, server } = await setup({ maxBodyBytes: MAX });
    // Headers only: a server that waited for the body would never answer.
    const exchange = await rawExchange(
      server.port,
      "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        `X-Signature-SHA1: ${sign(big)}\r\nContent-Length: ${big.length}\r\n\r\n`,
    );
    expect(statusOf(exchange.response)).toBe(413);
    expect(exchange.response.toLowerCase()).toContain("connection: close");
    expect(exchange.closed).toBe(true);
    expect(receiver.counters().rejected).toEqual({ ...noRejections, "too-large": 1 });
    expect(await store.head()).toBe(0);
  });

  it("answers 413 to the whole 64 KB body sent with its content-length", async () => {
    const { store, server } = await setup({ maxBodyBytes: MAX });
    const exchange = await rawExchange(
      server.port,
      "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        `X-Signature-SHA1: ${sign(big)}\r\nContent-Length: ${big.length}\r\n\r\n`,
      [big],
    );
    expect(statusOf(exchange.response)).toBe(413);
    expect(exchange.closed).toBe(true);
    expect(await store.head()).toBe(0);
  });

  it("answers 413 to a chunked body as soon as it goes over the limit, and closes the connection", async () => {
    const { store, receiver, server } = await setup({ maxBodyBytes: MAX });
    const chunk = Buffer.alloc(600, "b");
    const encoded = (data: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
    // Two chunks (1200 bytes) and no terminating chunk: the server cannot have waited for the end.
    const exchange = await rawExchange(
      server.port,
      "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        `X-Signature-SHA1: ${sign(big)}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      [encoded(chunk), encoded(chunk)],
    );
    expect(statusOf(exchange.response)).toBe(413);
    expect(exchange.closed).toBe(true);
    expect(receiver.counters().rejected["too-large"]).toBe(1);
    expect(await store.head()).toBe(0);
  });

  it("still accepts a signed body of exactly maxBodyBytes", async () => {
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    const { store, server } = await setup({ maxBodyBytes: body.length });
    expect((await postSigned(server.url, body)).status).toBe(200);
    await expectStoredExactlyOnce(store, [digestOf(body)]);
  });
});

describe("methods", () => {
  it("answers 405 with Allow: POST to anything but POST, and stores nothing", async () => {
    const { store, receiver, server } = await setup();
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1)]));
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const answer = await post(server.url, body, signedHeaders(body), method);
      expect(answer.status, method).toBe(405);
      expect(answer.headers.get("allow")).toBe("POST");
    }
    expect(receiver.counters().rejected).toEqual({ ...noRejections, method: 4 });
    expect(await store.head()).toBe(0);
  });
});

describe("100 deliveries at once, on a SQLite store", () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), "fullenrich-rx-webhooks-"));
  });
  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it("stores 100 distinct deliveries once each, and the same 100 again are all duplicates", async () => {
    const path = join(directory, "concurrent.db");
    const store = await SqliteEventStore.open(path);
    const { receiver, server } = await setup({ store });
    const id = randomUUID();
    const bodies = Array.from({ length: 100 }, (_, index) =>
      bytesOf(contactBody(id, enrichRecord(index, "c100"), index + 1)),
    );

    const first = await Promise.all(bodies.map((body) => postSigned(server.url, body)));
    expect(first.map((answer) => answer.status)).toEqual(bodies.map(() => 200));
    expect(first.every((answer) => answer.json.status === "accepted")).toBe(true);
    await receiver.whenParsed();
    await expectStoredExactlyOnce(store, bodies.map(digestOf));

    const again = await Promise.all(bodies.map((body) => postSigned(server.url, body)));
    expect(again.map((answer) => answer.status)).toEqual(bodies.map(() => 200));
    expect(again.every((answer) => answer.json.status === "duplicate")).toBe(true);
    expect(receiver.counters()).toMatchObject({
      accepted: 100,
      duplicate: 100,
      quarantined: 0,
      storeErrors: 0,
    });
    await expectStoredExactlyOnce(store, bodies.map(digestOf));
    // Each delivery as it came, then its parsed outcome.
    expect(await store.head()).toBe(200);

    // Acknowledged means committed: another connection to the file sees all 100.
    const reader = await SqliteEventStore.open(path, { checkpointIntervalMs: 0 });
    try {
      expect((await deliveryEvents(reader)).received).toHaveLength(100);
    } finally {
      await reader.close();
    }
  });
});

describe("signed bodies the SQLite store could not hold as JSON", () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), "fullenrich-rx-webhooks-deep-"));
  });
  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it("quarantines a deeply nested payload instead of answering 503 to every retry", async () => {
    const store = await SqliteEventStore.open(join(directory, "deep.db"));
    const { receiver, server } = await setup({ store });
    // SQLite's json_valid() refuses nesting beyond 1000 levels: stored as a payload, the append
    // would fail its CHECK constraint on every retry and the delivery would be lost.
    const depth = 1500;
    const deep = Buffer.from(
      `{"id":"${randomUUID()}","status":"FINISHED","data":[],"extra":${"[".repeat(depth)}${"]".repeat(depth)}}`,
    );
    const first = await postSigned(server.url, deep);
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ status: "accepted" });
    await receiver.whenParsed();
    expect((await postSigned(server.url, deep)).json).toEqual({ status: "duplicate" });
    const event = single(await expectStoredExactlyOnce(store, [digestOf(deep)]));
    expect((event.data as { reason: string }).reason).toMatch(/nested/);
    expect(Buffer.from((event.data as { body: string }).body)).toEqual(deep);
    expect(receiver.counters()).toMatchObject({ quarantined: 1, duplicate: 1, storeErrors: 0 });
  });

  it("stores escaped lone surrogates, NUL escapes and long numbers as received", async () => {
    const store = await SqliteEventStore.open(join(directory, "odd.db"));
    const { server } = await setup({ store });
    const body = Buffer.from(
      `{"id":"${randomUUID()}","name":"\\ud800 \\u0000 é","status":"FINISHED","cost":{"credits":12345678901234567890},"data":[]}`,
    );
    expect((await postSigned(server.url, body)).json).toEqual({ status: "accepted" });
    await expectStoredExactlyOnce(store, [digestOf(body)]);
  });
});

describe("deliveries nobody here asked for", () => {
  it("stores deliveries of enrichments this process never started, reverse lookups, and contact events after their batch", async () => {
    const { store, receiver, server, accepted } = await setup();
    const stranger = randomUUID();
    const reverseId = randomUUID();
    const records = [0, 1, 2].map((index) => enrichRecord(index, "late"));
    const reverse = [0, 1].map((index) => reverseRecord(index, "rev"));
    const bodies = [
      // An enrichment started elsewhere: its batch event first, then its per-contact events.
      bytesOf(batchBody(stranger, records)),
      ...records.map((record, index) => bytesOf(contactBody(stranger, record, index + 1))),
      // A reverse lookup: records with input {email}.
      ...reverse.map((record, index) => bytesOf(contactBody(reverseId, record, index + 1))),
      bytesOf(batchBody(reverseId, reverse)),
      // Other final statuses, and an old v1 body with `datas`.
      bytesOf(batchBody(randomUUID(), [], "CANCELED")),
      bytesOf(batchBody(randomUUID(), [enrichRecord(9, "credits")], "CREDITS_INSUFFICIENT")),
      bytesOf({ id: randomUUID(), status: "FINISHED", datas: [enrichRecord(5, "v1")] }),
    ];
    for (const body of bodies) {
      const answer = await postSigned(server.url, body);
      expect(answer.status).toBe(200);
      expect(answer.json.status).toBe("accepted");
    }
    const stored = await expectStoredExactlyOnce(store, bodies.map(digestOf));
    const kinds = stored.map((event) => {
      const parsed = parseEvent(event);
      if (parsed.type !== "webhook.received") throw new Error(`unexpected ${parsed.type}`);
      return `${parsed.data.event}:${parsed.data.enrichmentId === stranger ? "stranger" : parsed.data.enrichmentId === reverseId ? "reverse" : "other"}`;
    });
    expect(kinds).toEqual([
      "batch:stranger",
      "contact:stranger",
      "contact:stranger",
      "contact:stranger",
      "contact:reverse",
      "contact:reverse",
      "batch:reverse",
      "batch:other",
      "batch:other",
      "batch:other",
    ]);
    // The payload is kept as received, reverse-lookup input included: the engine reads it back.
    const reverseEvent = parseEvent(stored[4] as NonNullable<(typeof stored)[number]>);
    if (reverseEvent.type !== "webhook.received") throw new Error(`unexpected ${reverseEvent.type}`);
    expect(reverseEvent.data.kind).toBe("reverse");
    expect((await withPayload(store, reverseEvent))?.data).toMatchObject({
      payload: { data: [{ input: { email: "person.rev.0@example.org" } }] },
    });
    expect(receiver.counters()).toMatchObject({ accepted: bodies.length, duplicate: 0, quarantined: 0 });
    expect(accepted).toHaveLength(bodies.length);
  });
});

describe("deliveries shaped the way the live API sends them are stored, not quarantined", () => {
  it("nulls, empty contact_info, unknown fields, `datas`, and statuses that are not final (records or none)", async () => {
    const { store, receiver, server } = await setup();
    const live = {
      input: { first_name: "Ada", last_name: "Lovelace", company_domain: "example.com", full_name: null },
      custom: { row: "1" },
      contact_info: {
        most_probable_work_email: { email: "ada@example.com", status: null, source: "x" },
        most_probable_personal_email: null,
        most_probable_phone: { number: "+44 7700 900123", region: null },
        work_emails: [{ email: "ada@example.com", status: "INVALID_DOMAIN" }, "not an entry"],
        personal_emails: null,
        phones: [],
      },
      profile: null,
      enriched_at: "2024-1-0T00:00:00Z",
    };
    const nothingFound = { input: { email: "nobody@example.org" }, custom: null, contact_info: {} };
    const bodies = [
      { id: randomUUID(), status: "FINISHED", cost: { credits: null }, data: [live, nothingFound], extra: 1 },
      { id: randomUUID(), status: "RATE_LIMIT", data: [live] },
      { id: randomUUID(), status: "UNKNOWN", data: null },
      { id: randomUUID(), status: "PAUSED_BY_PROVIDER", datas: [live] },
      { id: randomUUID(), status: "IN_PROGRESS", data: [] },
      { id: randomUUID(), name: null, status: "CANCELED", cost: null, datas: null },
    ].map(bytesOf);
    for (const body of bodies) {
      const answer = await postSigned(server.url, body);
      expect(answer.status).toBe(200);
      expect(answer.json.status).toBe("accepted");
    }
    const stored = await expectStoredExactlyOnce(store, bodies.map(digestOf));
    const events: EventData<"webhook.received">[] = [];
    for (const event of stored) {
      const parsed = parseEvent(event);
      if (parsed.type !== "webhook.received") throw new Error(`unexpected ${parsed.type}`);
      events.push((await withPayload(store, parsed))?.data ?? parsed.data);
    }
    // Only a final status is a batch event; the payload is kept exactly as it came.
    expect(events.map((data) => data.event)).toEqual([
      "batch",
      "contact",
      "contact",
      "contact",
      "contact",
      "batch",
    ]);
    expect(events[0]?.payload).toEqual(JSON.parse(bodies[0]?.toString() ?? ""));
    expect(receiver.counters()).toMatchObject({ accepted: bodies.length, quarantined: 0 });
  });
});
