/**
 * `fullenrich-rx/simulator`: a FullEnrich-compatible API simulator, in-process
 * (`createSimulator().handle`) or over HTTP (`startSimulator`), with every timer on an injected
 * scheduler and every decision seeded; for tests, demos and benchmarks.
 *
 * @module fullenrich-rx/simulator
 */

export { LIVE_STALL_STATUSES, type LiveShapesOptions } from "./live-shapes.js";
export {
  AnswerDroppedError,
  DEFAULT_SIMULATOR_API_KEY,
  SIMULATOR_API_PREFIX,
  type SimulatedContact,
  type SimulatedEnrichment,
  type SimulatedKind,
  type SimulatedStatus,
  type Simulator,
  type SimulatorCounters,
  type SimulatorFaults,
  type SimulatorOptions,
  type SimulatorProfile,
  slowProviderContactMs,
} from "./options.js";
export { busiestWindowOf, RateWindow } from "./rate-window.js";
export { type RunningSimulator, type StartSimulatorOptions, startSimulator } from "./server.js";
export type { JobPlan, LiveRecord, SentRecord } from "./shapes.js";
export { createSimulator } from "./simulator.js";
export {
  CREDIT_COSTS,
  contactIdentity,
  FIND_RATES,
  foldForEmail,
  linkedinHandle,
  recordCost,
  type SimContactInfo,
  type SimEmail,
  type SimEnrichContact,
  type SimPhone,
  type SimProfile,
  type SimRecord,
  type SimReverseContact,
  synthesizeEnrichRecord,
  synthesizeReverseRecord,
} from "./synthetic.js";
export {
  type ValidationFailure,
  type ValidationResult,
  type ValidBatch,
  validateEnrichRequest,
  validateReverseRequest,
} from "./validation.js";
export {
  type DeliverFn,
  type DeliveryCounters,
  type DeliveryKind,
  type DeliveryLogEntry,
  type DeliveryOutcome,
  type SendControls,
  type WebhookJob,
  WebhookSender,
  type WebhookSenderOptions,
} from "./webhook-sender.js";
