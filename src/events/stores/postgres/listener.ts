import type { Client, Notification } from "pg";
import type { Logger } from "../../../internal/logger.js";
import { messageOf } from "../shared/validation.js";
import type { PostgresNames } from "./schema.js";
import { connectionConfig, type PgModule, type PostgresSettings } from "./settings.js";

/** What the LISTEN connection tells its store. @internal */
export interface ListenerEvents {
  /** Whether the store is open and someone subscribes (else a lost connection is not reopened). */
  wanted(): boolean;
  /** A commit was notified, with the head it reached (undefined when the payload is not a position). */
  notified(head: number | undefined): void;
  /** The connection listens (or failed to): read once, in case something committed before. */
  ready(): void;
}

/**
 * The LISTEN connection of one {@link PostgresEventStore}: a dedicated connection (not from the
 * pool) that lives while someone subscribes and hears each commit's NOTIFY on the store's channel.
 * When it is lost it is opened again after `pollIntervalMs` (the poll keeps subscriptions going
 * meanwhile).
 * @internal
 */
export class NotificationListener {
  private current: { client: Client; ready: Promise<void> } | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private up = false;
  private count = 0;

  constructor(
    private readonly pg: PgModule,
    private readonly settings: PostgresSettings,
    private readonly events: ListenerEvents,
  ) {}

  /** Whether the connection listens. */
  get listening(): boolean {
    return this.up;
  }

  /** Notifications received. */
  get notifications(): number {
    return this.count;
  }

  /** Whether neither a connection nor a retry is under way (a poll then starts one). */
  get idle(): boolean {
    return this.current === undefined && this.retry === undefined;
  }

  /** Resolves once the connection listens (or failed to), or at once when there is none. */
  whenReady(): Promise<void> | undefined {
    return this.current?.ready;
  }

  /** Opens the connection unless there is one; wakes every subscription once it listens. */
  start(): void {
    if (this.current !== undefined || !this.events.wanted()) return;
    const { names, logger, location } = this.settings;
    const client = new this.pg.Client(connectionConfig(this.settings));
    client.on("notification", (message: Notification) => this.onNotification(names, message));
    const lost = (error: unknown): void => this.lost(client, logger, location, error);
    client.on("error", lost);
    client.on("end", () => lost(new Error("the connection ended")));
    const ready = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${names.quotedChannel}`);
        if (this.current?.client === client) this.up = true;
      } catch (error) {
        lost(error);
      }
      // Catch up on whatever committed before LISTEN took effect.
      this.events.ready();
    })();
    this.current = { client, ready };
  }

  /** Closes the connection (and cancels a pending retry). */
  async stop(): Promise<void> {
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    this.up = false;
    await current.ready;
    await current.client.end().catch(() => undefined);
  }

  private onNotification(names: PostgresNames, message: Notification): void {
    if (message.channel !== names.channel) return;
    this.count += 1;
    const head = Number(message.payload);
    this.events.notified(Number.isSafeInteger(head) ? head : undefined);
  }

  private lost(client: Client, logger: Logger, location: string, error: unknown): void {
    if (this.current?.client !== client) return;
    this.current = undefined;
    this.up = false;
    client.end().catch(() => undefined);
    if (!this.events.wanted()) return;
    logger.warn("event store LISTEN connection lost; polling until it is back", {
      location,
      error: messageOf(error),
    });
    this.retry ??= setTimeout(() => {
      this.retry = undefined;
      if (this.events.wanted()) this.start();
    }, this.settings.pollIntervalMs);
    this.retry.unref?.();
  }
}
