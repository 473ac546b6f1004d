import { existsSync } from "node:fs";
import type { Server } from "node:http";
import { resolve } from "node:path";
import { FullEnrichClient } from "../api/client.js";
import { FullEnrichError } from "../api/errors.js";
import { createRedisCallLimiter } from "../api/redis-window-budget.js";
import type { FetchLike } from "../api/transport.js";
import { EnrichmentEngine } from "../engine/engine.js";
import type { EngineMode } from "../engine/engine-options.js";
import { RedisPollLeases } from "../engine/redis-poll-leases.js";
import type { EventStore } from "../events/store.js";
import { openStore } from "../events/stores/index.js";
import { sha256Hex } from "../internal/crypto.js";
import type { Logger } from "../internal/logger.js";
import { DEFAULT_WEBHOOK_PATH } from "../webhooks/node-adapter.js";
import { createWebhookServer, type ServerLimits } from "../webhooks/node-server.js";
import { WebhookReceiver } from "../webhooks/receiver.js";
import { UsageError } from "./usage-error.js";

/** Everything a CLI run needs, opened together and closed together. */
export interface Runtime {
  store: EventStore;
  client: FullEnrichClient;
  engine: EnrichmentEngine;
  receiver: WebhookReceiver | null;
  /** Where the receiver listens, when it does. */
  listening: string | null;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  apiKey: string;
  baseUrl: string;
  /** A SQLite path, `:memory:`, or a `postgres://` URL. */
  store: string;
  rateLimit: number;
  timeScale: number;
  /**
   * Webhook mode: the URL the provider calls (default: the receiver's own address and
   * `/webhook`, for a provider on this machine), and where the built-in receiver listens. The
   * receiver takes deliveries on the URL's path only, answers `GET /healthz`, and bounds its
   * clients with `limits` (the defaults of {@link ServerLimits} otherwise).
   */
  webhook?: {
    url?: string;
    listen: { host: string; port: number };
    contactEvents: boolean;
    mode?: EngineMode;
    limits?: ServerLimits;
  };
  batchSize?: number;
  /** Enrichments running at the provider at once (the engine's `maxRunning`). Default 100. */
  maxRunning?: number;
  /**
   * Several instances: a Redis URL. The rate limit is then shared by every instance using the same
   * account on that Redis, and polling is spread among them with leases.
   */
  redis?: string;
  fetch?: FetchLike;
  logger?: Logger;
}

/**
 * Listens, or fails with a message that says what to do when the port is taken (with `flag`, the
 * flag that chose it) or cannot be used.
 */
export function listen(
  server: Server,
  host: string,
  port: number,
  flag = "--listen HOST:PORT",
): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why =
        error.code === "EADDRINUSE"
          ? `the port is already in use; choose another with ${flag}`
          : error.code === "EACCES"
            ? `not allowed to use this port (below 1024 needs privileges); choose another with ${flag}`
            : error.code === "EADDRNOTAVAIL"
              ? `no interface of this machine has that address; choose another with ${flag}`
              : error.message;
      reject(new Error(`cannot listen on ${host}:${port}: ${why}`));
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      const address = server.address();
      resolve(
        typeof address === "object" && address ? `${address.address}:${address.port}` : `${host}:${port}`,
      );
    });
  });
}

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const store = await openStore(options.store, options.logger ? { logger: options.logger } : {});
  const closers: (() => Promise<void>)[] = [() => store.close()];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => undefined);
  };
  try {
    // One budget per account on a shared Redis: keyed by a digest of the key, never the key itself.
    const account = `fullenrich-rx:${sha256Hex(options.apiKey).slice(0, 16)}:`;
    const limiter = options.redis
      ? await createRedisCallLimiter({
          url: options.redis,
          limit: options.rateLimit,
          windowMs: 60_000 * options.timeScale,
          keyPrefix: `${account}budget:`,
        })
      : undefined;
    if (limiter) closers.push(() => limiter.stop());
    const leases = options.redis
      ? await RedisPollLeases.connect({ url: options.redis, keyPrefix: `${account}lease:` })
      : undefined;
    if (leases) closers.push(() => leases.close());
    const client = new FullEnrichClient({
      apiKey: options.apiKey,
      baseUrl: options.baseUrl,
      rateLimit: options.rateLimit,
      timeScale: options.timeScale,
      ...(limiter ? { limiter } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    closers.push(() => client.close());
    let receiver: WebhookReceiver | null = null;
    let listening: string | null = null;
    if (options.webhook) {
      const activeReceiver = new WebhookReceiver({
        store,
        apiKeys: [options.apiKey],
        ...(options.logger ? { logger: options.logger } : {}),
      });
      receiver = activeReceiver;
      // Closed after the server: the deliveries it acknowledged are parsed before the store closes.
      closers.push(() => activeReceiver.whenParsed());
      const path = options.webhook.url ? new URL(options.webhook.url).pathname : DEFAULT_WEBHOOK_PATH;
      const server = createWebhookServer(activeReceiver, { path, ...options.webhook.limits });
      listening = await listen(server, options.webhook.listen.host, options.webhook.listen.port);
      closers.push(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      );
    }
    const engine = await EnrichmentEngine.start({
      client,
      store,
      mode: options.webhook ? (options.webhook.mode ?? "webhook") : "polling",
      ...(options.webhook && receiver
        ? {
            webhook: {
              url: options.webhook.url ?? `http://${listening}${DEFAULT_WEBHOOK_PATH}`,
              contactEvents: options.webhook.contactEvents,
              receiver,
            },
          }
        : {}),
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      ...(options.maxRunning ? { maxRunning: options.maxRunning } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(leases ? { leases } : {}),
    });
    closers.push(() => engine.close());
    return { store, client, engine, receiver, listening, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Opens an event log that must already exist (for `status` and `export`): a missing SQLite file is
 * an error that says where the log was looked for, rather than a new, empty log created there.
 */
export async function openExistingStore(location: string): Promise<EventStore> {
  if (!isStoreUrl(location) && !existsSync(location)) {
    throw new FullEnrichError(
      `no event log at ${location}: pass the --store that \`enrich\`, \`reverse\` or \`serve\` wrote to (default ./.fullenrich-rx/events.db, relative to the directory they ran in)`,
    );
  }
  return openStore(location);
}

/**
 * `--store`: a PostgreSQL URL (`postgres://…`, `postgresql://…`) or `:memory:` as given, a file
 * path relative to the working directory. Anything else that starts like a URL (`pg://x`,
 * `sqlite:x`, `mysql://…`) is a usage error: it would otherwise become a SQLite file of that name.
 */
export function storeLocation(cwd: string, value: string): string {
  if (isStoreUrl(value)) return value;
  // A scheme of two letters or more (a Windows drive, `C:\…`, is a path).
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(value)?.[1];
  if (scheme !== undefined) {
    throw new UsageError(
      `--store: ${JSON.stringify(value)} looks like a ${scheme}: URL, which is not a store: use postgres://… (or postgresql://…) for PostgreSQL, or a file path for SQLite (e.g. ./.fullenrich-rx/events.db)`,
    );
  }
  return resolve(cwd, value);
}

function isStoreUrl(value: string): boolean {
  return value === ":memory:" || /^postgres(ql)?:\/\//i.test(value);
}
