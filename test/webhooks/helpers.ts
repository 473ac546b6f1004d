import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import { expect } from "vitest";
import { dedupKeys, parseEvent, streams } from "../../src/events/event-types.js";
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  StoredEvent,
} from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { synthesizeEnrichRecord, synthesizeReverseRecord } from "../../src/simulator/synthetic.js";
import { createNodeListener } from "../../src/webhooks/node-adapter.js";
import type { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { ForwardingStore } from "../support/forwarding-store.js";

/** The API key the tests sign with. */
export const KEY = "fe_test_webhook_key_0123456789";

/** HMAC-SHA1 of the raw bytes, computed independently of the code under test. */
export function sign(body: Uint8Array | string, key: string = KEY): string {
  return createHmac("sha1", key).update(body).digest("hex");
}

/** SHA-256 of the raw bytes, computed independently of the code under test. */
export function digestOf(body: Uint8Array | string): string {
  return createHash("sha256").update(body).digest("hex");
}

/** Headers of a correctly signed delivery. */
export function signedHeaders(body: Uint8Array | string, key: string = KEY): Record<string, string> {
  return { "content-type": "application/json", "x-signature-sha1": sign(body, key) };
}

/** A server listening on an ephemeral port of 127.0.0.1. */
export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0 and returns the URL and a closer that also drops keep-alive connections. */
export async function listen(server: Server): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A Hono app on @hono/node-server, on an ephemeral port of 127.0.0.1. */
export function serveHono(app: Hono): Promise<Listening> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            (server as Server).close(() => done());
            (server as Server).closeAllConnections();
          }),
      });
    });
  });
}

/** The path {@link serveNode} takes deliveries on. */
export const HOOK_PATH = "/webhook";

/**
 * The receiver behind a plain node:http server taking deliveries on `paths`; `url` is the delivery
 * URL of the first one.
 */
export async function serveNode(
  receiver: WebhookReceiver,
  paths: readonly string[] = [HOOK_PATH],
): Promise<Listening> {
  const server = await listen(createServer(createNodeListener(receiver, { path: paths })));
  return { ...server, url: `${server.url}${paths[0]}` };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

/** POSTs bytes with exactly the given headers (fetch adds content-length). */
export async function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  method = "POST",
): Promise<Answer> {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const response = await fetch(url, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : bytes,
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (e.g. an HTML error page)
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** POSTs a correctly signed body. */
export function postSigned(url: string, body: string | Uint8Array, key: string = KEY): Promise<Answer> {
  return post(url, body, signedHeaders(body, key));
}

/**
 * The events of the deliveries stream, split by type, once every stored delivery has its parsed
 * outcome (the receiver parses after answering: this waits, at most 10 s, for it to catch up).
 */
export async function deliveryEvents(store: EventStore): Promise<{
  all: StoredEvent[];
  stored: StoredEvent[];
  received: StoredEvent[];
  quarantined: StoredEvent[];
}> {
  const all = await waitUntil("every stored delivery to be parsed", async () => {
    const events = await store.readStream(streams.deliveries);
    const stored = events.filter((event) => event.type === "webhook.stored").length;
    const outcomes = events.filter((event) => event.dedupKey?.startsWith("parsed@")).length;
    return stored === outcomes ? events : undefined;
  });
  return {
    all,
    stored: all.filter((event) => event.type === "webhook.stored"),
    received: all.filter((event) => event.type === "webhook.received"),
    quarantined: all.filter((event) => event.type === "webhook.quarantined"),
  };
}

/**
 * Checks "each accepted delivery stored exactly once, each rejected one not at all": the deliveries
 * stream holds, for each digest of `accepted`, one `webhook.stored` keyed `delivery:<sha256>` holding
 * the body's bytes, and one parsed outcome (`webhook.received` or `webhook.quarantined`) keyed
 * `parsed@<position of the stored delivery>`, each readable through its schema, and nothing else (so
 * nothing of a rejected body). Returns the outcomes.
 */
export async function expectStoredExactlyOnce(
  store: EventStore,
  acceptedDigests: Iterable<string>,
): Promise<StoredEvent[]> {
  const expected = [...new Set(acceptedDigests)].sort();
  const { all, stored } = await deliveryEvents(store);
  const keys = all.map((event) => event.dedupKey);
  expect(new Set(keys).size).toBe(keys.length);
  expect(stored.map((event) => event.dedupKey).sort()).toEqual(
    expected.map((digest) => `delivery:${digest}`),
  );
  const outcomes = all.filter((event) => event.type !== "webhook.stored");
  expect(outcomes.map((event) => event.dedupKey).sort()).toEqual(
    stored.map((event) => dedupKeys.parsed(event.position)).sort(),
  );
  for (const event of all) {
    const parsed = parseEvent(event);
    const { digest } = parsed.data as { digest: string };
    if (parsed.type === "webhook.stored") {
      expect(event.dedupKey).toBe(`delivery:${digest}`);
      const body =
        parsed.data.encoding === "utf8"
          ? Buffer.from(parsed.data.body, "utf8")
          : Buffer.from(parsed.data.body, "base64");
      expect(digestOf(body)).toBe(digest);
    } else {
      expect(parsed.type === "webhook.received" || parsed.type === "webhook.quarantined").toBe(true);
      // The outcome of the delivery of the same digest, parsed after it was stored.
      const source = await store.findByDedupKey(`delivery:${digest}`);
      expect(event.dedupKey).toBe(dedupKeys.parsed(source?.position ?? -1));
      expect(source?.position).toBeLessThan(event.position);
    }
    const found = await store.findByDedupKey(event.dedupKey as string);
    expect(found?.position).toBe(event.position);
  }
  return outcomes;
}

/** The one element of a list (fails otherwise). */
export function single<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

/**
 * Polls `check` until it returns a value other than undefined/false, every `intervalMs`, failing
 * after `timeoutMs` with `what` in the message. The waiting is bounded; the assertion is the caller's.
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 10 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** An EventStore whose first `failures` appends reject (as a disk or lock error would), then delegates. */
export class FailingStore extends ForwardingStore {
  appendCalls = 0;
  constructor(
    inner: EventStore,
    private failures: number,
  ) {
    super(inner);
  }
  override async append(
    stream: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    this.appendCalls++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error("disk I/O error (simulated)");
    }
    return this.inner.append(stream, events, options);
  }
}

/**
 * An EventStore whose appends wait until the test releases them (or fails them), one at a time:
 * to watch what the receiver does while a delivery is being stored. The rest goes to a memory store.
 */
export class HeldStore extends ForwardingStore {
  appendCalls = 0;
  private readonly held: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private readonly waiters: { count: number; wake: () => void }[] = [];

  constructor() {
    super(new MemoryEventStore());
  }

  /** Resolves once `append` has been called `count` times in all. */
  appendCalled(count = 1): Promise<void> {
    if (this.appendCalls >= count) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ count, wake }));
  }

  /** Lets the oldest held append go on. */
  release(): void {
    this.held.shift()?.resolve();
  }

  /** Fails the oldest held append, as a disk error would. */
  fail(error = new Error("disk I/O error (simulated)")): void {
    this.held.shift()?.reject(error);
  }

  override async append(
    stream: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    this.appendCalls++;
    const gate = new Promise<void>((resolve, reject) => this.held.push({ resolve, reject }));
    for (const waiter of this.waiters.filter((w) => w.count <= this.appendCalls)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.wake();
    }
    await gate;
    return this.inner.append(stream, events, options);
  }
}

