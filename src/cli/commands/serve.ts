import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { timedStore } from "../../engine/timed-store.js";
import type { EventStore } from "../../events/store.js";
import { openStore } from "../../events/stores/index.js";
import { EngineMetrics, meterOf, observeDeliveries } from "../../internal/metrics.js";
import { DEFAULT_MAX_BUFFERED_BYTES } from "../../webhooks/body-budget.js";
import { DEFAULT_HEALTH_PATH, DEFAULT_WEBHOOK_PATH } from "../../webhooks/node-adapter.js";
import { createWebhookServer, DEFAULT_SERVER_LIMITS, type ServerLimits } from "../../webhooks/node-server.js";
import {
  type AcceptedDelivery,
  DEFAULT_MAX_BODY_BYTES,
  type ReceiverCounters,
  WebhookReceiver,
} from "../../webhooks/receiver.js";
import { API_KEY_FLAGS, API_KEY_USAGE, resolveApiKey } from "../api-key.js";
import { flag, hostPort, parseFlags, positiveNumber } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { LOG_LEVEL_FLAGS, LOG_LEVEL_USAGE, loggerFromFlags } from "../log-flags.js";
import { type MetricsEndpoint, startMetricsEndpoint } from "../metrics-endpoint.js";
import { listen, storeLocation } from "../runtime.js";
import { UsageError } from "../usage-error.js";

const seconds = (ms: number): string => `${ms / 1000}`;

export const SERVE_USAGE = `fullenrich-rx serve --listen HOST:PORT --store PATH|URL [--path P] [flags]

Runs the webhook receiver alone: every delivery's X-Signature-SHA1 is checked with the API key,
the delivery is written to the event log as it arrived (a SQLite file, or postgres://…), and only
then acknowledged; it is parsed right after the answer. Retries of a stored delivery are
acknowledged without being stored twice; signed bodies that cannot be parsed are kept as
quarantined. Deliveries stored but not yet parsed when the process stopped (even by kill -9) are
parsed when it starts again on the same log. Point webhook_url (and webhook_events.contact_finished) at this address
and path. Without an API key nothing can be verified, so the command refuses to start.

A request that cannot be a delivery is answered from its headers alone, its body unread: another
path 404, another method 405, no or a malformed signature 401, a Content-Length over the limit 413
(no \`100 Continue\` for any of them). Refusals are logged as one summary line a minute at most,
with counts by reason. GET ${DEFAULT_HEALTH_PATH} answers 200 with the store's state, 503 when deliveries cannot
be stored (the last append failed, the store cannot be read, or the receiver is stopping): for load
balancers and orchestrators.

    [--path P]                 the path deliveries are POSTed to (default ${DEFAULT_WEBHOOK_PATH}); others get 404
${API_KEY_USAGE}
    [--metrics HOST:PORT]      serve Prometheus metrics at http://HOST:PORT/metrics: webhook
                               deliveries by outcome (accepted, duplicate, quarantined,
                               store-error, forged, refused) and store append latency
    [--print]                  one line per verified delivery, once parsed (time, event,
                               enrichment id, quarantined), or per retry (time, "retry", id)
    [--verbose]                each delivery's body instead: it holds personal data, so only ask
                               for it when needed
    [--max-body-bytes N]       larger bodies get 413 (default ${DEFAULT_MAX_BODY_BYTES})
    [--max-buffered-bytes N]   bytes of bodies held in memory at once, all requests together
                               (default ${DEFAULT_MAX_BUFFERED_BYTES}); a request that would go over gets 503
    [--headers-timeout S]      seconds to receive a request's headers (default ${seconds(DEFAULT_SERVER_LIMITS.headersTimeoutMs)}); a connection
                               that sends nothing is closed then too
    [--body-timeout S]         seconds more for the body: the whole request must arrive within
                               both (default ${seconds(DEFAULT_SERVER_LIMITS.bodyTimeoutMs)}); slower requests get 408 and are closed
    [--idle-timeout S]         seconds a keep-alive connection may stay idle (default ${seconds(DEFAULT_SERVER_LIMITS.idleTimeoutMs)}; Node
                               closes it about 1 s later)
    [--max-connections N]      connections at once (default ${DEFAULT_SERVER_LIMITS.maxConnections}); further ones are closed unanswered
                               and the provider retries them a minute later
${LOG_LEVEL_USAGE}

Stops on SIGINT/SIGTERM, after the deliveries in progress, and prints the counters.`;

/** How long a stop waits for requests in progress before dropping their connections. */
const SHUTDOWN_GRACE_MS = 10_000;

