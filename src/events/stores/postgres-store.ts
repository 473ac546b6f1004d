import type { Client, Notification, Pool, PoolClient } from "pg";
import { type Observable, tap } from "rxjs";
import { z } from "zod";
import { type Logger, silentLogger } from "../../internal/logger.js";
import {
  type AppendOptions,
  type AppendResult,
  ConcurrencyError,
  type EventStore,
  type NewEvent,
  type ReadOptions,
  type StoredEvent,
  type StoredSnapshot,
  type StoreReadCounters,
  StoreUnavailableError,
  type TagReadOptions,
} from "../store.js";
import {
  checkSchemaName,
  DEFAULT_POSTGRES_SCHEMA,
  migrate,
  namesOf,
  type PostgresNames,
} from "./postgres/schema.js";
import type { AppendBackend } from "./shared/append-core.js";
import { applyAppend } from "./shared/append-result.js";
import { GroupWriter, type WriteOutcome } from "./shared/group-writer.js";
import { LiveTails } from "./shared/live-tails.js";
import { ReadCounter } from "./shared/read-counters.js";
import { snapshotOfRow } from "./shared/snapshot-row.js";
import { tailEvents } from "./shared/tail.js";
import {
  checkCheckpointName,
  checkPosition,
  checkSnapshotName,
  checkStream,
  messageOf,
  type PreparedSnapshot,
  prepareReadOptions,
  prepareTagRead,
} from "./shared/validation.js";
import type { WriteOp } from "./shared/write-ops.js";

/** Options of {@link PostgresEventStore.open}. */
export interface PostgresEventStoreOptions {
  /**
   * The PostgreSQL schema (namespace) holding the store's tables, created when missing. Default:
   * the URL's `schema` query parameter (`postgres://…/db?schema=name`), else `fullenrich_rx`.
   * Several stores may share one database under different schemas.
   */
  schema?: string;
  /** Connections in the pool used for appends and reads (the live tail has one more). Default 5. */
  poolSize?: number;
  /** How long to wait for a connection to the server. Default 10 000 ms. */
  connectionTimeoutMs?: number;
  /**
   * How long an append waits for the write lock another connection (or process) holds. Default
   * 10 000 ms; past that the append rejects with {@link StoreUnavailableError}.
   */
  lockTimeoutMs?: number;
  /**
   * How often live subscriptions check for new events when no notification came: a safety net
   * behind LISTEN/NOTIFY (which wakes them at once). Default 1000 ms.
   */
  pollIntervalMs?: number;
  /** How many events a subscription reads per page while catching up. Default 500. */
  pageSize?: number;
  /**
   * How long a live subscription keeps retrying its reads while the connection to the server is
   * lost (a restart, a failover) before it errors. Default 30 000 ms; 0 errors at once.
   */
  subscriptionRetryMs?: number;
  /** At most this many events per write transaction (an append is never split). Default 5000. */
  maxEventsPerTransaction?: number;
  /** The clock used for `recordedAt`, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Where background problems (a lost LISTEN connection, a failing poll) are reported. Default: silent. */
  logger?: Logger;
}

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

/** A pg module loaded on first use, so that importing fullenrich-rx does not load the driver. */
type PgModule = typeof import("pg").default;
let pgModule: Promise<PgModule> | undefined;
function loadPg(): Promise<PgModule> {
  pgModule ??= import("pg").then((module) => module.default);
  return pgModule;
}

const int = z.coerce.number().int().nonnegative();

const EventRowSchema = z.object({
  position: int,
  stream: z.string(),
  stream_version: int,
  type: z.string(),
  version: int,
  data: z.string(),
  dedup_key: z.string().nullable(),
  recorded_at: z.string(),
});
const PositionRowSchema = z.object({ position: int });
const PlanRowSchema = z.object({ kind: z.enum(["stream", "key"]), key: z.string(), value: int });

const EVENT_COLUMNS =
  "position, stream, stream_version, type, version, data::text AS data, dedup_key, recorded_at";

/** How many tags one `readByTags` query looks up (a bigger call runs several). */
const TAGS_PER_QUERY = 1000;

