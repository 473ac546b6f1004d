import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, vi } from "vitest";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";

/** Fakes only the timers and the clock (not setImmediate / microtasks, which undici needs). */
export function useVirtualTime(): void {
  vi.useFakeTimers({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
    now: 0,
  });
}

/**
 * For a test file whose tests each create simulators in virtual time: fakes time before each test,
 * closes its simulators and restores real time after; returns the factory (`defaults` first).
 */
export function simulatorsPerTest(
  defaults: SimulatorOptions = {},
): (options?: SimulatorOptions) => Simulator {
  let open: Simulator[] = [];
  beforeEach(useVirtualTime);
  afterEach(() => {
    for (const sim of open) sim.close();
    open = [];
    vi.useRealTimers();
  });
  return (options = {}) => {
    const sim = createSimulator({ ...defaults, ...options });
    open.push(sim);
    return sim;
  };
}

/** An in-process API call; returns status, headers and the parsed JSON body. */
export async function call(
  simulator: Simulator,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; key?: string | null; authorization?: string } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.key !== null) headers.authorization = `Bearer ${options.key ?? "sim-key"}`;
  const hasBody = options.body !== undefined || options.rawBody !== undefined;
  const request = new Request(`http://sim.local/api/v2${path}`, {
    method,
    headers,
    body: hasBody ? (options.rawBody ?? JSON.stringify(options.body)) : undefined,
  });
  const response = await simulator.handle(request);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

/** A contact that is valid for `POST /contact/enrich/bulk`. */
export function person(index: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    first_name: `First${String.fromCharCode(97 + (index % 26))}`,
    last_name: `Last${index}`,
    domain: "example.com",
    enrich_fields: ["contact.work_emails", "contact.personal_emails", "contact.phones"],
    custom: { row: String(index) },
    ...extra,
  };
}

/** A valid enrichment body with `count` contacts. */
export function enrichBody(count: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "test batch", data: Array.from({ length: count }, (_, index) => person(index)), ...extra };
}

/** One POST received by a {@link Receiver}. */
export interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** performance.now() when the request was fully received. */
  at: number;
}

/** A real HTTP webhook receiver on 127.0.0.1. */
export interface Receiver {
  url: string;
  hits: Hit[];
  /** Resolves once `count` requests (on `path`, if given) have arrived. */
  waitFor(count: number, path?: string): Promise<Hit[]>;
  close(): Promise<void>;
}

/** Starts a receiver answering each POST with the status `answer` returns. */
export async function startReceiver(answer: (hit: Hit) => number): Promise<Receiver> {
  const hits: Hit[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const hit: Hit = {
        path: request.url ?? "/",
        headers: request.headers,
        body: Buffer.concat(chunks),
        at: performance.now(),
      };
      hits.push(hit);
      response.writeHead(answer(hit), { "content-type": "text/plain" });
      response.end("ok");
      for (const waiter of waiters.splice(0)) waiter();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const matching = (path?: string): Hit[] => hits.filter((hit) => path === undefined || hit.path === path);
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    waitFor(count, path) {
      return new Promise((resolve) => {
        const check = (): void => {
          const found = matching(path);
          if (found.length >= count) resolve(found);
          else waiters.push(check);
        };
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** HMAC-SHA1 of the raw bytes, computed independently of the code under test. */
export function expectedSignature(key: string, body: Uint8Array): string {
  return createHmac("sha1", key).update(body).digest("hex");
}

/** A `deliver` that records every POST in-process and answers with `status(url, attempt)`. */
export function captureDeliveries(status: (url: string) => number = () => 200): {
  deliver: (url: string, init: RequestInit) => Promise<Response>;
  sent: Array<{ url: string; headers: Record<string, string>; body: Buffer; json: Record<string, unknown> }>;
} {
  const sent: Array<{
    url: string;
    headers: Record<string, string>;
    body: Buffer;
    json: Record<string, unknown>;
  }> = [];
  const deliver = async (url: string, init: RequestInit): Promise<Response> => {
    const body = Buffer.from(init.body as Uint8Array);
    sent.push({
      url,
      headers: { ...(init.headers as Record<string, string>) },
      body,
      json: JSON.parse(body.toString("utf8")) as Record<string, unknown>,
    });
    return new Response("ok", { status: status(url) });
  };
  return { deliver, sent };
}
