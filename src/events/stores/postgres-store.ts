import type { Pool } from "pg";
import { type EventStore, type StoredEvent, StoreUnavailableError } from "../store.js";
import { type CommitContext, commitGroup } from "./postgres/commit.js";
import { isConnectionError, postgresUnavailable } from "./postgres/errors.js";
import { NotificationListener } from "./postgres/listener.js";
import { executeOn, PostgresReads, readHead } from "./postgres/reads.js";
import { migrate } from "./postgres/schema.js";
import {
  connectionConfig,
  loadPg,
  type PgModule,
  type PostgresEventStoreOptions,
  type PostgresSettings,
  postgresSettings,
} from "./postgres/settings.js";
import { checkNoNulOf } from "./postgres/text-checks.js";
import { AssembledEventStore } from "./shared/assembled-store.js";
import type { GroupWriter } from "./shared/group-writer.js";
import { StoreLifecycle } from "./shared/lifecycle.js";
import type { LiveTails } from "./shared/live-tails.js";
import { messageOf } from "./shared/validation.js";
import type { WriteOp } from "./shared/write-ops.js";

export type { PostgresEventStoreOptions } from "./postgres/settings.js";

/** Counters and settings of an open {@link PostgresEventStore}, for monitoring and tests. */
export interface PostgresStoreDiagnostics {
  /** The URL, without its password. */
  location: string;
  schema: string;
  /** The LISTEN/NOTIFY channel of this store's commits. */
  channel: string;
  /** Write transactions committed (each one a group of appends and checkpoint moves). */
  transactions: number;
  /** Appends and checkpoint moves those transactions carried. */
  operations: number;
  /** Notifications received on the LISTEN connection. */
  notifications: number;
  /** Whether the LISTEN connection is up (only while someone subscribes). */
  listening: boolean;
  /** Live subscriptions. */
  subscriptions: number;
}

/** Taken when the module loads: retries wait in real time even under fake timers (tests). */
const realSetTimeout = globalThis.setTimeout;
function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/**
 * An {@link EventStore} in PostgreSQL (through `pg`), for several processes or hosts sharing one log.
 *
 * - **Several writers at once, no global lock.** Positions come from a sequence and are taken in
 *   a short section under an advisory lock (two round trips: the streams' versions, then the
 *   positions together with the transaction's id), not held until COMMIT: writers of several
 *   processes insert and commit at the same time, and their commits share the server's disk
 *   flushes. Positions may therefore have gaps (an append that fails or is retried leaves its
 *   positions unused), and a transaction may commit after one that took higher positions.
 * - **Readers never skip a late commit.** Each event records its transaction's id, and reads by
 *   position (and `head`, and subscriptions) only see events whose transaction is older than the
 *   oldest one still running (`pg_snapshot_xmin(pg_current_snapshot())`, as Emmett does). As ids
 *   and positions are given in one order under that lock, an event not readable yet always has a
 *   higher position than every readable one: a reader following positions sees each event once,
 *   in order. The cost: an event becomes readable by position only when every older transaction
 *   has ended (a long transaction anywhere on the server, with a transaction id, holds position
 *   readers back). A store reads its own appends: an ordered read waits up to 2 s for them to pass
 *   the horizon. Lookups by stream, tags or dedup key see every committed event at once.
 * - **Streams without a stream lock.** Webhook receivers all append to `deliveries`: a lock per
 *   stream held until COMMIT would make them take turns again. An append that expects nothing of
 *   its stream takes the stream's lock in shared mode, and its stream versions come from a counter
 *   per stream (`stream_heads`) updated on a connection of its own that commits at once, so
 *   concurrent appends to one stream take distinct versions without waiting for each other. An
 *   append with an expected version takes the stream's lock exclusively: it waits for the appends
 *   in flight on that stream, checks the stored version and restarts the counter from it.
 * - **Dedup keys** are unique (an index); when another writer stores the same key meanwhile, the
 *   group is planned again and the event ends as a duplicate with the stored position.
 * - **Group commit.** Appends and other writes issued while a transaction is in flight are
 *   committed together in the next one: duplicates and expected versions of the whole group are
 *   checked in memory, and each append is all-or-nothing on its own (a `ConcurrencyError`
 *   drops only that append, before it takes any position). The group is written in one statement;
 *   if PostgreSQL refuses what one append carries (a data or size error), the group's appends are
 *   retried one transaction each, so that one bad append cannot fail the others. Every promise
 *   settles after `COMMIT`.
 * - **Subscriptions** follow `LISTEN`/`NOTIFY` (each commit notifies, on a dedicated connection
 *   that lives while someone subscribes), read once more after `LISTEN` is established so that
 *   nothing committed in between is missed, and poll the readable head every `pollIntervalMs`
 *   (which also catches an event made readable by another writer's rollback, which notifies
 *   nothing). This store's own commits wake them at once. They complete when the store closes.
 * - The schema is created (or migrated in place) on open, under an advisory lock, so several
 *   processes may open a new database at once. Errors never show the URL's password.
 *
 * Assembled from operations: reads (`postgres/reads.ts`), the group's plan, numbers, writes and
 * transaction (`postgres/plan.ts`, `reserve.ts`, `write.ts`, `commit.ts`), the LISTEN connection
 * (`postgres/listener.ts`), and what it shares with the other stores (`shared/`).
 */
