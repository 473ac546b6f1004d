import { describe, expect, it } from "vitest";
import { CallLimiter, type CallPriority } from "../../src/api/limiter.js";
import type { WindowBudget } from "../../src/api/window-budget.js";

/** A call as the provider could see it: anywhere between its start and its end. */
export interface CallSpan {
  start: number;
  end: number;
}

/** The settings of the budget a contract test asks for. */
export interface BudgetConfig {
  limit: number;
  windowMs: number;
  /** How long a running call's slot is leased (for budgets with leases). */
  maxCallMs: number;
}

/** One budget, fresh and empty, as the contract sees it. */
export interface BudgetFixture {
  /**
   * A handle on this budget. Every handle shares the same window: for an in-process budget, the
   * same object; for a shared one, a new instance (connection) on the same keys.
   */
  open(): Promise<WindowBudget>;
  /** Closes every handle opened and removes what the budget stored. */
  cleanup(): Promise<void>;
}

/** Optional features; the matching tests run only when given. */
export interface LimiterContractCapabilities {
  /**
   * Runs `callsEach` calls through a limiter on this budget in each of `processes` child
   * processes (released after `go`), and resolves with every call's span. The budget is shared
   * across processes.
   */
  callsInProcesses?: (
    fixture: BudgetFixture,
    config: BudgetConfig,
    processes: number,
    callsEach: number,
  ) => Promise<CallSpan[]>;
  /**
   * Takes `count` slots in a child process, then kills it with SIGKILL. Resolves with the time
   * (this machine's clock) just before the child asked for its slots.
   */
  crashHolding?: (
    fixture: BudgetFixture,
    config: BudgetConfig,
    count: number,
  ) => Promise<{ askedAt: number }>;
}

/**
 * The most calls whose [start, end] meets one window of `windowMs`: the most the provider could
 * count in one window, wherever between start and end each call reached it.
 */
export function worstWindow(calls: readonly CallSpan[], windowMs: number): number {
  let worst = 0;
  const candidates = calls.flatMap((call) => [
    call.start,
    call.end,
    call.end - windowMs + 1,
    call.start - windowMs + 1,
  ]);
  for (const from of candidates) {
    const to = from + windowMs;
    const count = calls.filter((call) => call.start < to && call.end >= from).length;
    worst = Math.max(worst, count);
  }
  return worst;
}

const realSetTimeout = globalThis.setTimeout;
const realNow = Date.now;

/** Resolves after `ms` of real time. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, Math.max(0, ms)));
}

/**
 * Asks `budget` for a slot until it gives one, waiting as long as each refusal says (at most
 * `maxTries` times). Resolves with the slot, the time it was given, and how many refusals came.
 */
export async function takeWhenFree(
  budget: WindowBudget,
  maxTries = 20,
): Promise<{ slot: string; at: number; refusals: number }> {
  for (let refusals = 0; refusals < maxTries; refusals += 1) {
    const result = await budget.tryTake();
    if (result.taken) return { slot: result.slot, at: realNow(), refusals };
    expect(result.retryInMs).toBeGreaterThan(0);
    await pause(result.retryInMs);
  }
  throw new Error(`no slot after ${maxTries} tries`);
}

/** Runs `count` calls of 0–`maxDurationMs` ms through `limiter`, recording their spans. */
export async function runCalls(
  limiter: CallLimiter,
  count: number,
  maxDurationMs: number,
  seed: number,
): Promise<CallSpan[]> {
  const spans: CallSpan[] = [];
  await Promise.all(
    Array.from({ length: count }, (_, n) =>
      limiter.run(async () => {
        const start = realNow();
        await pause(((n + 1) * (seed * 7 + 13)) % (maxDurationMs + 1));
        spans.push({ start, end: realNow() });
      }),
    ),
  );
  return spans;
}

/**
 * The contract of every {@link WindowBudget} (and of a {@link CallLimiter} over it), in real time
 * with small windows. `makeFixture` returns a fresh, empty budget with the given settings.
 */