// --- realistic FullEnrich payloads -----------------------------------------------------------

const FIELDS = ["contact.work_emails", "contact.personal_emails", "contact.phones"];

/** A record as the provider returns it for an enrichment contact (input, custom, contact_info, profile). */
export function enrichRecord(index: number, tag = "t"): Record<string, unknown> {
  return synthesizeEnrichRecord(
    {
      first_name: `Ada${index}`,
      last_name: "Lovelace",
      domain: "example.com",
      linkedin_url: `https://www.linkedin.com/in/ada-lovelace-${tag}-${index}/`,
      enrich_fields: FIELDS,
      custom: { row: String(index), tag },
    },
    7,
  ) as unknown as Record<string, unknown>;
}

/** A reverse-lookup record: its input is `{email}`. */
export function reverseRecord(index: number, tag = "t"): Record<string, unknown> {
  return synthesizeReverseRecord(
    { email: `person.${tag}.${index}@example.org`, custom: { row: String(index), tag } },
    7,
  ) as unknown as Record<string, unknown>;
}

/** The batch event body: a final status and every record. */
export function batchBody(
  id: string,
  records: Record<string, unknown>[],
  status = "FINISHED",
): Record<string, unknown> {
  return { id, name: `batch ${id}`, status, cost: { credits: records.length * 2 }, data: records };
}

/** A per-contact event body: IN_PROGRESS with one record. */
export function contactBody(
  id: string,
  record: Record<string, unknown>,
  credits = 1,
): Record<string, unknown> {
  return { id, name: `batch ${id}`, status: "IN_PROGRESS", cost: { credits }, data: [record] };
}

/** Serialises a body the way the provider does. */
export function bytesOf(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body), "utf8");
}

// --- raw sockets, for what fetch cannot do (partial bodies, watching the connection) ------------

export interface RawExchange {
  /** Everything the server sent before closing (or before `timeoutMs`). */
  response: string;
  /** Whether the server closed the connection (FIN or reset) within `timeoutMs`. */
  closed: boolean;
  /** A socket error seen (e.g. ECONNRESET when it closed with unread bytes), if any. */
  error: string | undefined;
}

/**
 * Opens a TCP connection, writes `head` and then each of `chunks` (as long as the socket accepts
 * them), and collects what comes back until the server closes the connection or `timeoutMs` passes.
 * The socket is never ended by us, so a server that waits for the rest of the body would time out.
 */
export function rawExchange(
  port: number,
  head: string,
  chunks: readonly Buffer[] = [],
  timeoutMs = 3_000,
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, "127.0.0.1");
    const received: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response: Buffer.concat(received).toString("latin1"), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("error", (cause: NodeJS.ErrnoException) => {
      error = cause.code ?? cause.message;
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("connect", () => {
      socket.write(head);
      for (const chunk of chunks) {
        if (socket.destroyed) break;
        socket.write(chunk);
      }
    });
  });
}

/** The status code of a raw HTTP/1.1 response, or undefined. */
export function statusOf(raw: string): number | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return match ? Number(match[1]) : undefined;
}

/** The parsed outcome (`webhook.received` or `webhook.quarantined`) of the delivery of this digest, if any. */
export async function outcomeOf(store: EventStore, digest: string): Promise<StoredEvent | undefined> {
  const stored = await store.findByDedupKey(dedupKeys.delivery(digest));
  return stored === undefined ? undefined : store.findByDedupKey(dedupKeys.parsed(stored.position));
}
