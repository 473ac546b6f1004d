/**
 * fullenrich-rx: FullEnrich contact-enrichment results, fast, exactly once, and without losing one.
 *
 * - {@link FullEnrichClient}: the API, zod-checked, under one sliding-window rate limit.
 * - {@link EnrichmentEngine}: one observable of results, merging webhooks and polling.
 * - {@link WebhookReceiver}: verified, stored, then acknowledged deliveries.
 * - Event stores: {@link SqliteEventStore} (the default), {@link MemoryEventStore}.
 * - {@link startSimulator}: a FullEnrich-compatible server for tests and demos.
 *
 * @packageDocumentation
 */
export * from "./api/index.js";
export * from "./engine/index.js";
export * from "./events/index.js";
export type { Logger, LogLevel } from "./internal/logger.js";
export { silentLogger, streamLogger } from "./internal/logger.js";
export { type Random, seededRandom } from "./internal/random.js";
export type { Scheduler } from "./internal/time.js";
export {
  createSimulator,
  DEFAULT_SIMULATOR_API_KEY,
  type DeliverFn,
  type DeliveryKind,
  type DeliveryLogEntry,
  type DeliveryOutcome,
  type JobPlan,
  type LiveRecord,
  type LiveShapesOptions,
  type RunningSimulator,
  type SentRecord,
  SIMULATOR_API_PREFIX,
  type SimContactInfo,
  type SimEmail,
  type SimPhone,
  type SimProfile,
  type SimRecord,
  type SimulatedContact,
  type SimulatedEnrichment,
  type SimulatedKind,
  type SimulatedStatus,
  type Simulator,
  type SimulatorCounters,
  type SimulatorFaults,
  type SimulatorOptions,
  type SimulatorProfile,
  type StartSimulatorOptions,
  startSimulator,
} from "./simulator/index.js";
export * from "./webhooks/index.js";