export class PostgresEventStore extends AssembledEventStore {
  /** @internal */
  protected readonly lifecycle: StoreLifecycle;
  /** @internal */
  protected readonly reads: PostgresReads;
  /** @internal */
  protected readonly tails: LiveTails;
  /** @internal */
  protected readonly writes: GroupWriter;
  /** @internal */
  protected readonly pageSize: number;
  private readonly listener: NotificationListener;
  private transactions = 0;
  private operations = 0;

  private constructor(
    pg: PgModule,
    private readonly pool: Pool,
    /** One connection that gives out stream versions outside the appending transactions. */
    private readonly allocatorPool: Pool,
    private readonly settings: PostgresSettings,
    head: number,
  ) {
    super();
    this.pageSize = settings.pageSize;
    this.lifecycle = new StoreLifecycle(`the event store ${settings.location}`);
    this.reads = new PostgresReads(executeOn(pool), settings.names);
    // Polling, the safety net: wakes the subscriptions when `head` moved without a notification.
    this.tails = this.liveTails(head, {
      polling: {
        intervalMs: settings.pollIntervalMs,
        head: () => this.reads.head(),
        onError: (error) =>
          settings.logger.warn("event store poll failed", {
            location: settings.location,
            error: messageOf(error),
          }),
        afterPoll: () => {
          if (this.listener.idle) this.listener.start();
        },
      },
      onSubscribe: () => this.listener.start(),
      onLast: () => {
        if (this.lifecycle.isOpen) void this.listener.stop();
      },
    });
    this.listener = new NotificationListener(pg, settings, {
      wanted: () => this.lifecycle.isOpen && this.tails.size > 0,
      // Not noted as readable: a notified position may still be beyond the transaction horizon
      // (see appended()).
      notified: () => this.tails.wake(),
      ready: () => this.tails.wake(),
    });
    const committing: CommitContext = {
      pool,
      allocate: executeOn(allocatorPool),
      settings,
      onCommitted: (writes) => {
        this.transactions += 1;
        this.operations += writes;
      },
    };
    this.writes = this.groupWriter({
      check: checkNoNulOf,
      // Let the rest of this turn's synchronous appends join the group.
      gather: () => Promise.resolve(),
      take: (queued) => this.groupSize(queued),
      commit: async (group) => {
        const outcomes = await commitGroup(committing, group, true);
        // Its own appends: what ordered reads of this store wait to see (read your writes).
        for (const outcome of outcomes) {
          for (const event of outcome.ok ? (outcome.result?.appended ?? []) : [])
            this.reads.wrote(event.position);
        }
        return outcomes;
      },
    });
  }

