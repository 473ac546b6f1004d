/** The webhook receiver and its adapters, as the package exports them (root and `fullenrich-rx/webhooks`). */
export { BodyBudget, type BodyLease, DEFAULT_MAX_BUFFERED_BYTES } from "./body-budget.js";
export {
  createExpressHealthHandler,
  createExpressMiddleware,
  type MiddlewareRequest,
  type NextFunction,
  RawBodyUnavailableError,
} from "./express-adapter.js";
export { createFetchHandler, createFetchHealthHandler } from "./fetch-adapter.js";
export {
  type DecisionPolicy,
  type DeliveryRoutes,
  decideRequest,
  type RequestHead,
  type RequestVerdict,
} from "./http-decision.js";
export {
  createNodeListener,
  DEFAULT_HEALTH_PATH,
  DEFAULT_WEBHOOK_PATH,
  type NodeListenerOptions,
  type NodeRequestListener,
} from "./node-adapter.js";
export {
  createWebhookServer,
  DEFAULT_SERVER_LIMITS,
  type ServerLimits,
  type WebhookServerOptions,
} from "./node-server.js";
export { PROBE_FIELD, type WebhookProbe } from "./probe.js";
export {
  type AcceptedDelivery,
  type ConnectionRefusal,
  DEFAULT_MAX_BODY_BYTES,
  type FailedDelivery,
  type HeaderBag,
  type HttpDecision,
  type IncomingDelivery,
  type ReceiveAnswer,
  type ReceiverCounters,
  type RejectionReason,
  WebhookReceiver,
  type WebhookReceiverOptions,
} from "./receiver.js";
export { type ReprocessReport, reprocessQuarantined } from "./reprocess.js";
export { SIGNATURE_HEADER, signBody, verifySignature } from "./signature.js";
export type { HealthOptions, StoreState } from "./store-health.js";
