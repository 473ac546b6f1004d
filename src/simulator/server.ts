import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AnswerDroppedError,
  SIMULATOR_API_PREFIX,
  type Simulator,
  type SimulatorOptions,
} from "./options.js";
import { createSimulator } from "./simulator.js";

/** Options of {@link startSimulator}: the simulator's, plus where to listen. */
export interface StartSimulatorOptions extends SimulatorOptions {
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
}

/** A simulator served over HTTP. */
export interface RunningSimulator {
  simulator: Simulator;
  /** `http://host:port`. */
  url: string;
  /** `url` + `/api/v2`: what a client takes as its base URL. */
  baseUrl: string;
  port: number;
  /** Stops the server, drops its connections and closes the simulator. */
  close(): Promise<void>;
}

/** Headers that describe the connection rather than the request. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "upgrade",
  "host",
]);

async function toRequest(incoming: IncomingMessage, origin: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const method = incoming.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(new URL(incoming.url ?? "/", origin), {
    method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
  });
}

async function writeResponse(response: Response, outgoing: ServerResponse): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers["content-length"] = String(body.length);
  outgoing.writeHead(response.status, headers);
  outgoing.end(body);
}

/**
 * Starts a simulator behind a `node:http` server. Every request is converted to a WHATWG
 * `Request`, answered by `simulator.handle`, and written back.
 */
export async function startSimulator(options: StartSimulatorOptions = {}): Promise<RunningSimulator> {
  const { port: wantedPort = 0, host = "127.0.0.1", ...simulatorOptions } = options;
  const simulator = createSimulator(simulatorOptions);
  let origin = "";
  const server = createServer((incoming, outgoing) => {
    toRequest(incoming, origin)
      .then((request) => simulator.handle(request))
      .then((response) => writeResponse(response, outgoing))
      .catch((error: unknown) => {
        if (outgoing.headersSent || error instanceof AnswerDroppedError) {
          outgoing.destroy();
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        outgoing.writeHead(500, { "content-type": "application/json" });
        outgoing.end(JSON.stringify({ code: "error.internal", message }));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(wantedPort, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(":") ? `[${host}]` : host;
  origin = `http://${hostInUrl}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    simulator,
    url: origin,
    baseUrl: `${origin}${SIMULATOR_API_PREFIX}`,
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        simulator.close();
        server.close(() => resolve());
        server.closeIdleConnections();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
