import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createRedisCallLimiter, RedisWindowBudget } from "../../src/api/redis-window-budget.js";
import type { WindowBudget } from "../../src/api/window-budget.js";
import {
  type BudgetConfig,
  type BudgetFixture,
  type CallSpan,
  describeLimiterContract,
  pause,
  takeWhenFree,
} from "../support/limiter-contract.js";
import {
  assertLimiterBuilt,
  assertRedisReachable,
  deletePrefix,
  rawRedis,
  redisUrl,
  uniquePrefix,
} from "../support/redis-fixture.js";
import type { Child } from "../support/store-processes.js";
import { forkChild, within } from "../support/store-processes.js";

const childScript = fileURLToPath(new URL("../support/redis-limiter-child.mjs", import.meta.url));
const prefixes: string[] = [];
const children: Child[] = [];

beforeAll(async () => {
  await assertRedisReachable();
  assertLimiterBuilt();
});

afterAll(async () => {
  for (const child of children) child.process.kill("SIGKILL");
  await Promise.all(prefixes.map((prefix) => deletePrefix(prefix)));
});

function newPrefix(): string {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return prefix;
}

interface RedisFixture extends BudgetFixture {
  keyPrefix: string;
}

async function redisFixture(config: BudgetConfig): Promise<RedisFixture> {
  const keyPrefix = newPrefix();
  const handles: RedisWindowBudget[] = [];
  return {
    keyPrefix,
    open: async (): Promise<WindowBudget> => {
      const handle = await RedisWindowBudget.connect({ url: redisUrl, keyPrefix, ...config });
      handles.push(handle);
      return handle;
    },
    cleanup: async () => {
      await Promise.all(handles.map((handle) => handle.close()));
      await deletePrefix(keyPrefix);
    },
  };
}

function childArgs(mode: string, fixture: BudgetFixture, config: BudgetConfig, count: number): string[] {
  const { keyPrefix } = fixture as RedisFixture;
  return [
    mode,
    redisUrl,
    keyPrefix,
    String(config.limit),
    String(config.windowMs),
    String(config.maxCallMs),
    String(count),
  ];
}

function start(args: string[]): Child {
  const child = forkChild(childScript, args);
  children.push(child);
  return child;
}

describeLimiterContract("RedisWindowBudget", redisFixture, {
  callsInProcesses: async (fixture, config, processes, callsEach) => {
    const started = Array.from({ length: processes }, (_, i) =>
      start([...childArgs("calls", fixture, config, callsEach), String(i + 1)]),
    );
    await within(Promise.all(started.map((child) => child.ready)), 10_000, "the children", started);
    for (const child of started) child.process.send("go");
    const codes = await within(
      Promise.all(started.map((child) => child.exited)),
      15_000,
      "the calls",
      started,
    );
    expect(codes, started.flatMap((child) => child.stderr).join("\n")).toEqual(started.map(() => 0));
    return started.flatMap((child) => (JSON.parse(child.lines[0] ?? "{}") as { spans: CallSpan[] }).spans);
  },
  crashHolding: async (fixture, config, count) => {
    const holder = start(childArgs("hold", fixture, config, count));
    const line = await within(
      (async () => {
        while (holder.lines.length === 0) {
          if (holder.stderr.length > 0) throw new Error(holder.stderr.join(""));
          await pause(5);
        }
        return holder.lines[0] ?? "";
      })(),
      10_000,
      "the holder's slots",
      [holder],
    );
    const report = JSON.parse(line) as { askedAt: number; taken: number };
    expect(report.taken).toBe(count);
    holder.process.kill("SIGKILL");
    expect(await holder.exited).toBe("SIGKILL");
    return { askedAt: report.askedAt };
  },
});