const byteCount = z.coerce
  .number({ error: "must be a number of bytes" })
  .int({ error: "must be a whole number of bytes" })
  .positive({ error: "must be a positive number of bytes" })
  .max(Number.MAX_SAFE_INTEGER, { error: "is too large" });
const connectionCount = z.coerce
  .number({ error: "must be a number of connections" })
  .int({ error: "must be a whole number" })
  .positive({ error: "must be at least 1" })
  .max(1_000_000, { error: "is too large" });
const timeoutSeconds = positiveNumber
  .transform((value) => Math.round(value * 1000))
  .refine((ms) => ms >= 1 && ms <= 24 * 3_600_000, { error: "must be from 0.001 to 86400 seconds" });
const webhookPath = z
  .string()
  .regex(/^\/[^?#\s]*$/, { error: 'must be a path starting with "/", without query or spaces' })
  .refine((path) => path !== DEFAULT_HEALTH_PATH, {
    error: `${DEFAULT_HEALTH_PATH} is the health probe's path`,
  });

/** The server limits given on the command line (unset ones keep their defaults). */
function limitFlags(values: Record<string, string | boolean | undefined>): ServerLimits {
  const timeout = (name: string): number | undefined => {
    const value = values[name];
    return value === undefined ? undefined : flag(name, timeoutSeconds, value);
  };
  const headersTimeoutMs = timeout("headers-timeout");
  const bodyTimeoutMs = timeout("body-timeout");
  const idleTimeoutMs = timeout("idle-timeout");
  const maxConnections =
    values["max-connections"] === undefined
      ? undefined
      : flag("max-connections", connectionCount, values["max-connections"]);
  return {
    ...(headersTimeoutMs === undefined ? {} : { headersTimeoutMs }),
    ...(bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    ...(maxConnections === undefined ? {} : { maxConnections }),
  };
}

export async function serveCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    listen: { type: "string" },
    store: { type: "string" },
    path: { type: "string" },
    ...API_KEY_FLAGS,
    metrics: { type: "string" },
    print: { type: "boolean" },
    verbose: { type: "boolean" },
    "max-body-bytes": { type: "string" },
    "max-buffered-bytes": { type: "string" },
    "headers-timeout": { type: "string" },
    "body-timeout": { type: "string" },
    "idle-timeout": { type: "string" },
    "max-connections": { type: "string" },
    ...LOG_LEVEL_FLAGS,
  });
  if (values.listen === undefined)
    throw new UsageError("--listen HOST:PORT is required, e.g. 127.0.0.1:8080");
  if (values.store === undefined)
    throw new UsageError("--store PATH|URL is required (the event log: a SQLite file or postgres://…)");
  const { host, port } = flag("listen", hostPort, values.listen);
  const metricsAt = values.metrics === undefined ? undefined : flag("metrics", hostPort, values.metrics);
  const maxBodyBytes = flag("max-body-bytes", byteCount, values["max-body-bytes"] ?? DEFAULT_MAX_BODY_BYTES);
  const maxBufferedBytes =
    values["max-buffered-bytes"] === undefined
      ? undefined
      : flag("max-buffered-bytes", byteCount, values["max-buffered-bytes"]);
  if (maxBufferedBytes !== undefined && maxBufferedBytes < maxBodyBytes) {
    throw new UsageError(
      `--max-buffered-bytes ${maxBufferedBytes} is below --max-body-bytes ${maxBodyBytes}: the largest body could never be read`,
    );
  }
  const path = flag("path", webhookPath, values.path ?? DEFAULT_WEBHOOK_PATH);
  const limits = limitFlags(values);
  const logger = loggerFromFlags(
    { "log-level": values["log-level"], "log-format": values["log-format"] },
    io,
  );
  const apiKey = await resolveApiKey(values, io);
  if (apiKey === undefined) {
    throw new UsageError(
      "no API key: webhook signatures cannot be checked without the key they are signed with. " +
        "Set FULLENRICH_API_KEY or pass --api-key-file PATH.",
    );
  }
  const storePath = storeLocation(io.cwd, values.store);

  const store = await openStore(storePath, { logger });
  let endpoint: MetricsEndpoint | undefined;
  try {
    endpoint = metricsAt === undefined ? undefined : await startMetricsEndpoint(metricsAt);
  } catch (error) {
    await store.close();
    throw error;
  }
  const meter = endpoint ? meterOf(endpoint.provider) : undefined;
  const receiver = new WebhookReceiver({
    store: meter ? timedStore(store, new EngineMetrics(meter)) : store,
    apiKeys: [apiKey],
    maxBodyBytes,
    ...(maxBufferedBytes === undefined ? {} : { maxBufferedBytes }),
    logger,
  });
  const server = createWebhookServer(receiver, { path, ...limits });

  // Printing is chained so that lines come out in delivery order, even when a body is read back.
  let printing: Promise<void> = Promise.resolve();
  const mode = values.verbose === true ? "body" : values.print === true ? "summary" : "none";
  const subscription =
    mode === "none"
      ? undefined
      : receiver.deliveries$.subscribe((delivery) => {
          const at = new Date().toISOString();
          printing = printing
            .then(async () => {
              print(io.stdout, mode === "body" ? await bodyLine(store, delivery) : summaryLine(at, delivery));
            })
            .catch((error: unknown) => {
              print(io.stderr, `could not print a delivery: ${(error as Error).message}`);
            });
        });

  const stopObserving = meter ? observeDeliveries(meter, () => receiver.counters()) : () => {};
  try {
    await listen(server, host, port);
  } catch (error) {
    subscription?.unsubscribe();
    stopObserving();
    receiver.close();
    await endpoint?.close();
    await store.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.address.includes(":") ? `[${address.address}]` : address.address;
  print(
    io.stdout,
    `fullenrich-rx webhook receiver listening on http://${shownHost}:${address.port}${path} (health: GET ${DEFAULT_HEALTH_PATH})`,
  );
  print(io.stdout, `storing deliveries in ${storePath}`);
  if (endpoint) print(io.stdout, `metrics for Prometheus at ${endpoint.url}`);

  if (!io.signal.aborted) await once(io.signal, "abort");

  await stopServer(server);
  // Every delivery acknowledged is parsed before the store closes (one that is not would be parsed
  // by the next start).
  await receiver.whenParsed();
  await printing;
  subscription?.unsubscribe();
  stopObserving();
  receiver.close();
  await endpoint?.close();
  await store.close();
  print(io.stdout, `stopped: ${describeCounters(receiver.counters())}`);
  return 0;
}

/** Stops accepting, lets requests in progress finish (and their appends commit), then drops what is left. */
async function stopServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
  server.closeIdleConnections();
  // Keep-alive connections that go idle after their last answer are closed as they do.
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let grace: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolvePromise) => {
    grace = setTimeout(resolvePromise, SHUTDOWN_GRACE_MS);
  });
  await Promise.race([closed, timedOut]);
  clearInterval(sweep);
  clearTimeout(grace);
  server.closeAllConnections();
  await closed;
}

