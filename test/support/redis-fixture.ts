import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

/** The test Redis: `REDIS_URL`, by default the local one. */
export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const runId = `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
let serial = 0;

/** A key prefix no other test file or run uses. */
export function uniquePrefix(label = "b"): string {
  serial += 1;
  return `fxrx-test:${runId}:${label}${serial}:`;
}

/** A plain connection to the test Redis (for inspection and cleanup). */
export async function rawRedis(): Promise<Redis> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return client;
}

/** Deletes every key starting with `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const client = await rawRedis();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/** Fails with a clear message when the test Redis does not answer. */
export async function assertRedisReachable(): Promise<void> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${redisUrl.replace(/\/\/[^@/]*@/, "//***@")} (set REDIS_URL): ${String(error)}`,
    );
  } finally {
    client.disconnect();
  }
}

/**
 * Throws unless `dist/` holds a build of the limiter at least as new as its sources: the child
 * processes import the compiled limiter. `npm test` builds first.
 */
export function assertLimiterBuilt(): void {
  for (const name of ["redis-window-budget", "limiter", "window-budget"]) {
    const source = fileURLToPath(new URL(`../../src/api/${name}.ts`, import.meta.url));
    const compiled = fileURLToPath(new URL(`../../dist/api/${name}.js`, import.meta.url));
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(`dist/ is older than src/api/${name}.ts: run \`npm run build\` first`);
    }
  }
}
