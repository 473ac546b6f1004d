export {
  contactKeyOf,
  DEFAULT_CORRELATION_KEY,
  fingerprint,
  keyBatch,
  stripCorrelation,
  withOccurrence,
} from "./contact-key.js";
export {
  CURRENT_VERSION,
  type DomainEvent,
  EVENT_SCHEMAS,
  EVENT_TYPES,
  type EventBody,
  type EventData,
  type EventOf,
  EventSchemaError,
  type EventType,
  type Keying,
  KeyingSchema,
  parseEvent,
  UPCASTERS,
  type Upcaster,
} from "./event-types.js";
export type { BatchState, EnrichmentState } from "./projections/enrichment-state.js";
export { EnrichmentsProjection, type RunningCount } from "./projections/enrichments-projection.js";
export {
  type AppendOptions,
  type AppendResult,
  ConcurrencyError,
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
} from "./store.js";
export * from "./stores/index.js";
