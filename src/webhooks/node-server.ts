import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { failNodeRequest, handleNodeRequest, type NodeListenerOptions, nodeRoutes } from "./node-adapter.js";
import type { WebhookReceiver } from "./receiver.js";

/** How long a client may take and how many may be connected; see {@link createWebhookServer}. */
export interface ServerLimits {
  /** Time to receive a request's headers, from the connection (or the previous answer) on. Default 10 s. */
  headersTimeoutMs?: number;
  /**
   * Time to receive the body on top of the headers' time: the whole request must have arrived
   * within `headersTimeoutMs + bodyTimeoutMs` (Node's `requestTimeout`). Default 30 s.
   */
  bodyTimeoutMs?: number;
  /**
   * How long a keep-alive connection may stay idle after an answer (Node's `keepAliveTimeout`,
   * announced to the client; Node 20 closes the connection about 1 s after it). Default 5 s.
   */
  idleTimeoutMs?: number;
  /** Connections open at once; further ones are closed as they arrive (Node's `maxConnections`). Default 256. */
  maxConnections?: number;
}

/** The defaults of {@link ServerLimits}. */
export const DEFAULT_SERVER_LIMITS: Readonly<Required<ServerLimits>> = {
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  maxConnections: 256,
};

/** Options of {@link createWebhookServer}: its routes and its limits. */
export interface WebhookServerOptions extends NodeListenerOptions, ServerLimits {}

/** The limits of `options` with the defaults filled in, each checked to be a positive whole number. */
export function serverLimits(options: ServerLimits = {}): Required<ServerLimits> {
  const limits = { ...DEFAULT_SERVER_LIMITS };
  for (const name of Object.keys(DEFAULT_SERVER_LIMITS) as (keyof ServerLimits)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`${name} must be a positive whole number, got ${String(value)}`);
    }
    limits[name] = value;
  }
  return limits;
}

/** The raw answers Node itself writes to a request it gave up on, by error code. */
function clientErrorAnswer(code: string): string {
  const status =
    code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? "408 Request Timeout"
      : code === "HPE_HEADER_OVERFLOW"
        ? "431 Request Header Fields Too Large"
        : "400 Bad Request";
  return `HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`;
}

/**
 * A node:http server for the receiver, bounded against slow, idle and numerous clients:
 * - a request's headers must arrive within `headersTimeoutMs` (a connection that sends nothing is
 *   closed then too), the whole request within `headersTimeoutMs + bodyTimeoutMs`: 408, closed;
 * - an idle keep-alive connection is closed after `idleTimeoutMs` (plus Node's 1 s margin);
 * - at most `maxConnections` at once: further connections are closed unanswered (the provider
 *   retries a delivery that got no answer a minute later);
 * - deliveries on the configured path only (404 elsewhere), `GET /healthz` for probes;
 * - a request that cannot be a delivery is answered without its body being read, and gets no
 *   `100 Continue`.
 * Timeouts, unparseable requests and dropped connections are counted in
 * {@link WebhookReceiver.counters} and summarised in its log. Timeouts are checked every
 * second at most (Node's `connectionsCheckingInterval`, a quarter of the shortest timeout when that
 * is shorter).
 *
 * @example
 * ```ts
 * createWebhookServer(receiver, { path: "/webhooks/fullenrich" }).listen(8080);
 * ```
 */
export function createWebhookServer(receiver: WebhookReceiver, options: WebhookServerOptions = {}): Server {
  const routes = nodeRoutes(options);
  const limits = serverLimits(options);
  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.max(
      10,
      Math.min(1_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.bodyTimeoutMs) / 4)),
    ),
  });
  server.maxConnections = limits.maxConnections;
  // The answer in progress on each connection: a request that times out after its answer started
  // is only closed, not answered a second time.
  const answering = new WeakMap<Duplex, ServerResponse>();
  const listener =
    (expectsContinue: boolean) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const socket = req.socket;
      answering.set(socket, res);
      res.once("finish", () => {
        if (answering.get(socket) === res) answering.delete(socket);
      });
      handleNodeRequest(receiver, req, res, { routes, expectsContinue }).catch((error: unknown) =>
        failNodeRequest(res, error),
      );
    };
  server.on("request", listener(false));
  server.on("checkContinue", listener(true));
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = error.code ?? "";
    if (code === "ERR_HTTP_REQUEST_TIMEOUT") receiver.noteClosedConnection("timeout");
    else if (code.startsWith("HPE_") && code !== "HPE_INVALID_EOF_STATE") {
      receiver.noteClosedConnection("malformed-http");
    }
    if (socket.writable && answering.get(socket)?.headersSent !== true) socket.write(clientErrorAnswer(code));
    socket.destroy();
  });
  server.on("drop", () => receiver.noteClosedConnection("over-capacity"));
  return server;
}