describe("RedisWindowBudget", () => {
  it("keeps its state in two keys under the prefix, which expire once idle", async () => {
    const keyPrefix = newPrefix();
    const budget = await RedisWindowBudget.connect({
      url: redisUrl,
      keyPrefix,
      limit: 2,
      windowMs: 300,
      maxCallMs: 500,
    });
    const raw = await rawRedis();
    try {
      const taken = await budget.tryTake();
      if (!taken.taken) throw new Error("refused");
      await budget.pause(100);
      expect((await raw.keys(`${keyPrefix}*`)).sort()).toEqual([`${keyPrefix}pause`, `${keyPrefix}slots`]);
      const leaseTtl = await raw.pttl(`${keyPrefix}slots`);
      expect(leaseTtl).toBeGreaterThan(500);
      expect(leaseTtl).toBeLessThanOrEqual(300 + 500 + 1_000);
      expect(await raw.zcard(`${keyPrefix}slots`)).toBe(1);
      await budget.release(taken.slot, true);
      const score = Number(await raw.zscore(`${keyPrefix}slots`, taken.slot));
      const [seconds, micros] = await raw.time();
      const serverNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      expect(score - serverNow).toBeGreaterThan(200);
      expect(score - serverNow).toBeLessThanOrEqual(300);
      expect(await raw.pttl(`${keyPrefix}pause`)).toBeLessThanOrEqual(100);
    } finally {
      raw.disconnect();
      await budget.close();
    }
  });

  it("keeps a long call's slot past maxCallMs by renewing its lease while the call runs", async () => {
    const keyPrefix = newPrefix();
    const settings = { url: redisUrl, keyPrefix, limit: 1, windowMs: 100, maxCallMs: 150 };
    const holder = await RedisWindowBudget.connect(settings);
    const other = await RedisWindowBudget.connect(settings);
    try {
      const taken = await holder.tryTake();
      if (!taken.taken) throw new Error("refused");
      const heldUntil = Date.now() + 700;
      let refusals = 0;
      while (Date.now() < heldUntil) {
        const attempt = await other.tryTake();
        expect(attempt.taken).toBe(false);
        refusals += 1;
        await pause(attempt.taken ? 0 : Math.min(attempt.retryInMs, 50));
      }
      expect(refusals).toBeGreaterThan(5);
      const releasedFrom = Date.now();
      await holder.release(taken.slot, true);
      const next = await takeWhenFree(other);
      expect(next.at).toBeGreaterThanOrEqual(releasedFrom + 100);
    } finally {
      await holder.close();
      await other.close();
    }
  });

  it("reads the time from Redis, so an instance whose clock is an hour off shares the same window", async () => {
    const keyPrefix = newPrefix();
    const settings = { url: redisUrl, keyPrefix, limit: 1, windowMs: 300, maxCallMs: 1_000 };
    const fast = await RedisWindowBudget.connect(settings);
    const normal = await RedisWindowBudget.connect(settings);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 3_600_000 });
    try {
      const taken = await fast.tryTake();
      if (!taken.taken) throw new Error("refused");
      await fast.release(taken.slot, true);
      const refused = await normal.tryTake();
      expect(refused.taken).toBe(false);
      if (!refused.taken) expect(refused.retryInMs).toBeLessThanOrEqual(300);
      await fast.pause(200);
      const again = await fast.tryTake();
      expect(again.taken).toBe(false);
      if (!again.taken) expect(again.retryInMs).toBeLessThanOrEqual(300);
    } finally {
      vi.useRealTimers();
      await fast.close();
      await normal.close();
    }
    const later = await RedisWindowBudget.connect(settings);
    try {
      const next = await takeWhenFree(later);
      expect(next.refusals).toBeLessThanOrEqual(3);
    } finally {
      await later.close();
    }
  });

  it("createRedisCallLimiter gives a CallLimiter whose stop() closes its Redis connection", async () => {
    const keyPrefix = newPrefix();
    const connectionName = `fxrx-test-${keyPrefix.replace(/[^a-z0-9]/gi, "")}`;
    const limiter = await createRedisCallLimiter({
      url: redisUrl,
      keyPrefix,
      limit: 5,
      windowMs: 200,
      redisOptions: { connectionName },
    });
    const raw = await rawRedis();
    const connections = async (): Promise<number> =>
      String(await raw.call("CLIENT", "LIST"))
        .split("\n")
        .filter((line) => line.includes(`name=${connectionName}`)).length;
    try {
      expect(limiter.budget).toBeInstanceOf(RedisWindowBudget);
      expect(await limiter.run(async () => "called")).toBe("called");
      expect(await connections()).toBe(1);
      await limiter.stop();
      const deadline = Date.now() + 5_000;
      while ((await connections()) > 0 && Date.now() < deadline) await pause(10);
      expect(await connections()).toBe(0);
    } finally {
      raw.disconnect();
    }
  });

  it("never shows the URL's password when Redis cannot be reached, and checks its settings", async () => {
    const error = await RedisWindowBudget.connect({
      url: "redis://someone:s3cr3t-pw@127.0.0.1:1",
      limit: 1,
      windowMs: 100,
      redisOptions: { retryStrategy: () => null },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/cannot connect to Redis at redis:\/\/someone:\*\*\*@127\.0\.0\.1:1/);
    expect(String(error)).not.toContain("s3cr3t-pw");
    await expect(RedisWindowBudget.connect({ url: "http://x", limit: 1, windowMs: 100 })).rejects.toThrow(
      RangeError,
    );
    await expect(RedisWindowBudget.connect({ url: redisUrl, limit: 0, windowMs: 100 })).rejects.toThrow(
      RangeError,
    );
  });
});
