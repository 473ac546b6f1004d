import { createHash, randomBytes } from "node:crypto";
import type { Redis, RedisOptions } from "ioredis";
import { z } from "zod";
import { loadOptionalPeer } from "../internal/optional-peer.js";
import { defaultScheduler, type Scheduler } from "../internal/time.js";
import { CallLimiter } from "./limiter.js";
import type { TakeResult, WindowBudget } from "./window-budget.js";

/** Options of {@link RedisWindowBudget.connect}. */
export interface RedisWindowBudgetOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /** Calls per window, shared by every instance using the same `keyPrefix`. */
  limit: number;
  windowMs: number;
  /**
   * Prefix of the Redis keys (`<prefix>slots`, `<prefix>pause`). Every instance sharing one
   * budget (one FullEnrich account) must use the same prefix and the same limit and window.
   * Default `"fullenrich-rx:budget:"`.
   */
  keyPrefix?: string;
  /**
   * How long a running call may hold its slot before the slot counts as abandoned (its process
   * died): a slot is taken as a lease of `maxCallMs + windowMs`, renewed every `maxCallMs / 3`
   * while the call runs. A crashed instance's slots free up at most `maxCallMs + windowMs` after
   * its last renewal. Default 60 000 ms.
   */
  maxCallMs?: number;
  /** Extra ioredis options (timeouts, TLS…); `lazyConnect` is always set. */
  redisOptions?: RedisOptions;
}

/** Options of {@link RedisWindowBudget}'s constructor, for a caller that brings its own client. */
export interface RedisWindowBudgetClientOptions {
  limit: number;
  windowMs: number;
  keyPrefix?: string;
  maxCallMs?: number;
  /** Whether {@link RedisWindowBudget.close} closes the client. Default false. */
  ownsClient?: boolean;
}

/** Options of {@link createRedisCallLimiter}. */
export interface RedisCallLimiterOptions extends RedisWindowBudgetOptions {
  /** The scheduler the limiter waits with. Default: real time. */
  scheduler?: Scheduler;
}

const DEFAULT_KEY_PREFIX = "fullenrich-rx:budget:";

/**
 * The server's clock, in integer milliseconds: every instance reads the same clock, whatever its
 * own says. `replicate_commands` makes a script that reads TIME and then writes replicable on
 * Redis < 5 (it is a no-op, and always on, from Redis 5).
 */
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: slots, pause. ARGV: limit, windowMs, maxCallMs, slot.
 * Returns {1, 0} when the slot was taken (as a lease until now + maxCallMs + windowMs), else
 * {0, retryInMs}: the pause's end, or the earliest instant a slot can free up (a held slot frees
 * at its score; a running call's slot, a window after it ends, so at the earliest now + windowMs).
 */
const TAKE = `${NOW}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lease = tonumber(ARGV[3]) + window
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {0, paused - now} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], lease + 1000)
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(first[2]) - now
if wait > window then wait = window end
if wait < 1 then wait = 1 end
return {0, wait}
`;

/**
 * KEYS: slots. ARGV: slot, used (1/0), windowMs, maxCallMs.
 * A used slot is held until now + windowMs (re-added if its lease had expired: the call did
 * happen); an unused one is removed at once.
 */
const RELEASE = `${NOW}
if ARGV[2] == '1' then
  local window = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[1], now + window, ARGV[1])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < window + 1000 then redis.call('PEXPIRE', KEYS[1], window + 1000) end
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
`;

/** KEYS: slots. ARGV: windowMs, maxCallMs, slot… Extends the leases of calls still running. */
const RENEW = `${NOW}
local lease = tonumber(ARGV[2]) + tonumber(ARGV[1])
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) < now + lease then
    redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], lease + 1000)
return 1
`;

/** KEYS: pause. ARGV: ms. Nothing is taken until now + ms (a longer pause already set stays). */
const PAUSE = `${NOW}
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + ms > current then
  redis.call('SET', KEYS[1], now + ms, 'PX', ms)
end
return 1
`;

interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

const scripts = {
  take: script(TAKE),
  release: script(RELEASE),
  renew: script(RENEW),
  pause: script(PAUSE),
};

const TakeReplySchema = z.tuple([z.number().int(), z.number().int()]);

/** ioredis loaded on first use, so that importing fullenrich-rx does not load it. */
let ioredisClass: Promise<typeof Redis> | undefined;
/** ioredis's client class, loaded once (an optional peer dependency). */
export function loadRedisClass(): Promise<typeof Redis> {
  ioredisClass ??= loadOptionalPeer("ioredis", "sharing a budget or poll leases through Redis", () =>
    import("ioredis").then((module) => module.Redis),
  ).catch((error: unknown) => {
    ioredisClass = undefined;
    throw error;
  });
  return ioredisClass;
}

function checkPositive(value: number, what: string, integer = false): number {
  if (
    typeof value !== "number" ||
    !Number.isFinite(value) ||
    value <= 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new RangeError(
      `${what} must be a positive ${integer ? "integer" : "number"}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * A {@link WindowBudget} shared by every process that uses the same Redis keys: the sliding window
 * of `LocalWindowBudget`, kept in a Redis sorted set, so several instances of fullenrich-rx
 * calling FullEnrich with one account share its one budget.
 *
 * - Each slot is a member of `<prefix>slots` scored by the instant it frees up. Taking one (a Lua
 *   script, atomic) drops the expired members, counts the rest and, if there is room, adds the new
 *   slot as a lease ending `maxCallMs + windowMs` from now, renewed while the call runs: a crashed
 *   process's slots free themselves. Releasing a used slot re-scores it to one window from now;
 *   an unused one is removed at once. `pause` sets `<prefix>pause` with an expiry.
 * - Every instant comes from the Redis server's clock (`TIME`), never the local one, so instances
 *   whose clocks disagree still share one window. `retryInMs` is computed from the earliest
 *   instant a slot can free.
 * - A single Redis server (or a Sentinel-managed primary) is assumed, not Redis Cluster.
 */
export class RedisWindowBudget implements WindowBudget {
  readonly limit: number;
  readonly windowMs: number;
  readonly keyPrefix: string;
  readonly maxCallMs: number;
  private readonly slotsKey: string;
  private readonly pauseKey: string;
  private readonly instance = randomBytes(6).toString("hex");
  private readonly ownsClient: boolean;
  /** Slots taken by this instance and not released yet: their leases are renewed. */
  private readonly running = new Set<string>();
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  private nextSlot = 0;
  private closed = false;

  /** Uses `client` (an ioredis connection) for the budget; see {@link RedisWindowBudget.connect}. */
  constructor(
    private readonly client: Redis,
    options: RedisWindowBudgetClientOptions,
  ) {
    this.limit = checkPositive(options.limit, "rate limit", true);
    this.windowMs = Math.ceil(checkPositive(options.windowMs, "rate-limit window"));
    this.maxCallMs = Math.ceil(checkPositive(options.maxCallMs ?? 60_000, "maxCallMs"));
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof this.keyPrefix !== "string") throw new TypeError("keyPrefix must be a string");
    this.slotsKey = `${this.keyPrefix}slots`;
    this.pauseKey = `${this.keyPrefix}pause`;
    this.ownsClient = options.ownsClient ?? false;
  }

  /**
   * Connects to Redis at `options.url` and returns a budget that closes the connection on
   * {@link RedisWindowBudget.close}. Rejects when Redis cannot be reached; the message never shows
   * the URL's password.
   */
  static async connect(options: RedisWindowBudgetOptions): Promise<RedisWindowBudget> {
    const location = redactRedisUrl(options.url);
    if (typeof options.url !== "string" || !/^rediss?:\/\//i.test(options.url)) {
      throw new RangeError(`expected a redis:// or rediss:// URL, got ${location}`);
    }
    const RedisClient = await loadRedisClass();
    const client = new RedisClient(options.url, {
      maxRetriesPerRequest: 3,
      connectTimeout: 5_000,
      ...options.redisOptions,
      lazyConnect: true,
    });
    // Connection errors also reject the command that meets them; ioredis reconnects by itself.
    client.on("error", () => {});
    const budget = new RedisWindowBudget(client, {
      limit: options.limit,
      windowMs: options.windowMs,
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      ...(options.maxCallMs === undefined ? {} : { maxCallMs: options.maxCallMs }),
      ownsClient: true,
    });
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new Error(
        `cannot connect to Redis at ${location} for the shared rate limit: ${redactMessage(error, options.url)}`,
        { cause: error },
      );
    }
    return budget;
  }

  /** Takes a slot if the shared window has room; otherwise says how long to wait. */
  async tryTake(): Promise<TakeResult> {
    this.assertOpen();
    const slot = `${this.instance}:${this.nextSlot++}`;
    const reply = TakeReplySchema.parse(
      await this.run(
        scripts.take,
        [this.slotsKey, this.pauseKey],
        [this.limit, this.windowMs, this.maxCallMs, slot],
      ),
    );
    if (reply[0] === 1) {
      this.running.add(slot);
      this.startRenewing();
      return { taken: true, slot };
    }
    return { taken: false, retryInMs: reply[1] };
  }

  /** Holds a used slot for one window from now (server time); frees an unused one at once. */
  async release(slot: string, used: boolean): Promise<void> {
    if (!this.running.delete(slot)) return;
    if (this.running.size === 0) this.stopRenewing();
    // Closed: the connection is gone; the slot's lease ends by itself.
    if (this.closed) return;
    await this.run(scripts.release, [this.slotsKey], [slot, used ? 1 : 0, this.windowMs, this.maxCallMs]);
  }

  /** No instance takes a slot for `ms` (server time). */
  async pause(ms: number): Promise<void> {
    this.assertOpen();
    const duration = Math.ceil(ms);
    if (!(duration > 0)) return;
    await this.run(scripts.pause, [this.pauseKey], [duration]);
  }

  /**
   * Stops renewing leases and, when this budget opened the connection, closes it. Slots still
   * held keep counting until their lease ends.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRenewing();
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("the Redis rate-limit budget is closed");
  }

  private startRenewing(): void {
    if (this.renewTimer !== undefined) return;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(10, Math.floor(this.maxCallMs / 3)));
    this.renewTimer.unref?.();
  }

  private stopRenewing(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private async renew(): Promise<void> {
    if (this.running.size === 0 || this.closed) return;
    try {
      await this.run(scripts.renew, [this.slotsKey], [this.windowMs, this.maxCallMs, ...this.running]);
    } catch {
      // The next renewal (or the lease's margin) covers a missed one.
    }
  }

  /** EVALSHA, falling back to EVAL when the server does not know the script yet. */
  private async run(target: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(target.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return this.client.eval(target.lua, keys.length, ...keys, ...args);
    }
  }
}

/**
 * A {@link CallLimiter} over a {@link RedisWindowBudget}: the one gate of this process, sharing
 * the account's budget with every other instance using the same Redis keys. `stop()` closes the
 * Redis connection.
 */
export async function createRedisCallLimiter(options: RedisCallLimiterOptions): Promise<CallLimiter> {
  const { scheduler, ...budgetOptions } = options;
  const budget = await RedisWindowBudget.connect(budgetOptions);
  return new CallLimiter(budget, scheduler ?? defaultScheduler);
}

/** `url` with its password replaced by `***`. @internal */
export function redactRedisUrl(url: unknown): string {
  if (typeof url !== "string") return typeof url;
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

function redactMessage(error: unknown, url: string): string {
  const message = error instanceof Error ? error.message : String(error);
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === "" ? message : message.split(password).join("***");
  } catch {
    return message;
  }
}
