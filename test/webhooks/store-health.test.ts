import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { StoreHealth } from "../../src/webhooks/store-health.js";
import { ForwardingStore } from "../support/forwarding-store.js";

/** A store whose reads of the head never answer, as a PostgreSQL server that went silent. */
class SilentStore extends ForwardingStore {
  override head(): Promise<number> {
    return new Promise(() => undefined);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

function bodyOf(answer: { body: string }): Record<string, unknown> {
  return JSON.parse(answer.body) as Record<string, unknown>;
}

describe("StoreHealth", () => {
  it("is ready with an open store, and says when the last append was", async () => {
    let now = Date.UTC(2026, 0, 1);
    const health = new StoreHealth(new MemoryEventStore(), () => now);
    expect((await health.check(false)).status).toBe(200);
    health.record(true);
    now += 5_000;
    const answer = await health.check(false);
    expect(answer.status).toBe(200);
    expect(bodyOf(answer)).toEqual({
      status: "ok",
      store: "ready",
      lastAppend: { ok: true, at: "2026-01-01T00:00:00.000Z" },
    });
  });

  it("holds a failed append for failureHoldMs, unless an append succeeds first", async () => {
    let now = 0;
    const health = new StoreHealth(new MemoryEventStore(), () => now, { failureHoldMs: 60_000 });
    health.record(false);
    now = 59_999;
    expect(bodyOf(await health.check(false))).toMatchObject({ store: "append-failing" });
    now = 60_000;
    // Nothing appended for a minute: the probe reads the store again, and lets traffic back.
    expect((await health.check(false)).status).toBe(200);

    health.record(false);
    now += 1;
    expect((await health.check(false)).status).toBe(503);
    health.record(true);
    expect((await health.check(false)).status).toBe(200);
  });

  it("is unreachable when the store's head does not answer within probeTimeoutMs", async () => {
    vi.useFakeTimers();
    const health = new StoreHealth(new SilentStore(new MemoryEventStore()), () => Date.now(), {
      probeTimeoutMs: 2_000,
    });
    let settled: { status: number; body: string } | undefined;
    void health.check(false).then((answer) => {
      settled = answer;
    });
    await vi.advanceTimersByTimeAsync(1_999);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled?.status).toBe(503);
    expect(bodyOf(settled as { body: string })).toMatchObject({
      status: "unavailable",
      store: "unreachable",
    });
  });

  it("is unreachable when the store is closed, and stopped once the receiver is", async () => {
    const store = new MemoryEventStore();
    const health = new StoreHealth(store, () => 0);
    expect(bodyOf(await health.check(true))).toMatchObject({ store: "stopped" });
    await store.close();
    expect(bodyOf(await health.check(false))).toMatchObject({ store: "unreachable" });
  });
});