interface Settings {
  location: string;
  connectionString: string;
  names: PostgresNames;
  poolSize: number;
  connectionTimeoutMs: number;
  lockTimeoutMs: number;
  pollIntervalMs: number;
  pageSize: number;
  subscriptionRetryMs: number;
  maxEventsPerTransaction: number;
  now: () => number;
  logger: Logger;
}

/** A row to insert, planned in memory. */
interface PlannedRow {
  position: number;
  stream: string;
  streamVersion: number;
  type: string;
  version: number;
  json: string;
  dedupKey: string | null;
  tags: string[];
}

/** What one group's planning decided to write. */
interface GroupPlan {
  outcomes: WriteOutcome[];
  rows: PlannedRow[];
  checkpoints: Map<string, number>;
  /** Tags for events already stored (`addTags`): tag and position. */
  backfill: { tags: string[]; positions: number[] };
  /** The snapshots to save, by name (the last save of a name wins). */
  snapshots: Map<string, PreparedSnapshot>;
  recordedAt: string;
  /** The last position once the group is committed. */
  head: number;
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
 */
export class PostgresEventStore implements EventStore {
  private readonly tails: LiveTails;
  private readonly counter = new ReadCounter();
  private readonly writes = new GroupWriter({
    assertOpen: () => this.assertOpen(),
    check: checkNoNulOf,
    // Let the rest of this turn's synchronous appends join the group.
    gather: () => Promise.resolve(),
    take: (queued) => this.groupSize(queued),
    commit: (group) => this.commitGroup(group, true),
    onAppended: (last) => {
      this.tails.noteHead(last);
      this.tails.wake();
    },
  });
  private listener: { client: Client; ready: Promise<void> } | undefined;
  private listenerRetry: ReturnType<typeof setTimeout> | undefined;
  private listening = false;
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;
  private transactions = 0;
  private operations = 0;
  private notifications = 0;

  private constructor(
    private readonly pg: PgModule,
    private readonly pool: Pool,
    private readonly settings: Settings,
    head: number,
  ) {
    this.tails = new LiveTails(
      {
        counter: this.counter,
        assertOpen: () => this.assertOpen(),
        isOpen: () => this.state === "open",
        // The safety net: wakes the subscriptions when `head` moved without a notification reaching us.
        polling: {
          intervalMs: settings.pollIntervalMs,
          head: () => readHead(this.pool, settings.names),
          onError: (error) =>
            settings.logger.warn("event store poll failed", {
              location: settings.location,
              error: messageOf(error),
            }),
          afterPoll: () => {
            if (this.listener === undefined && this.listenerRetry === undefined && this.tails.size > 0) {
              this.startListener();
            }
          },
        },
        onSubscribe: () => this.startListener(),
        onLast: () => {
          if (this.state === "open") void this.stopListener();
        },
      },
      head,
    );
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
    const { connectionString, location, schemaParameter } = parsePostgresUrl(url);
    const settings: Settings = {
      location,
      connectionString,
      names: namesOf(checkSchemaName(options.schema ?? schemaParameter ?? DEFAULT_POSTGRES_SCHEMA)),
      poolSize: Math.max(1, checkPosition(options.poolSize ?? 5, "poolSize")),
      connectionTimeoutMs: checkPosition(options.connectionTimeoutMs ?? 10_000, "connectionTimeoutMs"),
      lockTimeoutMs: checkPosition(options.lockTimeoutMs ?? 10_000, "lockTimeoutMs"),
      pollIntervalMs: Math.max(1, checkPosition(options.pollIntervalMs ?? 1_000, "pollIntervalMs")),
      pageSize: Math.max(1, checkPosition(options.pageSize ?? 500, "pageSize")),
      subscriptionRetryMs: checkPosition(options.subscriptionRetryMs ?? 30_000, "subscriptionRetryMs"),
      maxEventsPerTransaction: Math.max(
        1,
        checkPosition(options.maxEventsPerTransaction ?? 5_000, "maxEventsPerTransaction"),
      ),
      now: options.now ?? (() => Date.now()),
      logger: options.logger ?? silentLogger,
    };
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
        const head = await readHead(client, settings.names);
        return new PostgresEventStore(pg, pool, settings, head);
      } catch (error) {
        broken = isConnectionError(error);
        throw error;
      } finally {
        client.release(broken);
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw unavailable(error, settings, "open");
    }
  }

