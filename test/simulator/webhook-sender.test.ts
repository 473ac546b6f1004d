import { asyncScheduler } from "rxjs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/internal/crypto.js";
import { type DeliverFn, WebhookSender } from "../../src/simulator/index.js";
import { expectedSignature, useVirtualTime } from "./helpers.js";

interface Sent {
  url: string;
  at: number;
  body: Buffer;
  headers: Record<string, string>;
  signal: AbortSignal | null | undefined;
}

function recorder(answer: (attempt: number) => Promise<Response> | Response): {
  deliver: DeliverFn;
  sent: Sent[];
} {
  const sent: Sent[] = [];
  const deliver: DeliverFn = async (url, init) => {
    sent.push({
      url,
      at: Date.now(),
      body: Buffer.from(init.body as Uint8Array),
      headers: { ...(init.headers as Record<string, string>) },
      signal: init.signal,
    });
    return answer(sent.length);
  };
  return { deliver, sent };
}

const job = {
  url: "http://receiver.test/hook",
  kind: "batch" as const,
  enrichmentId: "e-1",
  apiKey: "secret-key",
  body: { id: "e-1", name: "n", status: "FINISHED", cost: { credits: 3 }, data: [{ custom: { a: "é" } }] },
};

function sender(deliver: DeliverFn, retries = 5): WebhookSender {
  return new WebhookSender({
    scheduler: asyncScheduler,
    deliver,
    timeoutMs: 10_000,
    retryIntervalMs: 60_000,
    retries,
  });
}

describe("WebhookSender", () => {
  beforeEach(useVirtualTime);
  afterEach(() => {
    vi.useRealTimers();
  });

  it("POSTs signed JSON once when the receiver answers 2xx", async () => {
    const { deliver, sent } = recorder(() => new Response(null, { status: 204 }));
    const webhooks = sender(deliver);
    webhooks.send(job);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
    const first = sent[0] as Sent;
    expect(first.body.toString("utf8")).toBe(JSON.stringify(job.body));
    expect(first.headers["content-type"]).toBe("application/json");
    expect(first.headers["x-signature-sha1"]).toBe(expectedSignature("secret-key", first.body));
    expect(webhooks.log()).toEqual([
      {
        url: job.url,
        kind: "batch",
        enrichmentId: "e-1",
        attempt: 1,
        outcome: 204,
        at: 0,
        bodySha256: sha256Hex(first.body),
      },
    ]);
    expect(webhooks.counters()).toMatchObject({
      deliveriesAttempted: 1,
      deliveriesSucceeded: 1,
      deliveriesFailed: 0,
    });
  });

  it("retries a failing receiver every interval with the same bytes, 5 times, then abandons", async () => {
    const { deliver, sent } = recorder(() => new Response("no", { status: 500 }));
    const webhooks = sender(deliver);
    webhooks.send(job);
    await vi.advanceTimersByTimeAsync(60_000 * 10);
    expect(sent.map((s) => s.at)).toEqual([0, 60_000, 120_000, 180_000, 240_000, 300_000]);
    expect(new Set(sent.map((s) => s.body.toString("base64"))).size).toBe(1);
    expect(new Set(sent.map((s) => s.headers["x-signature-sha1"])).size).toBe(1);
    expect(webhooks.log().map((entry) => [entry.attempt, entry.outcome])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 500],
      [5, 500],
      [6, 500],
    ]);
    expect(webhooks.counters()).toEqual({
      deliveriesAttempted: 6,
      deliveriesSucceeded: 0,
      deliveriesFailed: 6,
      deliveriesRetried: 5,
      deliveriesAbandoned: 1,
      deliveriesLost: 0,
      deliveriesDuplicated: 0,
    });
  });

  it("stops retrying once an attempt succeeds, and counts thrown errors as failures", async () => {
    const { deliver, sent } = recorder((attempt) => {
      if (attempt === 1) throw new Error("ECONNREFUSED");
      return new Response(null, { status: attempt === 2 ? 503 : 200 });
    });
    const webhooks = sender(deliver);
    webhooks.send(job);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(sent).toHaveLength(3);
    expect(webhooks.log().map((entry) => entry.outcome)).toEqual(["error", 503, 200]);
    expect(webhooks.counters()).toMatchObject({
      deliveriesRetried: 2,
      deliveriesSucceeded: 1,
      deliveriesAbandoned: 0,
    });
  });

  it("aborts an attempt with no answer after the timeout and retries it", async () => {
    const { deliver, sent } = recorder((attempt) =>
      attempt === 1
        ? new Promise<Response>(() => undefined) // never answers
        : new Response(null, { status: 200 }),
    );
    const webhooks = sender(deliver);
    webhooks.send(job);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(webhooks.log()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent[0]?.signal?.aborted).toBe(true);
    expect(webhooks.log()[0]).toMatchObject({ attempt: 1, outcome: "timeout", at: 0 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent.map((s) => s.at)).toEqual([0, 70_000]);
    expect(webhooks.log()[1]).toMatchObject({ attempt: 2, outcome: 200 });
  });

  it("applies the lose and duplicate controls", async () => {
    const { deliver, sent } = recorder(() => new Response(null, { status: 200 }));
    const webhooks = sender(deliver);
    const settled: string[] = [];
    webhooks.send(job, { lose: true, onFirstAttemptSettled: () => settled.push("lost") });
    webhooks.send(
      { ...job, enrichmentId: "e-2" },
      { duplicate: true, onFirstAttemptSettled: () => settled.push("dup") },
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(2);
    expect(sent[0]?.body.equals(sent[1]?.body ?? Buffer.alloc(0))).toBe(true);
    expect(settled).toEqual(["lost", "dup"]);
    expect(
      webhooks.log().map((entry) => [entry.enrichmentId, entry.attempt, entry.duplicate ?? false]),
    ).toEqual([
      ["e-2", 1, false],
      ["e-2", 2, true],
    ]);
    expect(webhooks.counters()).toMatchObject({
      deliveriesLost: 1,
      deliveriesDuplicated: 1,
      deliveriesAttempted: 2,
    });
  });

  it("sends nothing after close()", async () => {
    const { deliver, sent } = recorder(() => new Response(null, { status: 500 }));
    const webhooks = sender(deliver);
    webhooks.send(job);
    await vi.advanceTimersByTimeAsync(0);
    webhooks.close();
    webhooks.send(job);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(sent).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
