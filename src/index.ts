/**
 * fullenrich-rx: FullEnrich contact-enrichment results, fast, exactly once, and without losing one.
 *
 * - {@link FullEnrichClient}: the API, zod-checked, under one sliding-window rate limit.
 * - {@link EnrichmentEngine}: one observable of results, merging webhooks and polling.
 * - {@link WebhookReceiver} and its adapters: verified, stored, then acknowledged deliveries.
 * - Event stores: {@link SqliteEventStore} (the default), {@link MemoryEventStore}.
 *
 * Importing this entry loads no native addon: better-sqlite3 is loaded when a SQLite store is
 * opened. More in subpaths: `fullenrich-rx/postgres` (a log shared by several instances),
 * `fullenrich-rx/redis` (a shared rate limit and poll leases), `fullenrich-rx/webhooks` (the
 * receiver alone, for a fetch runtime) and `fullenrich-rx/simulator` (a FullEnrich for tests).
 *
 * @packageDocumentation
 * @module fullenrich-rx
 */

// The client and what crosses its boundary.
export {
  type ClientStats,
  DEFAULT_BASE_URL,
  FullEnrichClient,
  type FullEnrichClientOptions,
  type LookupKind,
  type RateLimitInfo,
  type RequestOptions,
  type ResultOutcome,
  type RetryInfo,
} from "./api/client.js";
// Errors.
export {
  ApiError,
  FullEnrichError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  OutcomeUnknownError,
  RateLimitedError,
  type RequestIssue,
  RequestTimeoutError,
  ServerError,
  UnauthorizedError,
  UnexpectedResponseError,
} from "./api/errors.js";
export {
  type CallJournal,
  CallLimiter,
  type CallOptions,
  type CallPriority,
  type JournaledCall,
  type LimiterStats,
  type RecentCalls,
  type RecentCallsQuery,
} from "./api/limiter.js";
export {
  type Custom,
  DEFAULT_ENRICH_FIELDS,
  ENRICH_FIELDS,
  type EnrichContact,
  type EnrichField,
  type ReverseContact,
  type StartEnrichmentRequest,
  type StartReverseLookupRequest,
} from "./api/request-schemas.js";
export type {
  ContactInfo,
  Credits,
  Email,
  EmailStatus,
  EnrichmentResult,
  EnrichmentStatus,
  FinalStatus,
  Phone,
  Profile,
  RecordInput,
  ResultRecord,
  StartResponse,
  VerifyKey,
} from "./api/response-schemas.js";
export { EMAIL_STATUSES, ENRICHMENT_STATUSES, FINAL_STATUSES } from "./api/response-schemas.js";
export type { FetchLike } from "./api/transport.js";
export { LocalWindowBudget, type TakeResult, type WindowBudget } from "./api/window-budget.js";
export type { BatchesByPhase, BatchPhase } from "./engine/batch-phase.js";
// The engine, its jobs and their results.
export type { ResultConsumer } from "./engine/consumer.js";
export type { ContactResult, ResultSource, ResultVia } from "./engine/contact-result.js";
export { EnrichmentEngine } from "./engine/engine.js";
export type {
  EngineMode,
  EngineOptions,
  JobOptions,
  ResumeReport,
  WebhookSettings,
} from "./engine/engine-options.js";
export { type BatchFailure, EnrichmentJob, type JobSummary, type LiveJobProgress } from "./engine/job.js";
export type {
  BatchProgress,
  BatchProgressState,
  FailedContacts,
  JobFailure,
  JobProgress,
  JobStopReason,
} from "./engine/job-progress.js";
export {
  type CompletionTimesQuery,
  EXPECTED_FINISH_QUANTILE,
  MIN_LEARNED_SAMPLES,
  ProviderTimings,
} from "./engine/learned-timings.js";
export { LocalPollLeases, type PollLeases } from "./engine/poll-leases.js";
export type { NextPoll } from "./engine/polling-scheduler.js";
export { DEFAULT_TIMINGS, type Timings } from "./engine/timings.js";
export { DEFAULT_PROBE_TIMEOUT_MS, type WebhookCheck } from "./engine/webhook-check.js";
export { EventSchemaError } from "./events/event-types.js";

// The event log.
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
} from "./events/store.js";
export { MemoryEventStore, type MemoryEventStoreOptions } from "./events/stores/memory-store.js";
export {
  SqliteEventStore,
  type SqliteEventStoreOptions,
  type SqliteStoreDiagnostics,
} from "./events/stores/sqlite-store.js";
export type { Logger, LogLevel } from "./internal/logger.js";
export { jsonLogger, silentLogger, streamLogger } from "./internal/logger.js";
// Plumbing users pass in.
export { METER_NAME } from "./internal/metrics.js";
export { type Random, seededRandom } from "./internal/random.js";
export type { Scheduler } from "./internal/time.js";
// Webhooks.
export * from "./webhooks/public.js";