  /** See {@link EventStore.append}. Committed together with the other appends of the same moment. */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    return this.writes.append(stream, events, options);
  }

  /** See {@link EventStore.read}. */
  async read(options?: ReadOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const { after, limit } = prepareReadOptions(options);
    if (limit === 0) return this.counter.counted([]);
    return this.counter.counted(await this.page(after, limit));
  }

  /** See {@link EventStore.readStream}. */
  async readStream(stream: string): Promise<StoredEvent[]> {
    this.assertOpen();
    const checked = checkStream(stream);
    if (checked.includes("\0")) return this.counter.counted([]);
    const { rows } = await this.query(
      `SELECT ${EVENT_COLUMNS} FROM ${this.settings.names.events} WHERE stream = $1 ORDER BY stream_version`,
      [checked],
    );
    return this.counter.counted(rows.map(toStoredEvent));
  }

  /** See {@link EventStore.readByTags}: an index lookup in `tags`, 1000 tags per query. */
  async readByTags(tags: readonly string[], options?: TagReadOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const checked = prepareTagRead(tags, options);
    // PostgreSQL text cannot hold NUL: no stored tag or type has one.
    const wanted = checked.tags.filter((tag) => !tag.includes("\0"));
    const types = checked.types?.filter((type) => !type.includes("\0")) ?? null;
    const { names } = this.settings;
    const byPosition = new Map<number, StoredEvent>();
    for (let from = 0; from < wanted.length; from += TAGS_PER_QUERY) {
      const { rows } = await this.query(
        // A join with the unnested list, so that each tag is an index lookup (`tag = ANY(...)`
        // lets the planner scan the whole table for a long list).
        `SELECT ${EVENT_COLUMNS} FROM ${names.events}
         WHERE position IN (
             SELECT t.position FROM unnest($1::text[]) AS wanted(tag) JOIN ${names.tags} t ON t.tag = wanted.tag)
           AND position > $2 AND ($3::text[] IS NULL OR type = ANY($3::text[]))`,
        [wanted.slice(from, from + TAGS_PER_QUERY), checked.after, types],
      );
      for (const row of rows) {
        const event = toStoredEvent(row);
        byPosition.set(event.position, event);
      }
    }
    return this.counter.counted([...byPosition.values()].sort((a, b) => a.position - b.position));
  }

  /** See {@link EventStore.addTags}: committed with the appends of the same moment. */
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void> {
    return this.writes.addTags(entries);
  }

  /** See {@link EventStore.loadSnapshot}. */
  async loadSnapshot(name: string): Promise<StoredSnapshot | null> {
    this.assertOpen();
    const checked = checkSnapshotName(name);
    if (checked.includes("\0")) return null;
    const { rows } = await this.query(
      `SELECT position, version, data FROM ${this.settings.names.snapshots} WHERE name = $1`,
      [checked],
    );
    return rows[0] === undefined ? null : snapshotOfRow(checked, rows[0]);
  }

  /** See {@link EventStore.saveSnapshot}: committed with the appends of the same moment. */
  saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void> {
    return this.writes.saveSnapshot(name, snapshot);
  }

  /** See {@link EventStore.readCounters}. */
  readCounters(): StoreReadCounters {
    return this.counter.snapshot();
  }

  /** See {@link EventStore.subscribe}. Subscriptions complete when the store closes. */
  subscribe(after = 0): Observable<StoredEvent> {
    const from = checkPosition(after, "after");
    return tailEvents(
      {
        readPage: async (cursor, limit) => {
          // The first read of a subscription waits for LISTEN: whatever commits after that read
          // started is notified.
          await this.listener?.ready;
          return this.pageRetrying(cursor, limit);
        },
        register: (handle) => this.tails.register(handle),
        toError: (error) => unavailable(error, this.settings, "read"),
      },
      from,
      this.settings.pageSize,
    ).pipe(tap(() => this.counter.emitted()));
  }

  /** See {@link EventStore.head}. */
  async head(): Promise<number> {
    this.assertOpen();
    return this.guard("read", () => readHead(this.pool, this.settings.names));
  }

  /** See {@link EventStore.findByDedupKey}. */
  async findByDedupKey(dedupKey: string): Promise<StoredEvent | undefined> {
    this.assertOpen();
    if (typeof dedupKey !== "string" || dedupKey.includes("\0")) return this.counter.countedOne(undefined);
    const { rows } = await this.query(
      `SELECT ${EVENT_COLUMNS} FROM ${this.settings.names.events} WHERE dedup_key = $1`,
      [dedupKey],
    );
    const row = rows[0];
    return this.counter.countedOne(row === undefined ? undefined : toStoredEvent(row));
  }

  /** See {@link EventStore.getCheckpoint}. */
  async getCheckpoint(name: string): Promise<number> {
    this.assertOpen();
    const checked = checkCheckpointName(name);
    if (checked.includes("\0")) return 0;
    const { rows } = await this.query(
      `SELECT position FROM ${this.settings.names.checkpoints} WHERE name = $1`,
      [checked],
    );
    const row = rows[0];
    return row === undefined ? 0 : PositionRowSchema.parse(row).position;
  }

  /** See {@link EventStore.setCheckpoint}: committed with the appends of the same moment; never moves back. */
  setCheckpoint(name: string, position: number): Promise<void> {
    return this.writes.setCheckpoint(name, position);
  }

  /**
   * Commits the appends already issued, completes live subscriptions (after emitting what they have
   * not yet), then closes the connections. Every later call rejects with
   * {@link StoreUnavailableError}. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.state = "closing";
    this.closing = (async () => {
      try {
        await this.writes.whenIdle();
        await this.tails.endAll();
        await this.stopListener();
      } finally {
        await this.pool.end().catch(() => undefined);
        this.state = "closed";
      }
    })();
    return this.closing;
  }

  /** Settings and counters of this store (only while it is open). */
  diagnostics(): PostgresStoreDiagnostics {
    this.assertOpen();
    return {
      location: this.settings.location,
      schema: this.settings.names.schema,
      channel: this.settings.names.channel,
      transactions: this.transactions,
      operations: this.operations,
      notifications: this.notifications,
      listening: this.listening,
      subscriptions: this.tails.size,
    };
  }

  private assertOpen(): void {
    if (this.state !== "open") {
      throw new StoreUnavailableError(`the event store ${this.settings.location} is closed`);
    }
  }

  private async guard<T>(action: "read" | "write", run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw unavailable(error, this.settings, action);
    }
  }

  /** Runs a read on the pool; its rows are checked by the caller. */
  private query(text: string, values: unknown[]): Promise<{ rows: unknown[] }> {
    return this.guard("read", async () => {
      const result = await this.pool.query(text, values);
      return { rows: result.rows as unknown[] };
    });
  }

  private async page(after: number, limit: number | undefined): Promise<StoredEvent[]> {
    const { rows } = await this.query(
      `SELECT ${EVENT_COLUMNS} FROM ${this.settings.names.events} WHERE position > $1 ORDER BY position${
        limit === undefined ? "" : " LIMIT $2"
      }`,
      limit === undefined ? [after] : [after, limit],
    );
    return rows.map(toStoredEvent);
  }

  /** A subscription's page: retried while the connection is lost, for up to `subscriptionRetryMs`. */
  private async pageRetrying(after: number, limit: number): Promise<StoredEvent[]> {
    const deadline = Date.now() + this.settings.subscriptionRetryMs;
    let delay = 50;
    for (;;) {
      try {
        return await this.page(after, limit);
      } catch (error) {
        const cause = error instanceof StoreUnavailableError ? error.cause : error;
        if (!isConnectionError(cause) || this.state !== "open" || Date.now() + delay > deadline) throw error;
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

  /**
   * Commits `ops` in one transaction. When that transaction fails because of the data one of them
   * carries and `isolate` is set, retries each operation in a transaction of its own.
   */
  private async commitGroup(ops: readonly WriteOp[], isolate: boolean): Promise<WriteOutcome[]> {
    let recordedAt: string;
    try {
      recordedAt = new Date(this.settings.now()).toISOString();
    } catch (error) {
      return ops.map(() => ({ ok: false, error }));
    }
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      const failure = unavailable(error, this.settings, "write");
      return ops.map(() => ({ ok: false, error: failure }));
    }
    const { names } = this.settings;
    let stage: "before" | "commit" = "before";
    let destroy = false;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      client.release(destroy);
    };
    try {
      const appends = ops.some((op) => op.kind === "append");
      await client.query("BEGIN");
      let head = 0;
      if (appends) {
        // The write lock: held until COMMIT, it orders every appending transaction.
        const { rows } = await client.query(`SELECT position FROM ${names.head} FOR UPDATE`);
        head = PositionRowSchema.parse(rows[0]).position;
      }
      const plan = await this.plan(client, ops, head, recordedAt);
      await this.write(client, plan, head);
      stage = "commit";
      await client.query("COMMIT");
      this.transactions += 1;
      this.operations += ops.length;
      return plan.outcomes;
    } catch (error) {
      destroy = isConnectionError(error);
      if (!destroy) {
        await client.query("ROLLBACK").catch(() => {
          destroy = true;
        });
      }
      if (stage === "before" && !destroy && isolate && ops.length > 1 && isDataError(error)) {
        release();
        const outcomes: WriteOutcome[] = [];
        for (const op of ops) outcomes.push(...(await this.commitGroup([op], false)));
        return outcomes;
      }
      const failure = unavailable(error, this.settings, stage === "commit" ? "commit" : "write");
      return ops.map(() => ({ ok: false, error: failure }));
    } finally {
      release();
    }
  }

  /**
   * Decides, in memory, what the group writes: reads the stored versions of its streams and the
   * stored positions of its dedup keys in one query, then runs the shared append semantics
   * ({@link applyAppend}) over each operation in turn, each seeing the effects of the previous ones.
   */
  private async plan(
    client: PoolClient,
    ops: readonly WriteOp[],
    head: number,
    recordedAt: string,
  ): Promise<GroupPlan> {
    const streams = new Set<string>();
    const keys = new Set<string>();
    for (const op of ops) {
      if (op.kind !== "append") continue;
      streams.add(op.stream);
      for (const event of op.events) if (event.dedupKey !== null) keys.add(event.dedupKey);
    }
    const versions = new Map<string, number>();
    const positions = new Map<string, number>();
    if (streams.size > 0) {
      const { names } = this.settings;
      const { rows } = await client.query(
        `SELECT 'stream' AS kind, stream AS key, MAX(stream_version) AS value FROM ${names.events}
           WHERE stream = ANY($1::text[]) GROUP BY stream
         UNION ALL
         SELECT 'key', dedup_key, position FROM ${names.events} WHERE dedup_key = ANY($2::text[])`,
        [[...streams], [...keys]],
      );
      for (const raw of rows) {
        const row = PlanRowSchema.parse(raw);
        (row.kind === "stream" ? versions : positions).set(row.key, row.value);
      }
    }

    const rows: PlannedRow[] = [];
    const checkpoints = new Map<string, number>();
    const backfill: GroupPlan["backfill"] = { tags: [], positions: [] };
    const snapshots = new Map<string, PreparedSnapshot>();
    const saveCheckpoint = (target: Map<string, number>, name: string, position: number): void => {
      target.set(name, Math.max(position, target.get(name) ?? 0));
    };
    const outcomes = ops.map((op): WriteOutcome => {
      if (op.kind === "checkpoint") {
        saveCheckpoint(checkpoints, op.name, op.position);
        return { ok: true };
      }
      if (op.kind === "tags") {
        for (const entry of op.entries) {
          for (const tag of entry.tags) {
            backfill.tags.push(tag);
            backfill.positions.push(entry.position);
          }
        }
        return { ok: true };
      }
      if (op.kind === "snapshot") {
        snapshots.set(op.snapshot.name, op.snapshot);
        return { ok: true };
      }
      // This append's effects, kept apart until it succeeded.
      const staged = {
        rows: [] as PlannedRow[],
        versions: new Map<string, number>(),
        positions: new Map<string, number>(),
        checkpoints: new Map<string, number>(),
      };
      const backend: AppendBackend = {
        streamVersion: (stream) => staged.versions.get(stream) ?? versions.get(stream) ?? 0,
        positionOfDedupKey: (key) => staged.positions.get(key) ?? positions.get(key),
        insert: (stream, streamVersion, event, _recordedAt) => {
          const position = head + rows.length + staged.rows.length + 1;
          staged.rows.push({
            position,
            stream,
            streamVersion,
            type: event.type,
            version: event.version,
            json: event.json,
            dedupKey: event.dedupKey,
            tags: event.tags,
          });
          staged.versions.set(stream, streamVersion);
          if (event.dedupKey !== null) staged.positions.set(event.dedupKey, position);
          return position;
        },
        saveCheckpoint: (name, position) => saveCheckpoint(staged.checkpoints, name, position),
      };
      try {
        const result = applyAppend(backend, op.stream, op.events, op, recordedAt);
        rows.push(...staged.rows);
        for (const [stream, version] of staged.versions) versions.set(stream, version);
        for (const [key, position] of staged.positions) positions.set(key, position);
        for (const [name, position] of staged.checkpoints) saveCheckpoint(checkpoints, name, position);
        return { ok: true, result };
      } catch (error) {
        return { ok: false, error };
      }
    });
    return { outcomes, rows, checkpoints, backfill, snapshots, recordedAt, head: head + rows.length };
  }

  /** Writes a group's rows, checkpoints and new head in one statement, and notifies subscribers. */
  private async write(client: PoolClient, plan: GroupPlan, head: number): Promise<void> {
    const { names } = this.settings;
    const { rows } = plan;
    await this.writeExtras(client, plan);
    if (rows.length === 0 && plan.checkpoints.size === 0) return;
    const tagged = rows.flatMap((row) => row.tags.map((tag) => [tag, row.position] as const));
    await client.query(
      `WITH inserted AS (
         INSERT INTO ${names.events} (position, stream, stream_version, type, version, data, dedup_key, recorded_at)
         SELECT u.position, u.stream, u.stream_version, u.type, u.version, u.data::json, u.dedup_key, $8
         FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[], $7::text[])
           AS u(position, stream, stream_version, type, version, data, dedup_key)
       ), tagged AS (
         INSERT INTO ${names.tags} (tag, position)
         SELECT * FROM unnest($14::text[], $15::int8[]) ON CONFLICT DO NOTHING
       ), saved AS (
         INSERT INTO ${names.checkpoints} (name, position)
         SELECT * FROM unnest($9::text[], $10::int8[])
         ON CONFLICT (name) DO UPDATE SET position = GREATEST(${names.checkpoints}.position, excluded.position)
       ), moved AS (
         UPDATE ${names.head} SET position = $11::int8 WHERE $11::int8 > $12::int8
       )
       SELECT pg_notify($13, $11::text) WHERE $11::int8 > $12::int8`,
      [
        rows.map((row) => row.position),
        rows.map((row) => row.stream),
        rows.map((row) => row.streamVersion),
        rows.map((row) => row.type),
        rows.map((row) => row.version),
        rows.map((row) => row.json),
        rows.map((row) => row.dedupKey),
        plan.recordedAt,
        [...plan.checkpoints.keys()],
        [...plan.checkpoints.values()],
        plan.head,
        head,
        names.channel,
        tagged.map(([tag]) => tag),
        tagged.map(([, position]) => position),
      ],
    );
  }

  /** Writes a group's tag backfill (for stored events only) and snapshots, when it has any. */
  private async writeExtras(client: PoolClient, plan: GroupPlan): Promise<void> {
    const { names } = this.settings;
    if (plan.backfill.tags.length > 0) {
      await client.query(
        `INSERT INTO ${names.tags} (tag, position)
         SELECT u.tag, u.position FROM unnest($1::text[], $2::int8[]) AS u(tag, position)
         WHERE EXISTS (SELECT 1 FROM ${names.events} e WHERE e.position = u.position)
         ON CONFLICT DO NOTHING`,
        [plan.backfill.tags, plan.backfill.positions],
      );
    }
    if (plan.snapshots.size > 0) {
      const snapshots = [...plan.snapshots.values()];
      await client.query(
        `INSERT INTO ${names.snapshots} (name, position, version, data, saved_at)
         SELECT u.name, u.position, u.version, u.data, $5 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[])
           AS u(name, position, version, data)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, version = excluded.version,
           data = excluded.data, saved_at = excluded.saved_at`,
        [
          snapshots.map((snapshot) => snapshot.name),
          snapshots.map((snapshot) => snapshot.position),
          snapshots.map((snapshot) => snapshot.version),
          snapshots.map((snapshot) => snapshot.json),
          plan.recordedAt,
        ],
      );
    }
  }

  /** Opens the LISTEN connection (while someone subscribes); wakes every subscription once it listens. */
  private startListener(): void {
    if (this.listener !== undefined || this.state !== "open") return;
    const client = new this.pg.Client(connectionConfig(this.settings));
    const { names, logger, location } = this.settings;
    const lost = (error: unknown): void => {
      if (this.listener?.client !== client) return;
      this.listener = undefined;
      this.listening = false;
      client.end().catch(() => undefined);
      if (this.state !== "open" || this.tails.size === 0) return;
      logger.warn("event store LISTEN connection lost; polling until it is back", {
        location,
        error: messageOf(error),
      });
      this.listenerRetry ??= setTimeout(() => {
        this.listenerRetry = undefined;
        if (this.tails.size > 0) this.startListener();
      }, this.settings.pollIntervalMs);
      this.listenerRetry.unref?.();
    };
    client.on("notification", (message: Notification) => {
      if (message.channel !== names.channel) return;
      this.notifications += 1;
      const head = Number(message.payload);
      if (Number.isSafeInteger(head)) this.tails.noteHead(head);
      this.tails.wake();
    });
    client.on("error", lost);
    client.on("end", () => lost(new Error("the connection ended")));
    const ready = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${names.quotedChannel}`);
        if (this.listener?.client === client) this.listening = true;
      } catch (error) {
        lost(error);
      }
      // Catch up on whatever committed before LISTEN took effect.
      this.tails.wake();
    })();
    this.listener = { client, ready };
  }

  private async stopListener(): Promise<void> {
    if (this.listenerRetry !== undefined) clearTimeout(this.listenerRetry);
    this.listenerRetry = undefined;
    const listener = this.listener;
    if (listener === undefined) return;
    this.listener = undefined;
    this.listening = false;
    await listener.ready;
    await listener.client.end().catch(() => undefined);
  }
}

/** Taken when the module loads: retries wait in real time even under fake timers (tests). */
const realSetTimeout = globalThis.setTimeout;
function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/** The pg settings shared by the pool and the LISTEN connection. */
function connectionConfig(settings: Settings) {
  return {
    connectionString: settings.connectionString,
    connectionTimeoutMillis: settings.connectionTimeoutMs,
    lock_timeout: settings.lockTimeoutMs,
    // A process frozen inside a transaction must not hold the write lock forever.
    idle_in_transaction_session_timeout: 60_000,
    application_name: "fullenrich-rx",
  };
}

async function readHead(
  queryable: { query: (text: string) => Promise<{ rows: unknown[] }> },
  names: PostgresNames,
): Promise<number> {
  const { rows } = await queryable.query(`SELECT position FROM ${names.head}`);
  const row = rows[0];
  if (row === undefined) throw new StoreUnavailableError(`the table ${names.head} is empty`);
  return PositionRowSchema.parse(row).position;
}

function toStoredEvent(raw: unknown): StoredEvent {
  const row = EventRowSchema.parse(raw);
  return {
    position: row.position,
    stream: row.stream,
    streamVersion: row.stream_version,
    type: row.type,
    version: row.version,
    data: JSON.parse(row.data) as unknown,
    dedupKey: row.dedup_key,
    recordedAt: row.recorded_at,
  };
}

/** PostgreSQL text cannot hold NUL characters: refuse them up front, like any other invalid input. */
function checkNoNul(value: string, what: string): string {
  if (value.includes("\0")) throw new TypeError(`${what} must not contain NUL characters`);
  return value;
}

/** Refuses a write whose text (not its JSON data, where JSON escapes NUL) holds a NUL character. */
function checkNoNulOf(op: WriteOp): void {
  switch (op.kind) {
    case "append":
      checkNoNul(op.stream, "stream");
      op.events.forEach((event, index) => {
        checkNoNul(event.type, `events[${index}].type`);
        if (event.dedupKey !== null) checkNoNul(event.dedupKey, `events[${index}].dedupKey`);
      });
      if (op.checkpoint !== undefined) checkNoNul(op.checkpoint.name, "checkpoint name");
      return;
    case "checkpoint":
      checkNoNul(op.name, "checkpoint name");
      return;
    case "tags":
      op.entries.forEach((entry, index) => {
        for (const tag of entry.tags) checkNoNul(tag, `entries[${index}].tags`);
      });
      return;
    case "snapshot":
      checkNoNul(op.snapshot.name, "snapshot name");
  }
}

/**
 * Splits a `postgres://` URL into what `pg` connects with (without our `schema` parameter), the
 * schema parameter, and the URL as shown in messages (without the password). @internal
 */
export function parsePostgresUrl(url: string): {
  connectionString: string;
  location: string;
  schemaParameter: string | undefined;
} {
  if (typeof url !== "string" || !/^postgres(ql)?:\/\//i.test(url)) {
    throw new RangeError(
      `expected a postgres:// URL, got ${typeof url === "string" ? redactUrl(url) : typeof url}`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a valid PostgreSQL URL: ${redactUrl(url)}`);
  }
  const schemaParameter = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  const connectionString = parsed.toString();
  return { connectionString, location: redactUrl(connectionString), schemaParameter };
}

/** `url` with its password (in the user info or a `password` parameter) replaced by `***`. @internal */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***");
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@").replace(/([?&]password=)[^&]*/gi, "$1***");
  }
}

function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return "";
}

/**
 * Whether the statement failed because of what one append carried (a data exception, a constraint,
 * a size limit): then the group is retried one append at a time. Not for lock timeouts or
 * connection failures, which would only fail again.
 */
function isDataError(error: unknown): boolean {
  const code = errorCode(error);
  return code.startsWith("22") || code.startsWith("23") || code.startsWith("54");
}

/** Whether the connection itself failed (the server is gone, or the session was terminated). */
function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  if (code.startsWith("08") || code.startsWith("57P") || code.startsWith("E")) return true;
  const message = messageOf(error);
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

/** Turns a driver error into a {@link StoreUnavailableError} that says what went wrong and what to do. */
function unavailable(
  error: unknown,
  settings: Settings,
  action: "open" | "read" | "write" | "commit",
): Error {
  if (error instanceof StoreUnavailableError) return error;
  if (error instanceof ConcurrencyError || error instanceof RangeError || error instanceof TypeError)
    return error;
  const code = errorCode(error);
  const where = settings.location;
  const detail = `${messageOf(error)}${code ? ` (${code})` : ""}`;
  let message: string;
  if (action === "commit") {
    message =
      `the connection to the event store ${where} failed while committing — ${detail}. The append may or ` +
      "may not be stored: retry it (events with dedup keys are stored once whatever happens).";
  } else if (
    code === "ECONNREFUSED" ||
    code === "ENOTFOUND" ||
    code === "EAI_AGAIN" ||
    code === "ETIMEDOUT"
  ) {
    message =
      `cannot reach the PostgreSQL server of the event store ${where} — ${detail}. Check that it runs ` +
      "and that the host and port in the URL are right.";
  } else if (code === "28P01" || code === "28000") {
    message =
      `PostgreSQL refused the credentials for the event store ${where} — ${detail}. Check the user ` +
      "and password in the URL (or PGPASSWORD).";
  } else if (code === "3D000") {
    message = `the database of the event store ${where} does not exist — ${detail}. Create it, or fix the URL.`;
  } else if (code === "42501") {
    message =
      `the PostgreSQL user of the event store ${where} lacks a privilege — ${detail}. Grant it CREATE on ` +
      "the database (to create the schema) or USAGE and CREATE on the schema.";
  } else if (code === "55P03") {
    message =
      `the event store ${where} is locked: another connection held its write lock for longer than ` +
      `lockTimeoutMs (${settings.lockTimeoutMs} ms) — ${detail}. Find the transaction that keeps it ` +
      "(pg_stat_activity), or raise lockTimeoutMs, then retry.";
  } else if (code === "53300") {
    message = `the PostgreSQL server of the event store ${where} has too many connections — ${detail}.`;
  } else if (isConnectionError(error)) {
    message = `lost the connection to the event store ${where} — ${detail}. Retry once the server is back.`;
  } else if (action === "open") {
    message = `cannot open the event store ${where} — ${detail}.`;
  } else {
    message = `the event store ${where} failed to ${action} — ${detail}.`;
  }
  return new StoreUnavailableError(message, { cause: error });
}
