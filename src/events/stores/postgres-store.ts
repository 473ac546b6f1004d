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
 * - **Positions.** One row (`head`) holds the last position. Every appending transaction first
 *   locks that row (`SELECT … FOR UPDATE`), then checks dedup keys and stream versions, assigns
 *   the next positions, inserts, moves `head` and commits. Writers are therefore serialised from
 *   the lock to the commit: positions are 1..n without gaps (a rolled-back transaction gives its
 *   positions back, unlike a sequence), and commit order is position order, so a reader following
 *   positions can never skip an event that commits late: a later position cannot be committed
 *   while an earlier one is still open. A dedup key is checked under the same lock, so whichever
 *   process tries, it is stored once (a UNIQUE index backs this up).
 * - **Group commit.** Appends and `setCheckpoint` calls issued while a transaction is in flight
 *   are committed together in the next one: duplicates and expected versions of the whole group
 *   are checked in memory from one query, and each append is all-or-nothing on its own (a
 *   {@link ConcurrencyError} drops only that append, before anything of it is written). The group
 *   is written in one statement; if PostgreSQL refuses what one append carries (a data or size
 *   error), the group's appends are retried one transaction each, so that one bad append cannot
 *   fail the others (this replaces a savepoint per append, and its round trips). Every promise
 *   settles after `COMMIT`. Positions come from `head`, not a sequence, so that they stay
 *   gap-free. Cost: writers of all processes take turns, one transaction (one WAL flush) at a
 *   time; within a process, group commit amortises it.
 * - **Subscriptions** follow `LISTEN`/`NOTIFY` (each commit notifies, in commit order, on a
 *   dedicated connection that lives while someone subscribes), read once more after `LISTEN` is
 *   established so that nothing committed in between is missed, and poll `head` every
 *   `pollIntervalMs` as a safety net. This store's own commits wake them at once. They complete
 *   when the store closes.
 * - The schema is created (or checked) on open, under an advisory lock, so several processes may
 *   open a new database at once. Errors never show the URL's password.
 *
 * Assembled from operations: reads (`postgres/reads.ts`), the group's plan, writes and transaction
 * (`postgres/plan.ts`, `write.ts`, `commit.ts`), the LISTEN connection (`postgres/listener.ts`),
 * and what it shares with the SQLite store (`shared/`: group commit, tails, lifecycle, errors).
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
      notified: (notifiedHead) => {
        if (notifiedHead !== undefined) this.tails.noteHead(notifiedHead);
        this.tails.wake();
      },
      ready: () => this.tails.wake(),
    });
    const committing: CommitContext = {
      pool,
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
      commit: (group) => commitGroup(committing, group, true),
    });
  }

  /**
   * Connects to the database at `url` (`postgres://user:password@host:port/database`, with
   * optional `?schema=name` and the usual `pg` parameters such as `sslmode`), creates the schema
   * and its tables when missing (or checks their version), and returns the open store.
   * Rejects with {@link StoreUnavailableError} when the server cannot be reached, refuses the
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
    // An idle pooled connection that breaks (server restart) is dropped by the pool; say so.
    pool.on("error", (error) => {
      settings.logger.warn("event store connection lost", {
        location: settings.location,
        error: messageOf(error),
      });
    });
    try {
      const client = await pool.connect();
      let broken = false;
      try {
        await migrate(client, settings.names, settings.location);
        const head = await readHead(executeOn(client), settings.names);
        return new PostgresEventStore(pg, pool, settings, head);
      } catch (error) {
        broken = isConnectionError(error);
        throw error;
      } finally {
        client.release(broken);
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw postgresUnavailable(error, settings, "open");
    }
  }

  /**
   * Commits the appends already issued, completes live subscriptions (after emitting what they have
   * not yet), then closes the connections. Every later call rejects with
   * {@link StoreUnavailableError}. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      try {
        await this.writes.whenIdle();
        await this.tails.endAll();
        await this.listener.stop();
      } finally {
        await this.pool.end().catch(() => undefined);
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

  /** Read failures, as {@link StoreUnavailableError}s that say what to do. @internal */
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
