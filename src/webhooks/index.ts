/**
 * `fullenrich-rx/webhooks`: the webhook receiver and its adapters (node:http, Express-style,
 * fetch `Request`/`Response`), with the memory store and the store interface, for a handler that
 * passes its own store. Loads no native addon and neither pg nor ioredis.
 *
 * @module fullenrich-rx/webhooks
 */
export {
  type AppendOptions,
  type AppendResult,
  ConcurrencyError,
  type DataText,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type ReadOptions,
  SnapshotError,
  type StoredEvent,
  type StoredSnapshot,
  type StoreReadCounters,
  StoreUnavailableError,
  type TagReadOptions,
} from "../events/store.js";
export { MemoryEventStore, type MemoryEventStoreOptions } from "../events/stores/memory-store.js";
export type { Logger, LogLevel } from "../internal/logger.js";
export { silentLogger, streamLogger } from "../internal/logger.js";
export type { Scheduler } from "../internal/time.js";
export * from "./public.js";
