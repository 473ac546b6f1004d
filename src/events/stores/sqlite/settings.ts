import { resolve } from "node:path";
import { type Logger, toLogger } from "../../../internal/logger.js";
import { checkPosition } from "../shared/validation.js";

/** Options of {@link SqliteEventStore.open}. */
export interface SqliteEventStoreOptions {
  /**
   * `"full"` (default): `synchronous=FULL`, every commit is on disk before its append resolves,
   * also across a power cut. `"normal"`: `synchronous=NORMAL`, faster; a commit survives a crash of
   * the process but may be lost on a power cut or OS crash (the database stays consistent).
   */
  durability?: "full" | "normal";
  /** How long a write waits for another connection (or process) holding the write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * How often the background worker checkpoints the WAL into the database file. Default 1000 ms.
   * `0` disables the worker and lets SQLite checkpoint on the appending connection instead.
   */
  checkpointIntervalMs?: number;
  /** How often live subscriptions look for events appended by other processes. Default 200 ms. */
  pollIntervalMs?: number;
  /** How many events a subscription reads per page while catching up. Default 500. */
  pageSize?: number;
  /** The clock used for `recordedAt`, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /**
   * Where background problems (a failing checkpoint or poll) are reported. Default: silent, except
   * the warning about an existing file that other users may read, which then goes to stderr.
   */
  logger?: Logger;
}

/** The SQLite store's checked settings. @internal */
export interface SqliteSettings {
  /** Absolute path of the database file. */
  path: string;
  durability: "full" | "normal";
  busyTimeoutMs: number;
  checkpointIntervalMs: number;
  pollIntervalMs: number;
  pageSize: number;
  now: () => number;
  logger: Logger;
}

/** Checks the path and options and fills in the defaults; throws a RangeError for an invalid one. @internal */
export function sqliteSettings(path: string, options: SqliteEventStoreOptions): SqliteSettings {
  if (typeof path !== "string" || path.length === 0 || path === ":memory:" || path.startsWith("file:")) {
    throw new RangeError(
      `SqliteEventStore.open needs a file path, got ${JSON.stringify(path)} (use MemoryEventStore for ":memory:")`,
    );
  }
  const settings: SqliteSettings = {
    path: resolve(path),
    durability: options.durability ?? "full",
    busyTimeoutMs: checkPosition(options.busyTimeoutMs ?? 5_000, "busyTimeoutMs"),
    checkpointIntervalMs: checkPosition(options.checkpointIntervalMs ?? 1_000, "checkpointIntervalMs"),
    pollIntervalMs: Math.max(1, checkPosition(options.pollIntervalMs ?? 200, "pollIntervalMs")),
    pageSize: Math.max(1, checkPosition(options.pageSize ?? 500, "pageSize")),
    now: options.now ?? (() => Date.now()),
    logger: toLogger(options.logger),
  };
  if (settings.durability !== "full" && settings.durability !== "normal") {
    throw new RangeError(`durability must be "full" or "normal", got ${String(settings.durability)}`);
  }
  return settings;
}

/** `synchronous` of the appending connection. @internal */
export function synchronousOf(settings: SqliteSettings): "FULL" | "NORMAL" {
  return settings.durability === "full" ? "FULL" : "NORMAL";
}

/** `wal_autocheckpoint` of the connections: 0 while the checkpoint worker runs. @internal */
export function walAutocheckpointOf(settings: SqliteSettings): number {
  return settings.checkpointIntervalMs > 0 ? 0 : 1000;
}
