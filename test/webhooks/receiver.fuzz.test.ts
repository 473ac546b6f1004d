import { timingSafeEqual } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dedupKeys, parseEvent } from "../../src/events/event-types.js";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { type HeaderBag, WebhookReceiver } from "../../src/webhooks/receiver.js";
import {
  batchBody,
  bytesOf,
  contactBody,
  digestOf,
  enrichRecord,
  KEY,
  reverseRecord,
  sign,
} from "./helpers.js";

const MAX_BODY_BYTES = 4096;

// --- bodies ---------------------------------------------------------------------------------

const STATUSES = [
  "FINISHED",
  "IN_PROGRESS",
  "CANCELED",
  "CREDITS_INSUFFICIENT",
  "CREATED",
  "RATE_LIMIT",
  "UNKNOWN",
  "finished",
  "DONE",
  "",
];

const record = fc.record(
  {
    input: fc.oneof(
      fc.record(
        {
          first_name: fc.string(),
          last_name: fc.string(),
          company_domain: fc.string(),
          email: fc.oneof(fc.emailAddress(), fc.integer()),
        },
        { requiredKeys: [] },
      ),
      fc.constant(null),
      fc.string(),
    ),
    custom: fc.oneof(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())), fc.constant(null)),
    contact_info: fc.oneof(
      fc.record(
        {
          most_probable_work_email: fc.record({
            email: fc.emailAddress(),
            status: fc.constantFrom("DELIVERABLE", "CATCH_ALL"),
          }),
          phones: fc.array(fc.record({ number: fc.string(), region: fc.string() }), { maxLength: 2 }),
          work_emails: fc.oneof(fc.array(fc.record({ email: fc.string() }), { maxLength: 2 }), fc.string()),
        },
        { requiredKeys: [] },
      ),
      fc.constant(null),
    ),
    profile: fc.option(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })),
  },
  { requiredKeys: [] },
);

/** Payloads that are, or are close to, what the provider sends. */
const nearValidObject = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.constant(""), fc.integer(), fc.constant(null)),
    name: fc.string(),
    status: fc.oneof(fc.constantFrom(...STATUSES), fc.integer()),
    cost: fc.oneof(fc.record({ credits: fc.oneof(fc.nat(), fc.string()) }), fc.constant(null)),
    data: fc.oneof(
      fc.array(record, { maxLength: 3 }),
      fc.constant(null),
      fc.string(),
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }),
    ),
    datas: fc.array(record, { maxLength: 2 }),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: ["status"] },
);

const nearValidBytes = fc
  .tuple(nearValidObject, fc.oneof(fc.constant("whole" as const), fc.nat(), fc.constant("pretty" as const)))
  .map(([object, cut]) => {
    const text = cut === "pretty" ? JSON.stringify(object, null, 2) : JSON.stringify(object);
    const bytes = Buffer.from(text, "utf8");
    return typeof cut === "number" ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
  });

/** Well-formed batch and per-contact events, enrichments and reverse lookups. */
const validBytes = fc
  .record({
    id: fc.uuid(),
    status: fc.constantFrom("FINISHED", "CANCELED", "CREDITS_INSUFFICIENT", "IN_PROGRESS"),
    rows: fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 3 }),
    reverse: fc.boolean(),
  })
  .map(({ id, status, rows, reverse }) => {
    const records = rows.map((row) => (reverse ? reverseRecord(row, "fuzz") : enrichRecord(row, "fuzz")));
    return status === "IN_PROGRESS"
      ? bytesOf(contactBody(id, records[0] as Record<string, unknown>, rows.length))
      : bytesOf(batchBody(id, records, status));
  });

const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: validBytes },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((text) => Buffer.from(text, "utf8")) },
  { weight: 4, arbitrary: nearValidBytes },
  // Over the limit now and then.
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: MAX_BODY_BYTES - 2, max: MAX_BODY_BYTES + 64 })
      .map((n) => Buffer.alloc(n, "{")),
  },
);

// --- headers ----------------------------------------------------------------------------------

type SignatureMode =
  | { kind: "valid" }
  | { kind: "valid-upper" }
  | { kind: "valid-padded" }
  | { kind: "absent" }
  | { kind: "wrong-key"; key: string }
  | { kind: "flipped"; at: number }
  | { kind: "garbage"; value: string }
  | { kind: "valid-list" };

