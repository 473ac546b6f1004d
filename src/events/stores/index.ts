import type { EventStore } from "../store.js";
import { MemoryEventStore } from "./memory-store.js";
import { SqliteEventStore, type SqliteEventStoreOptions } from "./sqlite-store.js";

export { MemoryEventStore, type MemoryEventStoreOptions } from "./memory-store.js";
export {
  SqliteEventStore,
  type SqliteEventStoreOptions,
  type SqliteStoreDiagnostics,
} from "./sqlite-store.js";

/** Options of {@link openStore}: those of the SQLite store (`now` and `pageSize` also apply in memory). */
export type OpenStoreOptions = SqliteEventStoreOptions;

/**
 * Opens the event store at `location`: `":memory:"` gives a {@link MemoryEventStore} (nothing is
 * kept), anything else is the path of a SQLite file ({@link SqliteEventStore}, created when missing).
 * Rejects with a RangeError for a `postgres://` URL, which is not supported yet.
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<EventStore> {
  if (location === ":memory:") {
    return new MemoryEventStore({
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    });
  }
  if (/^postgres(ql)?:\/\//i.test(location)) {
    throw new RangeError(
      `PostgreSQL event stores are not supported yet: ${location.replace(/\/\/[^@/]*@/, "//***@")}`,
    );
  }
  return SqliteEventStore.open(location, options);
}
