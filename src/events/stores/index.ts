import type { EventStore } from "../store.js";
import { MemoryEventStore } from "./memory-store.js";
import { PostgresEventStore } from "./postgres-store.js";
import { SqliteEventStore, type SqliteEventStoreOptions } from "./sqlite-store.js";

export { MemoryEventStore, type MemoryEventStoreOptions } from "./memory-store.js";
export {
  PostgresEventStore,
  type PostgresEventStoreOptions,
  type PostgresStoreDiagnostics,
} from "./postgres-store.js";
export {
  SqliteEventStore,
  type SqliteEventStoreOptions,
  type SqliteStoreDiagnostics,
} from "./sqlite-store.js";

/** Options of {@link openStore}: those of the SQLite store (`now` and `pageSize` also apply in memory). */
export type OpenStoreOptions = SqliteEventStoreOptions;

/**
 * Opens the event store at `location`: `":memory:"` gives a {@link MemoryEventStore} (nothing is
 * kept); a `postgres://` (or `postgresql://`) URL gives a {@link PostgresEventStore} (its schema,
 * `?schema=name` or `fullenrich_rx`, is created when missing; `now`, `pageSize`, `pollIntervalMs`
 * and `logger` apply); anything else is the path of a SQLite file ({@link SqliteEventStore},
 * created when missing). Errors never show a URL's password.
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<EventStore> {
  if (location === ":memory:") {
    return new MemoryEventStore({
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    });
  }
  if (/^postgres(ql)?:\/\//i.test(location)) {
    return PostgresEventStore.open(location, {
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }
  return SqliteEventStore.open(location, options);
}
