export { type DeliveryParse, decodeUtf8, type ParsedDelivery, parseDelivery } from "./delivery-payload.js";
export {
  createExpressMiddleware,
  type MiddlewareRequest,
  type NextFunction,
  RawBodyUnavailableError,
} from "./express-adapter.js";
export { createFetchHandler } from "./fetch-adapter.js";
export { createNodeListener } from "./node-adapter.js";
export {
  type AcceptedDelivery,
  DEFAULT_MAX_BODY_BYTES,
  type FailedDelivery,
  type HeaderBag,
  type IncomingDelivery,
  type ReceiveAnswer,
  type ReceiverCounters,
  type RejectionReason,
  WebhookReceiver,
  type WebhookReceiverOptions,
} from "./receiver.js";
export { type ReprocessReport, reprocessQuarantined } from "./reprocess.js";
export { SIGNATURE_HEADER, signBody, verifySignature } from "./signature.js";