  /**
   * Connects to the database at `url` (`postgres://user:password@host:port/database`, with
   * optional `?schema=name` and the usual `pg` parameters such as `sslmode`), creates the schema
   * and its tables when missing (or checks their version), and returns the open store.
   * Rejects with `StoreUnavailableError` when the server cannot be reached, refuses the
   * credentials, lacks the database or the privileges, or holds a newer schema version; with a
   * RangeError for a URL or option that is not valid. Messages never contain the password.
   */
  static async open(url: string, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const settings = postgresSettings(url, options);
    const pg = await loadPg();
    const pool = new pg.Pool({
      ...connectionConfig(settings),
      max: settings.poolSize,
      idleTimeoutMillis: 30_000,
    });
    // Stream versions are given out on a connection of their own, in statements that commit at
    // once without waiting for the disk (see allocateStreamVersions).
    const allocatorPool = new pg.Pool({
      ...connectionConfig(settings),
      max: 1,
      idleTimeoutMillis: 30_000,
      options: "-c synchronous_commit=off",
    });
    // An idle pooled connection that breaks (server restart) is dropped by the pool; say so.
    for (const each of [pool, allocatorPool]) {
      each.on("error", (error) => {
        settings.logger.warn("event store connection lost", {
          location: settings.location,
          error: messageOf(error),
        });
      });
    }
    try {
      const client = await pool.connect();
      let broken = false;
      try {
        await migrate(client, settings.names, settings.location);
        const head = await readHead(executeOn(client), settings.names);
        return new PostgresEventStore(pg, pool, allocatorPool, settings, head);
      } catch (error) {
        broken = isConnectionError(error);
        throw error;
      } finally {
        client.release(broken);
      }
    } catch (error) {
      await Promise.all([pool.end().catch(() => undefined), allocatorPool.end().catch(() => undefined)]);
      throw postgresUnavailable(error, settings, "open");
    }
  }

  /**
   * Commits the appends already issued, completes live subscriptions (after emitting what they have
   * not yet), then closes the connections. Every later call rejects with
   * `StoreUnavailableError`. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      try {
        await this.writes.whenIdle();
        await this.tails.endAll();
        await this.listener.stop();
      } finally {
        await Promise.all([
          this.pool.end().catch(() => undefined),
          this.allocatorPool.end().catch(() => undefined),
        ]);
      }
    });
  }

  /** Settings and counters of this store (only while it is open). */
  diagnostics(): PostgresStoreDiagnostics {
    this.lifecycle.assertOpen();
    return {
      location: this.settings.location,
      schema: this.settings.names.schema,
      channel: this.settings.names.channel,
      transactions: this.transactions,
      operations: this.operations,
      notifications: this.listener.notifications,
      listening: this.listener.listening,
      subscriptions: this.tails.size,
    };
  }

  /**
   * Wakes the subscriptions, without counting `last` as readable: an older transaction of another
   * writer may still hide it behind the transaction horizon; the poll notes the head once it is
   * readable (so that a subscription is woken again even if that transaction rolls back and sends
   * no notification).
   * @internal
   */
  protected override appended(): void {
    this.tails.wake();
  }

  /** Read failures, as `StoreUnavailableError`s that say what to do. @internal */
  protected readFailure(error: unknown): unknown {
    return postgresUnavailable(error, this.settings, "read");
  }

  /**
   * A subscription's page. The first read of a subscription waits for LISTEN (whatever commits
   * after that read started is notified); a page is retried while the connection is lost, for up
   * to `subscriptionRetryMs`.
   * @internal
   */
  protected override async tailPage(after: number, limit: number): Promise<StoredEvent[]> {
    await this.listener.whenReady();
    const deadline = Date.now() + this.settings.subscriptionRetryMs;
    let delay = 50;
    for (;;) {
      try {
        return await this.reads.page(after, limit);
      } catch (raw) {
        const error = this.readFailure(raw);
        const cause = error instanceof StoreUnavailableError ? error.cause : error;
        if (!isConnectionError(cause) || !this.lifecycle.isOpen || Date.now() + delay > deadline) throw error;
        this.settings.logger.warn("event store read failed; retrying", {
          location: this.settings.location,
          error: messageOf(error),
          retryInMs: delay,
        });
        await realDelay(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  /** How many of the queued writes the next group takes: up to `maxEventsPerTransaction` events. */
  private groupSize(queued: readonly WriteOp[]): number {
    let events = 0;
    let count = 0;
    for (const op of queued) {
      const size = op.kind === "append" ? op.events.length : 0;
      if (count > 0 && events + size > this.settings.maxEventsPerTransaction) break;
      events += size;
      count += 1;
    }
    return count;
  }
}