const signatureMode: fc.Arbitrary<SignatureMode> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "valid" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "valid-upper" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "valid-padded" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "absent" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "valid-list" as const }) },
  {
    weight: 1,
    arbitrary: fc
      .string({ minLength: 1 })
      .filter((key) => key !== KEY)
      .map((key) => ({ kind: "wrong-key" as const, key })),
  },
  { weight: 1, arbitrary: fc.nat({ max: 39 }).map((at) => ({ kind: "flipped" as const, at })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.string(), fc.stringMatching(/^[0-9a-fA-F]{0,48}$/), fc.string({ unit: "binary" }))
      .map((value) => ({ kind: "garbage" as const, value })),
  },
);

function signatureFor(mode: SignatureMode, bytes: Uint8Array): string | string[] | undefined {
  const valid = sign(bytes);
  switch (mode.kind) {
    case "valid":
      return valid;
    case "valid-upper":
      return valid.toUpperCase();
    case "valid-padded":
      return ` ${valid}\t`;
    case "absent":
      return undefined;
    case "valid-list":
      // A repeated header, as a Node header record may hold it.
      return [valid, sign(bytes, "other")];
    case "wrong-key":
      return sign(bytes, mode.key);
    case "flipped": {
      const flippedChar = valid[mode.at] === "0" ? "1" : "0";
      return `${valid.slice(0, mode.at)}${flippedChar}${valid.slice(mode.at + 1)}`;
    }
    case "garbage":
      return mode.value;
  }
}

/** What the test itself considers correctly signed: the receiver may accept exactly these. */
function correctlySigned(signature: string | string[] | undefined, bytes: Uint8Array): boolean {
  const value = Array.isArray(signature) ? signature[0] : signature;
  if (value === undefined) return false;
  const given = Buffer.from(value.trim().toLowerCase());
  const expected = Buffer.from(sign(bytes));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether a signature header has the shape of one (40 hex digits), as the receiver checks first. */
function signatureShaped(signature: string | string[] | undefined): boolean {
  const value = Array.isArray(signature) ? signature[0] : signature;
  return value !== undefined && /^[0-9a-fA-F]{40}$/.test(value.trim());
}

const headerName = fc.constantFrom("x-signature-sha1", "X-Signature-SHA1", "X-SIGNATURE-SHA1");
const otherHeaders = fc.dictionary(
  fc.oneof(fc.constantFrom("content-type", "x-signature", "x-signature-sha256", "user-agent"), fc.string()),
  fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 })),
  { maxKeys: 4 },
);

const delivery = fc.record({
  bytes: body,
  mode: signatureMode,
  name: headerName,
  others: otherHeaders,
  asHeadersObject: fc.boolean(),
  method: fc.oneof(
    { weight: 9, arbitrary: fc.constant("POST") },
    { weight: 1, arbitrary: fc.constantFrom("post", "GET", "PUT") },
  ),
  repeat: fc.boolean(),
});

function buildHeaders(
  name: string,
  signature: string | string[] | undefined,
  others: Record<string, string | string[]>,
  asHeadersObject: boolean,
): HeaderBag {
  const record: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(others)) {
    if (key.toLowerCase() !== "x-signature-sha1") record[key] = value;
  }
  if (signature !== undefined) record[name] = signature;
  if (!asHeadersObject) return record;
  // A WHATWG Headers object accepts only valid names and values: keep those.
  const headers = new Headers();
  for (const [key, value] of Object.entries(record)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      try {
        headers.append(key, item);
      } catch {
        // not a valid header name or value for fetch
      }
    }
  }
  return headers;
}

