import type { IncomingMessage, ServerResponse } from "node:http";
import type { BodyLease } from "./body-budget.js";
import type { ReceiveAnswer } from "./http-answer.js";
import type { DeliveryRoutes } from "./http-decision.js";
import type { WebhookReceiver } from "./receiver.js";

/** Where {@link createNodeListener} and `fullenrich-rx serve` take deliveries unless told otherwise. */
export const DEFAULT_WEBHOOK_PATH = "/webhook";
/** Where they answer the health probe unless told otherwise. */
export const DEFAULT_HEALTH_PATH = "/healthz";

/** The routes of the node:http adapter. */
export interface NodeListenerOptions {
  /**
   * The path, or paths, deliveries are POSTed to (the path of the `webhook_url`, and of the
   * `contact_finished` URL when it differs), matched exactly with the query string ignored; every
   * other path gets 404. Default {@link DEFAULT_WEBHOOK_PATH}.
   */
  path?: string | readonly string[];
  /** The health probe's path (`GET`/`HEAD`), or null for none. Default {@link DEFAULT_HEALTH_PATH}. */
  healthPath?: string | null;
}

/** The routes of `options`, checked: every path starts with `/` and holds no query or fragment. */
export function nodeRoutes(options: NodeListenerOptions = {}): DeliveryRoutes {
  const given = options.path ?? DEFAULT_WEBHOOK_PATH;
  const paths = typeof given === "string" ? [given] : [...given];
  const healthPath = options.healthPath === undefined ? DEFAULT_HEALTH_PATH : options.healthPath;
  for (const path of healthPath === null ? paths : [...paths, healthPath]) {
    if (!/^\/[^?#\s]*$/.test(path)) {
      throw new TypeError(
        `webhook path ${JSON.stringify(path)} must start with "/" and hold no query, fragment or space`,
      );
    }
  }
  if (paths.length === 0) throw new TypeError("the webhook listener needs at least one path");
  if (healthPath !== null && paths.includes(healthPath)) {
    throw new TypeError(`the health probe's path ${healthPath} is also a delivery path`);
  }
  return { paths, healthPath };
}

/**
 * What the body reader got: the bytes, a body over the limit or over the budget of bodies held at
 * once (the rest unread), or a closed connection.
 */
export type NodeBody = Buffer | "too-large" | "busy" | "aborted";

/**
 * Reads a request body up to `maxBytes`, taking each chunk from `lease` before keeping it.
 * Resolves with the bytes, `"too-large"` as soon as the received length goes over the limit,
 * `"busy"` when the lease cannot grow (the rest is not read in either case), or `"aborted"` when
 * the connection closed first (the client left, or the server's request timeout closed it).
 */
export function readNodeBody(req: IncomingMessage, maxBytes: number, lease?: BodyLease): Promise<NodeBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (outcome: "too-large" | "busy"): void => {
      cleanup();
      req.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) stop("too-large");
      else if (lease && !lease.grow(chunk.length)) stop("busy");
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onClose = (): void => {
      cleanup();
      resolve("aborted");
    };
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onClose);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onClose);
    req.on("close", onClose);
  });
}

/** Writes an answer. `closeAfter`: the connection is closed once it is sent (a body left unread). */
export function writeNodeAnswer(res: ServerResponse, answer: ReceiveAnswer, closeAfter = false): void {
  const length = { "content-length": String(Buffer.byteLength(answer.body)) };
  const headers = closeAfter
    ? { ...answer.headers, ...length, connection: "close" }
    : { ...answer.headers, ...length };
  res.writeHead(answer.status, headers);
  res.end(answer.body);
  if (closeAfter) res.once("finish", () => res.req.socket?.destroySoon?.());
}

/** How {@link handleNodeRequest} is called. */
export interface NodeRequestContext {
  /** The adapter's routes; absent where a framework routed the request (Express). */
  routes?: DeliveryRoutes | undefined;
  /** The body, when a body parser already read it (`express.raw()`). */
  preRead?: Buffer | undefined;
  /** From the server's `checkContinue` event: `100 Continue` is sent only before reading the body. */
  expectsContinue?: boolean;
}

/**
 * The whole node:http path: decides on the head, answers a refusal or the health probe without
 * reading the body, otherwise reads it (after `100 Continue` when asked for), hands it over to the
 * receiver and answers.
 */
export async function handleNodeRequest(
  receiver: WebhookReceiver,
  req: IncomingMessage,
  res: ServerResponse,
  context: NodeRequestContext = {},
): Promise<void> {
  const decision = receiver.decide(
    { method: req.method, target: context.routes ? req.url : undefined, headers: req.headers },
    context.routes,
  );
  if (decision.action === "answer") {
    writeNodeAnswer(res, decision.answer, decision.close);
    return;
  }
  if (decision.action === "health") {
    writeNodeAnswer(res, await receiver.health());
    return;
  }
  if (context.expectsContinue) res.writeContinue();
  const lease = receiver.bodyBudget.lease();
  try {
    const body = context.preRead ?? (await readNodeBody(req, receiver.maxBodyBytes, lease));
    if (body === "aborted") return;
    if (body === "too-large" || body === "busy") {
      writeNodeAnswer(res, receiver.reject(body), true);
      return;
    }
    writeNodeAnswer(
      res,
      await receiver.receive({ rawBody: body, headers: req.headers, method: req.method ?? "POST" }),
    );
  } finally {
    lease.release();
  }
}

/** A node:http request listener. */
export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Answers 500 when the handling itself failed, or drops the connection when an answer had started. */
export function failNodeRequest(res: ServerResponse, error: unknown): void {
  if (!res.headersSent) {
    res.writeHead(500, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ error: `could not read the delivery: ${(error as Error).message}` }));
  } else {
    res.destroy();
  }
}

/**
 * A node:http request listener for the receiver: deliveries on the configured path only (404
 * elsewhere), the health probe on `/healthz`, refusals answered from the headers alone. Prefer
 * {@link createWebhookServer}, which also bounds timeouts and connections and sends `100 Continue`
 * only to a request that can be a delivery (on a server of your own, Node answers 100 by itself
 * unless you pass this listener's twin to `checkContinue`, as {@link createWebhookServer} does).
 *
 * @example
 * ```ts
 * http.createServer(createNodeListener(receiver, { path: "/webhooks/fullenrich" })).listen(8080);
 * ```
 */
export function createNodeListener(
  receiver: WebhookReceiver,
  options: NodeListenerOptions = {},
): NodeRequestListener {
  const routes = nodeRoutes(options);
  return (req, res) => {
    handleNodeRequest(receiver, req, res, { routes }).catch((error: unknown) => failNodeRequest(res, error));
  };
}