function summaryLine(at: string, delivery: AcceptedDelivery): string {
  const notes = [delivery.duplicate ? "duplicate" : "", delivery.quarantined ? "quarantined" : ""].filter(
    (note) => note !== "",
  );
  // A retry is not parsed again: its kind is not known.
  const kind = delivery.duplicate ? "retry" : (delivery.event ?? "unparsed");
  return [at, kind, delivery.enrichmentId ?? "-", ...notes].join(" ");
}

/** The delivery's body as stored: the JSON payload, or the raw text of a quarantined one. */
async function bodyLine(store: EventStore, delivery: AcceptedDelivery): Promise<string> {
  const event = await store.findByDedupKey(`delivery:${delivery.digest}`);
  const data = event?.data as { payload?: unknown; body?: string; encoding?: string } | undefined;
  if (data?.payload !== undefined) return JSON.stringify(data.payload);
  if (data?.body !== undefined) return data.encoding === "base64" ? `base64:${data.body}` : data.body;
  return `(delivery ${delivery.digest} not found in the store)`;
}

function describeCounters(counters: ReceiverCounters): string {
  const { rejected, closed } = counters;
  const refused = Object.values(rejected).reduce((sum, count) => sum + count, 0);
  const dropped = Object.values(closed).reduce((sum, count) => sum + count, 0);
  return (
    `${counters.stored} stored (${counters.accepted} parsed, ${counters.quarantined} quarantined, ` +
    `${counters.unparsed} left for the next start), ${counters.duplicate} duplicates, ` +
    `${counters.storeErrors} store errors (answered 503), ${refused} refused ` +
    `(${rejected["bad-signature"]} bad signature, ${rejected["missing-signature"]} missing signature, ` +
    `${rejected["too-large"]} too large, ${rejected.busy} over the memory budget, ` +
    `${rejected.method} wrong method, ${rejected["not-found"]} wrong path, ` +
    `${rejected.malformed} malformed), ${dropped} connections closed ` +
    `(${closed.timeout} timed out, ${closed["malformed-http"]} not HTTP, ${closed["over-capacity"]} over the cap)`
  );
}
