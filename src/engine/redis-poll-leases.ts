import type { Redis } from "ioredis";
import { loadRedisClass } from "../api/redis-window-budget.js";
import type { PollLeases } from "./poll-leases.js";

/** Takes the lease if free, or renews it for its holder. */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** Deletes the lease only if `owner` holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Options of {@link RedisPollLeases.connect}. */
export interface RedisPollLeasesOptions {
  /** `redis://host:port[/db]`. */
  url: string;
  /** Prefix of the lease keys, to share one Redis between deployments. Default `fullenrich-rx:lease:`. */
  keyPrefix?: string;
}

/**
 * Poll leases in Redis (`SET NX PX`, renewed and released only by their holder, atomically): for
 * several engine instances sharing one log.
 */
export class RedisPollLeases implements PollLeases {
  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Connects to Redis. */
  static async connect(options: RedisPollLeasesOptions): Promise<RedisPollLeases> {
    const RedisClient = await loadRedisClass();
    const redis = new RedisClient(options.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new Error(
        `cannot reach Redis at ${options.url.replace(/\/\/[^@/]*@/, "//***@")} for poll leases: ${(error as Error).message}`,
      );
    }
    return new RedisPollLeases(redis, options.keyPrefix ?? "fullenrich-rx:lease:");
  }

  /** Takes or renews the lease. */
  async acquire(enrichmentId: string, owner: string, ttlMs: number): Promise<boolean> {
    const taken = await this.redis.eval(
      ACQUIRE,
      1,
      this.prefix + enrichmentId,
      owner,
      String(Math.max(1, Math.ceil(ttlMs))),
    );
    return taken === 1;
  }

  /** Gives the lease up if `owner` holds it. */
  async release(enrichmentId: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.prefix + enrichmentId, owner);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
