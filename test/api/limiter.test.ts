import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { CallLimiter, type CallPriority } from "../../src/api/limiter.js";
import { LocalWindowBudget } from "../../src/api/window-budget.js";
import { worstWindow } from "../support/limiter-contract.js";

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function limiter(limit: number, windowMs: number): CallLimiter {
  return new CallLimiter(new LocalWindowBudget(limit, windowMs));
}

describe("CallLimiter (virtual time)", () => {
  it("never lets more than the budget meet any sliding window, whatever the calls' durations", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.record({
            delay: fc.integer({ min: 0, max: 3_000 }),
            duration: fc.integer({ min: 0, max: 2_000 }),
          }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        async (limit, plan) => {
          vi.setSystemTime(0);
          const windowMs = 1_000;
          const gate = limiter(limit, windowMs);
          const calls: { start: number; end: number }[] = [];
          const all = plan.map(async ({ delay, duration }) => {
            await new Promise((resolve) => setTimeout(resolve, delay));
            await gate.run(async () => {
              const start = Date.now();
              await new Promise((resolve) => setTimeout(resolve, duration));
              calls.push({ start, end: Date.now() });
            });
          });
          const settled = Promise.all(all);
          await vi.runAllTimersAsync();
          await settled;
          expect(calls).toHaveLength(plan.length);
          expect(worstWindow(calls, windowMs)).toBeLessThanOrEqual(limit);
          expect(gate.stats().started).toBe(plan.length);
          await gate.stop();
        },
      ),
      { numRuns: 60 },
    );
  });

  it("lets a burst of the whole budget through at once, then paces", async () => {
    const gate = limiter(60, 60_000);
    const starts: number[] = [];
    const all = Promise.all(
      Array.from({ length: 120 }, () => gate.run(async () => void starts.push(Date.now()))),
    );
    await vi.runAllTimersAsync();
    await all;
    expect(starts.filter((at) => at === 0)).toHaveLength(60);
    expect(Math.min(...starts.slice(60))).toBeGreaterThanOrEqual(60_000);
    await gate.stop();
  });

  it("lets submissions outrank polls waiting for the same slot", async () => {
    const gate = limiter(1, 1_000);
    const order: string[] = [];
    const first = gate.run(async () => void order.push("first"));
    await vi.runAllTimersAsync();
    await first;
    const queued = (label: string, priority: CallPriority) =>
      gate.run(async () => void order.push(label), { priority });
    const all = Promise.all([queued("poll-1", "poll"), queued("poll-2", "poll"), queued("submit", "submit")]);
    await vi.runAllTimersAsync();
    await all;
    expect(order).toEqual(["first", "submit", "poll-1", "poll-2"]);
    await gate.stop();
  });

  it("pauses every call after a 429", async () => {
    const gate = limiter(10, 1_000);
    await gate.pause(5_000);
    let startedAt = -1;
    const call = gate.run(async () => {
      startedAt = Date.now();
    });
    await vi.runAllTimersAsync();
    await call;
    expect(startedAt).toBe(5_000);
    await gate.stop();
  });

  it("frees the slot at once when an aborted call was never sent", async () => {
    const gate = limiter(1, 60_000);
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    await expect(gate.run(async () => "sent", { signal: controller.signal })).rejects.toThrow("gone");
    const call = gate.run(async () => Date.now());
    await vi.runAllTimersAsync();
    expect(await call).toBe(0);
    await gate.stop();
  });

  it("reports the calls of the last window, the limit and the calls waiting, as time passes", async () => {
    const gate = limiter(3, 60_000);
    expect(gate.recentCalls()).toEqual({ calls: 0, limit: 3, windowMs: 60_000, waiting: 0 });
    const done = Promise.all(Array.from({ length: 5 }, () => gate.run(async () => Date.now())));
    await vi.advanceTimersByTimeAsync(1_000);
    // Three went through at 0; two wait for a slot that frees a window after a call ended.
    expect(gate.recentCalls()).toEqual({ calls: 3, limit: 3, windowMs: 60_000, waiting: 2 });
    await vi.advanceTimersByTimeAsync(58_000); // 59 000
    expect(gate.recentCalls().calls).toBe(3);
    await vi.advanceTimersByTimeAsync(2_000); // 61 000
    const starts = await done;
    expect(starts.filter((at) => at < 1_000)).toHaveLength(3);
    expect(starts.filter((at) => at >= 60_000)).toHaveLength(2);
    // The first three left the window; the two started after 60 000 are in it.
    expect(gate.recentCalls()).toEqual({ calls: 2, limit: 3, windowMs: 60_000, waiting: 0 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(gate.recentCalls().calls).toBe(0);
    await gate.stop();
  });

  it("counts the calls of a stopped process it is told of while they are in the window", async () => {
    vi.setSystemTime(100_000);
    const gate = limiter(60, 60_000);
    gate.noteEarlierCalls([30_000, 95_000, 41_000, 99_000]);
    // 30 000 left the window at 90 000; the three others are in it.
    expect(gate.recentCalls().calls).toBe(3);
    await vi.advanceTimersByTimeAsync(1_000); // 101 000: 41 000 is out
    expect(gate.recentCalls().calls).toBe(2);
    const call = gate.run(async () => Date.now());
    await vi.advanceTimersByTimeAsync(100);
    expect(await call).toBeLessThan(101_100);
    expect(gate.recentCalls().calls).toBe(3);
    await gate.stop();
  });

  it("learns of a stopped process's calls from the client's seedBudget, once", async () => {
    vi.setSystemTime(100_000);
    const client = new FullEnrichClient({ apiKey: "k", baseUrl: "http://127.0.0.1:9/api/v2" });
    client.seedBudget([30_000, 50_000, 70_000, 90_000]);
    client.seedBudget([95_000]); // ignored: the budget is seeded once
    // 30 000 is out of the window that started at 40 000.
    expect(client.limiter.recentCalls()).toMatchObject({ calls: 3, limit: 60, windowMs: 60_000 });
    await client.close();
  });
});
