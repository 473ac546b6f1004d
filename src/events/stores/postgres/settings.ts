import { type Logger, toLogger } from "../../../internal/logger.js";
import { loadOptionalPeer } from "../../../internal/optional-peer.js";
import { checkPosition } from "../shared/validation.js";
import { checkSchemaName, DEFAULT_POSTGRES_SCHEMA, namesOf, type PostgresNames } from "./schema.js";
import { parsePostgresUrl } from "./url.js";

/** Options of {@link PostgresEventStore.open}. */
export interface PostgresEventStoreOptions {
  /**
   * The PostgreSQL schema (namespace) holding the store's tables, created when missing. Default:
   * the URL's `schema` query parameter (`postgres://…/db?schema=name`), else `fullenrich_rx`.
   * Several stores may share one database under different schemas.
   */
  schema?: string;
  /** Connections in the pool used for appends and reads (the live tail has one more). Default 5. */
  poolSize?: number;
  /** How long to wait for a connection to the server. Default 10 000 ms. */
  connectionTimeoutMs?: number;
  /**
   * How long an append waits for a lock another connection (or process) holds: the short section
   * in which appends take their positions, or a stream's lock (an append with an expected version
   * waits for the appends in flight on its stream). Default 10 000 ms; past that the append
   * rejects with `StoreUnavailableError`.
   */
  lockTimeoutMs?: number;
  /**
   * How often live subscriptions check for new events when no notification came: a safety net
   * behind LISTEN/NOTIFY (which wakes them at once). Default 1000 ms.
   */
  pollIntervalMs?: number;
  /** How many events a subscription reads per page while catching up. Default 500. */
  pageSize?: number;
  /**
   * How long a live subscription keeps retrying its reads while the connection to the server is
   * lost (a restart, a failover) before it errors. Default 30 000 ms; 0 errors at once.
   */
  subscriptionRetryMs?: number;
  /** At most this many events per write transaction (an append is never split). Default 5000. */
  maxEventsPerTransaction?: number;
  /** The clock used for `recordedAt`, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Where background problems (a lost LISTEN connection, a failing poll) are reported. Default: silent. */
  logger?: Logger;
}

/** The PostgreSQL store's checked settings. @internal */
export interface PostgresSettings {
  /** The URL without its password, for messages. */
  location: string;
  /** The URL `pg` connects with (without the `schema` parameter). */
  connectionString: string;
  names: PostgresNames;
  poolSize: number;
  connectionTimeoutMs: number;
  lockTimeoutMs: number;
  pollIntervalMs: number;
  pageSize: number;
  subscriptionRetryMs: number;
  maxEventsPerTransaction: number;
  now: () => number;
  logger: Logger;
}

/** Checks the URL and options and fills in the defaults; throws a RangeError for an invalid one. @internal */
export function postgresSettings(url: string, options: PostgresEventStoreOptions): PostgresSettings {
  const { connectionString, location, schemaParameter } = parsePostgresUrl(url);
  return {
    location,
    connectionString,
    names: namesOf(checkSchemaName(options.schema ?? schemaParameter ?? DEFAULT_POSTGRES_SCHEMA)),
    poolSize: Math.max(1, checkPosition(options.poolSize ?? 5, "poolSize")),
    connectionTimeoutMs: checkPosition(options.connectionTimeoutMs ?? 10_000, "connectionTimeoutMs"),
    lockTimeoutMs: checkPosition(options.lockTimeoutMs ?? 10_000, "lockTimeoutMs"),
    pollIntervalMs: Math.max(1, checkPosition(options.pollIntervalMs ?? 1_000, "pollIntervalMs")),
    pageSize: Math.max(1, checkPosition(options.pageSize ?? 500, "pageSize")),
    subscriptionRetryMs: checkPosition(options.subscriptionRetryMs ?? 30_000, "subscriptionRetryMs"),
    maxEventsPerTransaction: Math.max(
      1,
      checkPosition(options.maxEventsPerTransaction ?? 5_000, "maxEventsPerTransaction"),
    ),
    now: options.now ?? (() => Date.now()),
    logger: toLogger(options.logger),
  };
}

/** The pg settings shared by the pool and the LISTEN connection. @internal */
export function connectionConfig(settings: PostgresSettings) {
  return {
    connectionString: settings.connectionString,
    connectionTimeoutMillis: settings.connectionTimeoutMs,
    lock_timeout: settings.lockTimeoutMs,
    // A process frozen inside a transaction must not hold the write lock forever.
    idle_in_transaction_session_timeout: 60_000,
    application_name: "fullenrich-rx",
  };
}

/** The pg module, loaded on first use, so that importing fullenrich-rx does not load the driver. @internal */
export type PgModule = typeof import("pg").default;
let pgModule: Promise<PgModule> | undefined;

/** Loads the pg module once. @internal */
export function loadPg(): Promise<PgModule> {
  pgModule ??= loadOptionalPeer("pg", "the PostgreSQL event store", () =>
    import("pg").then((module) => module.default),
  ).catch((error: unknown) => {
    pgModule = undefined;
    throw error;
  });
  return pgModule;
}