export function describeLimiterContract(
  name: string,
  makeFixture: (config: BudgetConfig) => Promise<BudgetFixture>,
  capabilities: LimiterContractCapabilities = {},
): void {
  async function withBudget(
    config: BudgetConfig,
    run: (fixture: BudgetFixture) => Promise<void>,
  ): Promise<void> {
    const fixture = await makeFixture(config);
    try {
      await run(fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`WindowBudget contract: ${name}`, () => {
    it("never lets more than the budget meet any sliding window, across concurrent callers", () => {
      const config = { limit: 3, windowMs: 250, maxCallMs: 2_000 };
      return withBudget(config, async (fixture) => {
        const limiters = await Promise.all([1, 2, 3].map(async () => new CallLimiter(await fixture.open())));
        const began = realNow();
        const spans = (
          await Promise.all(limiters.map((limiter, i) => runCalls(limiter, 7, 40, i + 1)))
        ).flat();
        expect(spans).toHaveLength(21);
        expect(worstWindow(spans, config.windowMs)).toBeLessThanOrEqual(config.limit);
        // 21 calls, 3 per window: at least 6 windows must have gone by.
        expect(realNow() - began).toBeGreaterThanOrEqual(6 * config.windowMs);
        for (const limiter of limiters) expect(limiter.stats()).toEqual({ started: 7, queued: 0 });
      });
    });

    it("lets a burst of the whole budget through at once, then refuses with a wait of at most a window", () =>
      withBudget({ limit: 4, windowMs: 300, maxCallMs: 2_000 }, async (fixture) => {
        const budget = await fixture.open();
        const results = await Promise.all([1, 2, 3, 4].map(() => budget.tryTake()));
        expect(results.every((result) => result.taken)).toBe(true);
        const slots = results.map((result) => (result.taken ? result.slot : ""));
        expect(new Set(slots).size).toBe(4);
        const refused = await budget.tryTake();
        expect(refused.taken).toBe(false);
        if (!refused.taken) {
          expect(refused.retryInMs).toBeGreaterThan(0);
          expect(refused.retryInMs).toBeLessThanOrEqual(300);
        }
      }));

    it("holds a used slot for one window after its call ended, then frees it", () =>
      withBudget({ limit: 2, windowMs: 300, maxCallMs: 2_000 }, async (fixture) => {
        const budget = await fixture.open();
        const other = await fixture.open();
        const first = await budget.tryTake();
        const second = await other.tryTake();
        if (!first.taken || !second.taken) throw new Error("the budget refused its first slots");
        await pause(50);
        const releasedFrom = realNow();
        await Promise.all([budget.release(first.slot, true), other.release(second.slot, true)]);
        const releasedBy = realNow();
        const refused = await budget.tryTake();
        expect(refused.taken).toBe(false);
        const next = await takeWhenFree(budget);
        expect(next.at).toBeGreaterThanOrEqual(releasedFrom + 300);
        expect(next.at).toBeLessThan(releasedBy + 300 + 250);
        // The refusals said how long to wait: a couple of tries, not a busy loop.
        expect(next.refusals).toBeLessThanOrEqual(3);
      }));

    it("frees an unused slot at once (the call was never sent)", () =>
      withBudget({ limit: 2, windowMs: 60_000, maxCallMs: 2_000 }, async (fixture) => {
        const budget = await fixture.open();
        const other = await fixture.open();
        const first = await budget.tryTake();
        const second = await other.tryTake();
        if (!first.taken || !second.taken) throw new Error("the budget refused its first slots");
        expect((await other.tryTake()).taken).toBe(false);
        await budget.release(first.slot, false);
        expect((await other.tryTake()).taken).toBe(true);
        expect((await budget.tryTake()).taken).toBe(false);
        // Releasing twice, or a slot never given, changes nothing.
        await budget.release(first.slot, false);
        await budget.release("no-such-slot", true);
        expect((await budget.tryTake()).taken).toBe(false);
      }));

    it("pauses every handle for the given time; a shorter pause does not cut a longer one", () =>
      withBudget({ limit: 5, windowMs: 1_000, maxCallMs: 2_000 }, async (fixture) => {
        const budget = await fixture.open();
        const other = await fixture.open();
        const pausedFrom = realNow();
        await budget.pause(300);
        await budget.pause(20);
        const pausedBy = realNow();
        const refused = await other.tryTake();
        expect(refused.taken).toBe(false);
        if (!refused.taken) {
          expect(refused.retryInMs).toBeGreaterThan(0);
          expect(refused.retryInMs).toBeLessThanOrEqual(300);
        }
        const next = await takeWhenFree(other);
        expect(next.at).toBeGreaterThanOrEqual(pausedFrom + 300);
        expect(next.at).toBeLessThan(pausedBy + 300 + 250);
        expect(next.refusals).toBeLessThanOrEqual(3);
      }));

    it("a CallLimiter on top runs submissions before polls waiting for the same slot", () =>
      withBudget({ limit: 1, windowMs: 150, maxCallMs: 2_000 }, async (fixture) => {
        const limiter = new CallLimiter(await fixture.open());
        const order: string[] = [];
        await limiter.run(async () => void order.push("first"));
        const queued = (label: string, priority: CallPriority) =>
          limiter.run(async () => void order.push(label), { priority });
        await Promise.all([queued("poll-1", "poll"), queued("poll-2", "poll"), queued("submit", "submit")]);
        expect(order).toEqual(["first", "submit", "poll-1", "poll-2"]);
        expect(limiter.stats()).toEqual({ started: 4, queued: 0 });
        await limiter.stop();
      }));

    if (capabilities.callsInProcesses !== undefined) {
      const callsInProcesses = capabilities.callsInProcesses;
      it("never lets more than the budget meet any sliding window, across two processes and this one", () => {
        const config = { limit: 3, windowMs: 300, maxCallMs: 2_000 };
        return withBudget(config, async (fixture) => {
          const local = new CallLimiter(await fixture.open());
          const [remote, mine] = await Promise.all([
            callsInProcesses(fixture, config, 2, 8),
            pause(20).then(() => runCalls(local, 5, 30, 5)),
          ]);
          const spans = [...remote, ...mine];
          expect(spans).toHaveLength(21);
          expect(worstWindow(spans, config.windowMs)).toBeLessThanOrEqual(config.limit);
        });
      });
    }

    if (capabilities.crashHolding !== undefined) {
      const crashHolding = capabilities.crashHolding;
      it("frees the slots of a holder killed mid-call once their lease (maxCallMs + window) ends", () => {
        const config = { limit: 2, windowMs: 200, maxCallMs: 400 };
        return withBudget(config, async (fixture) => {
          const budget = await fixture.open();
          const { askedAt } = await crashHolding(fixture, config, 2);
          const killedAt = realNow();
          const refused = await budget.tryTake();
          expect(refused.taken).toBe(false);
          const next = await takeWhenFree(budget, 40);
          expect(next.at).toBeGreaterThanOrEqual(askedAt + config.maxCallMs + config.windowMs);
          expect(next.at).toBeLessThan(killedAt + config.maxCallMs + config.windowMs + 400);
        });
      });
    }
  });
}