describe("WebhookReceiver.receive under random input", () => {
  it("never throws, accepts only correctly signed POSTs, stores each accepted body once and nothing else", async () => {
    const store = new MemoryEventStore();
    const receiver = new WebhookReceiver({ store, apiKeys: [KEY], maxBodyBytes: MAX_BODY_BYTES });
    /** Digests stored so far (by this property), and whether as quarantined. */
    const stored = new Map<string, boolean>();
    let runs = 0;

    await fc.assert(
      fc.asyncProperty(delivery, async (input) => {
        runs++;
        const signature = signatureFor(input.mode, input.bytes);
        const headers = buildHeaders(input.name, signature, input.others, input.asHeadersObject);
        // What actually reached the receiver (a Headers object may have dropped an invalid value).
        const sent =
          headers instanceof Headers
            ? (headers.get("x-signature-sha1") ?? undefined)
            : (signature as string | string[] | undefined);
        const signedOk = correctlySigned(sent, input.bytes);
        const digest = digestOf(input.bytes);
        const attempts = input.repeat ? 2 : 1;

        for (let attempt = 0; attempt < attempts; attempt++) {
          const before = await store.head();
          let answer: Awaited<ReturnType<WebhookReceiver["receive"]>>;
          try {
            answer = await receiver.receive({ rawBody: input.bytes, headers, method: input.method });
          } catch (error) {
            throw new Error(`receive threw: ${(error as Error).message}`);
          }
          await receiver.whenParsed();
          const after = await store.head();
          expect([200, 401, 405, 413]).toContain(answer.status);
          expect(() => JSON.parse(answer.body) as unknown).not.toThrow();

          if (answer.status >= 200 && answer.status < 300) {
            // Never a 2xx without a valid signature.
            expect(signedOk).toBe(true);
            expect(input.method.toUpperCase()).toBe("POST");
            expect(input.bytes.byteLength).toBeLessThanOrEqual(MAX_BODY_BYTES);
            const status = (JSON.parse(answer.body) as { status: string }).status;
            if (stored.has(digest)) {
              expect(status).toBe("duplicate");
              expect(after).toBe(before);
            } else {
              expect(status).toBe("accepted");
              // The delivery as it came, then (after the answer) its parsed outcome.
              expect(after).toBe(before + 2);
              stored.set(digest, true);
            }
            // Exactly one event under this body's dedup key: its bytes as they came.
            const event = await store.findByDedupKey(`delivery:${digest}`);
            const raw = parseEvent(event as NonNullable<typeof event>);
            if (raw.type !== "webhook.stored") throw new Error(`expected webhook.stored, got ${raw.type}`);
            expect(Buffer.from(raw.data.body, raw.data.encoding)).toEqual(Buffer.from(input.bytes));
            // And exactly one parsed outcome, after it.
            const outcome = await store.findByDedupKey(dedupKeys.parsed(raw.position));
            const parsed = parseEvent(outcome as NonNullable<typeof outcome>);
            expect(["webhook.received", "webhook.quarantined"]).toContain(parsed.type);
            expect(outcome?.position).toBeGreaterThan(raw.position);
          } else {
            // Refused: nothing appended.
            expect(after).toBe(before);
            // In the order the receiver decides: method, signature header's shape, size, signature.
            if (input.method.toUpperCase() !== "POST") expect(answer.status).toBe(405);
            else if (!signatureShaped(sent)) expect(answer.status).toBe(401);
            else if (input.bytes.byteLength > MAX_BODY_BYTES) expect(answer.status).toBe(413);
            else {
              expect(answer.status).toBe(401);
              // A correctly signed, well-sized POST is never refused.
              expect(signedOk).toBe(false);
            }
          }
        }
      }),
      { numRuns: 400, seed: Number(process.env.WEBHOOK_FUZZ_SEED ?? 20_261_127) },
    );

    // Globally: one event per stored digest, no other event, each dedup key once.
    const all = await store.read();
    expect(all).toHaveLength(2 * stored.size);
    expect(new Set(all.map((event) => event.dedupKey)).size).toBe(all.length);
    expect(runs).toBe(400);
    const counters = receiver.counters();
    expect(counters.accepted + counters.quarantined).toBe(stored.size);
    // The fuzz really covered both sides.
    expect(counters.accepted).toBeGreaterThan(10);
    expect(counters.quarantined).toBeGreaterThan(10);
    expect(counters.duplicate).toBeGreaterThan(10);
    expect(counters.rejected["bad-signature"]).toBeGreaterThan(10);
    expect(counters.rejected["missing-signature"]).toBeGreaterThan(10);
    expect(counters.rejected["too-large"]).toBeGreaterThan(0);
    await store.close();
  });
});
