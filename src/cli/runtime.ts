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

/** Listens, or fails with a message that says what to do when the port is taken. */
export function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new Error(
          error.code === "EADDRINUSE"
            ? `cannot listen on ${host}:${port}: the port is already in use; choose another with --listen HOST:PORT`
            : `cannot listen on ${host}:${port}: ${error.message}`,
        ),
      );
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
  const store = await openStore(options.store);
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

/** `--store`: a URL (`postgres://…`) or `:memory:` as given, a file path relative to the working directory. */
export function storeLocation(cwd: string, value: string): string {
  return isStoreUrl(value) ? value : resolve(cwd, value);
}

function isStoreUrl(value: string): boolean {
  return value === ":memory:" || /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
}
