import type { IncomingMessage, ServerResponse } from "node:http";
import { handleNodeRequest, writeNodeAnswer } from "./node-adapter.js";
import type { WebhookReceiver } from "./receiver.js";

/** The parts of an Express/Connect request the middleware uses. */
export type MiddlewareRequest = IncomingMessage & { body?: unknown; _body?: boolean };
/** Express's `next`: called with an error to hand it to the error handlers. */
export type NextFunction = (error?: unknown) => void;

/** Raised when a body parser already consumed the raw body the signature is computed over. */
export class RawBodyUnavailableError extends Error {
  override name = "RawBodyUnavailableError";
  constructor() {
    super(
      "the webhook middleware needs the raw request body to check its signature, but a body parser already consumed it: " +
        "mount the middleware before express.json() (e.g. app.post('/webhooks/fullenrich', fullenrichMiddleware) above app.use(express.json())), " +
        "or give its route express.raw({ type: '*/*', limit: '10mb' }) instead of a JSON parser " +
        "(express.raw's default 100 KB limit refuses large batch deliveries)",
    );
  }
}

/**
 * An Express/Connect-style middleware: `app.post(path, createExpressMiddleware(receiver))`. Routing
 * is Express's. It refuses what cannot be a delivery from the headers alone (without reading the
 * body), then reads the raw body itself, or takes the Buffer left by `express.raw()`. After a JSON
 * parser, it fails with {@link RawBodyUnavailableError}, which says how to mount it.
 */
export function createExpressMiddleware(
  receiver: WebhookReceiver,
): (req: MiddlewareRequest, res: ServerResponse, next: NextFunction) => void {
  return (req, res, next) => {
    let preRead: Buffer | undefined;
    if (Buffer.isBuffer(req.body)) {
      preRead = req.body;
    } else if (req._body === true || req.readableEnded) {
      next(new RawBodyUnavailableError());
      return;
    }
    // The stream is already consumed: answer 413 here rather than wait for a body that never comes.
    if (preRead && preRead.length > receiver.maxBodyBytes) {
      writeNodeAnswer(res, receiver.reject("too-large"));
      return;
    }
    handleNodeRequest(receiver, req, res, { preRead }).catch(next);
  };
}

/**
 * An Express handler for the health probe: `app.get("/healthz", createExpressHealthHandler(receiver))`.
 * 200 with the store's state when deliveries can be stored, 503 otherwise ({@link WebhookReceiver.health}).
 */
export function createExpressHealthHandler(
  receiver: WebhookReceiver,
): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void {
  return (_req, res, next) => {
    receiver.health().then((answer) => writeNodeAnswer(res, answer), next);
  };
}
