import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { type Observable, tap } from "rxjs";
import { type Logger, silentLogger, streamLogger } from "../../internal/logger.js";
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
import { appendResultOf } from "./shared/append-result.js";
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
  prepareReadOptions,
  prepareTagRead,
} from "./shared/validation.js";
import type { WriteOp } from "./shared/write-ops.js";
import { type CheckpointerMessage, WalCheckpointer } from "./sqlite/checkpointer.js";
import {
  createPrivateDirectory,
  createPrivateFile,
  makePrivate,
  sqliteFilesOf,
  wideFilesWarning,
  widerThanPrivate,
} from "./sqlite/files.js";
import { openAndSetUp, retryWhileBusy } from "./sqlite/open-connection.js";
import { errorOfFailure, type GroupReply, WriterThread } from "./sqlite/writer-thread.js";

/** Options of {@link SqliteEventStore.open}. */
export interface SqliteEventStoreOptions {
  /**
   * `"full"` (default): `synchronous=FULL`, every commit is on disk before its append resolves,
   * also across a power cut. `"normal"`: `synchronous=NORMAL`, faster; a commit survives a crash of
   * the process but may be lost on a power cut or OS crash (the database stays consistent).
   */
  durability?: "full" | "normal";
  /** How long a write waits for another connection (or process) holding the write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * How often the background worker checkpoints the WAL into the database file. Default 1000 ms.
   * `0` disables the worker and lets SQLite checkpoint on the appending connection instead.
   */
  checkpointIntervalMs?: number;
  /** How often live subscriptions look for events appended by other processes. Default 200 ms. */
  pollIntervalMs?: number;
  /** How many events a subscription reads per page while catching up. Default 500. */
  pageSize?: number;
  /** The clock used for `recordedAt`, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /**
   * Where background problems (a failing checkpoint or poll) are reported. Default: silent, except
   * the warning about an existing file that other users may read, which then goes to stderr.
   */
  logger?: Logger;
}

/** Counters and settings of an open {@link SqliteEventStore}, for monitoring and tests. */
export interface SqliteStoreDiagnostics {
  /** Absolute path of the database file. */
  path: string;
  durability: "full" | "normal";
  /** `journal_mode` of the connection (always `"wal"`). */
  journalMode: string;
  /** `synchronous` of the appending connection (the writer thread's): 2 = FULL, 1 = NORMAL. */
  synchronous: number;
  /** `wal_autocheckpoint` of the appending connection (0 when the checkpoint worker runs). */
  walAutocheckpoint: number;
  busyTimeoutMs: number;
  /** Write transactions committed (each one a group of appends and checkpoint moves). */
  transactions: number;
  /** Appends and checkpoint moves those transactions carried. */
  operations: number;
  /** Checkpoint-worker ticks, and how many of them truncated the WAL. */
  walCheckpoints: number;
  walTruncations: number;
}

/**
 * The schema version this code writes and understands. 2 added `tags` and `snapshots`; a version-1
 * file is migrated in place when opened (the two tables are created, nothing is rewritten).
 */
const SCHEMA_VERSION = 2;

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  stream_version INTEGER NOT NULL,
  type TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  dedup_key TEXT UNIQUE,
  recorded_at TEXT NOT NULL,
  UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
  tag TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (tag, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  saved_at TEXT NOT NULL
);
`;

/** How many tags one `readByTags` query looks up (a bigger call runs several). */
const TAGS_PER_QUERY = 1000;

const EVENT_COLUMNS = "position, stream, stream_version, type, version, data, dedup_key, recorded_at";

/**
 * The group commit waits for the end of the current turn of the event loop (`setImmediate`), so
 * that every append issued while handling this turn's I/O (e.g. all the webhook requests read in
 * one go) shares one transaction and one fsync. The function is taken when the module loads: fake
 * timers installed later (tests) do not stall the store, whose flush is about I/O, not time.
 * (The writer thread's answers are messages, not timers: fake timers do not affect them either.)
 */
const endOfTurn: (run: () => void) => void = globalThis.setImmediate.bind(globalThis);

/** Resolves at the end of this turn of the event loop (see {@link endOfTurn}). */
function gatherUntilEndOfTurn(): Promise<void> {
  return new Promise((resolve) => endOfTurn(resolve));
}

interface EventRow {
  position: number;
  stream: string;
  stream_version: number;
  type: string;
  version: number;
  data: string;
  dedup_key: string | null;
  recorded_at: string;
}

interface Settings {
  path: string;
  durability: "full" | "normal";
  busyTimeoutMs: number;
  checkpointIntervalMs: number;
  pollIntervalMs: number;
  pageSize: number;
  now: () => number;
  logger: Logger;
}

/** The main thread's statements: reads only (every write goes through the writer thread). */
function prepareStatements(db: Database.Database) {
  return {
    eventOfKey: db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE dedup_key = ?`),
    page: db.prepare<[number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
    ),
    stream: db.prepare<[string], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? ORDER BY stream_version`,
    ),
    head: db.prepare<[], { head: number }>("SELECT COALESCE(MAX(position), 0) AS head FROM events"),
    getCheckpoint: db.prepare<[string], { position: number }>(
      "SELECT position FROM checkpoints WHERE name = ?",
    ),
    // The tags and types come as JSON arrays: one statement for any number of them.
    byTags: db.prepare<[{ tags: string; after: number; types: string | null }], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE position IN (SELECT position FROM tags WHERE tag IN (SELECT value FROM json_each(@tags)))
         AND position > @after
         AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
       ORDER BY position`,
    ),
    snapshot: db.prepare<[string], unknown>("SELECT position, version, data FROM snapshots WHERE name = ?"),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * The embedded {@link EventStore}: one SQLite file (WAL mode) through better-sqlite3.
 *
 * - **Group commit, off the main thread.** Appends (and `setCheckpoint` calls) issued in the same
 *   turn of the event loop form a group, sent in one message to a `worker_threads` writer thread
 *   with its own connection. It commits the group in one `BEGIN IMMEDIATE` transaction, each
 *   operation inside its own savepoint (one append's {@link ConcurrencyError} rolls back only that
 *   append), and answers after `COMMIT` returned; only then do the promises settle. One group is in
 *   flight at a time; operations issued meanwhile form the next one. The main thread keeps its own
 *   connection for reads and subscriptions, so neither a commit's fsync nor a wait for another
 *   process's write lock ever blocks it.
 * - **Several processes** may open the same file: writes serialise on SQLite's write lock
 *   (waiting up to `busyTimeoutMs`), dedup keys and stream versions are checked inside the
 *   transaction, so a dedup key is stored once whichever process tries. Positions are assigned
 *   under that lock, so they are contiguous in commit order and a reader never skips one. The
 *   file must be on a local disk (WAL needs shared memory; network file systems are not supported).
 * - **Checkpoints off the append path.** `wal_autocheckpoint` is 0 and a `worker_threads` worker
 *   with its own connection runs `wal_checkpoint(PASSIVE)` every `checkpointIntervalMs`, and
 *   `TRUNCATE` when idle.
 * - **Subscriptions** are woken at once by this store's commits, and notice other processes'
 *   appends by polling `MAX(position)` every `pollIntervalMs` (one shared, unref'd timer that runs
 *   only while someone subscribes). They complete when the store closes.
 *
 * Reads stay synchronous on the main thread (better-sqlite3); in WAL mode they do not wait for
 * writers. Each open store runs two threads (writer, checkpointer) with a connection each; handing
 * a group to the writer thread and back costs about 0.1–0.3 ms of latency per group, which buys a
 * main thread that keeps serving while the commit waits for the disk.
 */
export class SqliteEventStore implements EventStore {
  private readonly statements: Statements;
  private readonly tails: LiveTails;
  private readonly checkpointer: WalCheckpointer | undefined;
  private readonly counter = new ReadCounter();
  private readonly writes = new GroupWriter({
    assertOpen: () => this.assertOpen(),
    gather: gatherUntilEndOfTurn,
    commit: (group) => this.commitGroup(group),
    onAppended: (last) => {
      this.tails.noteHead(last);
      this.tails.wake();
    },
  });
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;
  private transactions = 0;
  private operations = 0;
  private walCheckpoints = 0;
  private walTruncations = 0;

  private constructor(
    private readonly db: Database.Database,
    private readonly settings: Settings,
    private readonly writer: WriterThread,
  ) {
    this.statements = prepareStatements(db);
    this.tails = new LiveTails(
      {
        counter: this.counter,
        assertOpen: () => this.assertOpen(),
        isOpen: () => this.state === "open",
        // Another process (or another store on this file) appended.
        polling: {
          intervalMs: settings.pollIntervalMs,
          head: () => this.statements.head.get()?.head ?? 0,
          onError: (error) =>
            settings.logger.warn("event store poll failed", { path: settings.path, error: messageOf(error) }),
        },
      },
      this.statements.head.get()?.head ?? 0,
    );
    this.checkpointer =
      settings.checkpointIntervalMs > 0
        ? new WalCheckpointer(settings.path, settings.checkpointIntervalMs, (message) =>
            this.onCheckpointerMessage(message),
          )
        : undefined;
  }

  /**
   * Opens (creating it, and its parent directory, when missing) the SQLite event store at `path`.
   * Rejects with {@link StoreUnavailableError} when the file cannot be created, opened or written
   * (locked by another process for longer than `busyTimeoutMs`, read-only, not a database, or
   * written by a newer version), with a message saying what to do.
   */
  static async open(path: string, options: SqliteEventStoreOptions = {}): Promise<SqliteEventStore> {
    if (typeof path !== "string" || path.length === 0 || path === ":memory:" || path.startsWith("file:")) {
      throw new RangeError(
        `SqliteEventStore.open needs a file path, got ${JSON.stringify(path)} (use MemoryEventStore for ":memory:")`,
      );
    }
    const settings: Settings = {
      path: resolve(path),
      durability: options.durability ?? "full",
      busyTimeoutMs: checkPosition(options.busyTimeoutMs ?? 5_000, "busyTimeoutMs"),
      checkpointIntervalMs: checkPosition(options.checkpointIntervalMs ?? 1_000, "checkpointIntervalMs"),
      pollIntervalMs: Math.max(1, checkPosition(options.pollIntervalMs ?? 200, "pollIntervalMs")),
      pageSize: Math.max(1, checkPosition(options.pageSize ?? 500, "pageSize")),
      now: options.now ?? (() => Date.now()),
      logger: options.logger ?? silentLogger,
    };
    if (settings.durability !== "full" && settings.durability !== "normal") {
      throw new RangeError(`durability must be "full" or "normal", got ${String(settings.durability)}`);
    }
    const directory = dirname(settings.path);
    try {
      createPrivateDirectory(directory);
    } catch (error) {
      throw new StoreUnavailableError(
        `cannot create the directory ${directory} for the event store: ${messageOf(error)}. ` +
          "Check that the path is right and that this user may write there.",
        { cause: error },
      );
    }
    const wide = widerThanPrivate(sqliteFilesOf(settings.path));
    if (wide.length > 0) {
      (options.logger ?? streamLogger("warn")).warn(wideFilesWarning(wide), { path: settings.path });
    }
    let created: boolean;
    try {
      created = createPrivateFile(settings.path);
    } catch (error) {
      throw unavailable(error, settings, "open");
    }
    let db: Database.Database;
    try {
      db = retryWhileBusy(
        () =>
          openAndSetUp(
            () => new Database(settings.path, { timeout: settings.busyTimeoutMs }),
            (candidate) => initialize(candidate, settings),
          ),
        settings.busyTimeoutMs,
      );
      // SQLite gives -wal and -shm the database file's mode; set it explicitly all the same.
      if (created) makePrivate(sqliteFilesOf(settings.path));
    } catch (error) {
      throw unavailable(error, settings, "open");
    }
    // The schema exists now: the writer thread opens its own connection to the file.
    let writer: WriterThread;
    try {
      writer = await WriterThread.start({
        path: settings.path,
        busyTimeoutMs: settings.busyTimeoutMs,
        synchronous: settings.durability === "full" ? "FULL" : "NORMAL",
        walAutocheckpoint: settings.checkpointIntervalMs > 0 ? 0 : 1000,
      });
    } catch (error) {
      db.close();
      throw unavailable(error, settings, "open");
    }
    try {
      return new SqliteEventStore(db, settings, writer);
    } catch (error) {
      await writer.stop(settings.busyTimeoutMs + 5_000);
      db.close();
      throw unavailable(error, settings, "open");
    }
  }

  /** See {@link EventStore.append}. Committed together with the other appends of the same tick. */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    return this.writes.append(stream, events, options);
  }

  /** See {@link EventStore.read}. */
  async read(options?: ReadOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const { after, limit } = prepareReadOptions(options);
    return this.guard("read", () =>
      this.counter.counted(this.statements.page.all(after, limit ?? -1).map(toStoredEvent)),
    );
  }

  /** See {@link EventStore.readStream}. */
  async readStream(stream: string): Promise<StoredEvent[]> {
    this.assertOpen();
    const checked = checkStream(stream);
    return this.guard("read", () =>
      this.counter.counted(this.statements.stream.all(checked).map(toStoredEvent)),
    );
  }

  /** See {@link EventStore.readByTags}: an index lookup in `tags`, 1000 tags per query. */
  async readByTags(tags: readonly string[], options?: TagReadOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const checked = prepareTagRead(tags, options);
    const types = checked.types === undefined ? null : JSON.stringify(checked.types);
    return this.guard("read", () => {
      const rows = new Map<number, EventRow>();
      for (let from = 0; from < checked.tags.length; from += TAGS_PER_QUERY) {
        const chunk = JSON.stringify(checked.tags.slice(from, from + TAGS_PER_QUERY));
        for (const row of this.statements.byTags.all({ tags: chunk, after: checked.after, types })) {
          rows.set(row.position, row);
        }
      }
      const ordered = [...rows.values()].sort((a, b) => a.position - b.position);
      return this.counter.counted(ordered.map(toStoredEvent));
    });
  }

  /** See {@link EventStore.addTags}: committed by the writer thread with the appends of the same tick. */
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void> {
    return this.writes.addTags(entries);
  }

  /** See {@link EventStore.loadSnapshot}. */
  async loadSnapshot(name: string): Promise<StoredSnapshot | null> {
    this.assertOpen();
    const checked = checkSnapshotName(name);
    const row = this.guard("read", () => this.statements.snapshot.get(checked));
    return row === undefined ? null : snapshotOfRow(checked, row);
  }

  /** See {@link EventStore.saveSnapshot}: committed by the writer thread with the appends of the same tick. */
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
        readPage: (cursor, limit) => this.statements.page.all(cursor, limit).map(toStoredEvent),
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
    return this.guard("read", () => this.statements.head.get()?.head ?? 0);
  }

  /** See {@link EventStore.findByDedupKey}. */
  async findByDedupKey(dedupKey: string): Promise<StoredEvent | undefined> {
    this.assertOpen();
    return this.guard("read", () => {
      const row = this.statements.eventOfKey.get(dedupKey);
      return this.counter.countedOne(row === undefined ? undefined : toStoredEvent(row));
    });
  }

  /** See {@link EventStore.getCheckpoint}. */
  async getCheckpoint(name: string): Promise<number> {
    this.assertOpen();
    const checked = checkCheckpointName(name);
    return this.guard("read", () => this.statements.getCheckpoint.get(checked)?.position ?? 0);
  }

  /** See {@link EventStore.setCheckpoint}: committed with the appends of the same tick; never moves back. */
  setCheckpoint(name: string, position: number): Promise<void> {
    return this.writes.setCheckpoint(name, position);
  }

  /**
   * Commits the appends already issued (they settle first: committed, or rejected with
   * {@link StoreUnavailableError} if the writer thread fails), completes live subscriptions (after
   * emitting what they have not yet), stops the writer and checkpoint threads (which close their
   * connections) and closes the file last. Every later call rejects with
   * {@link StoreUnavailableError}. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.state = "closing";
    this.closing = (async () => {
      await this.writes.whenIdle();
      await Promise.resolve();
      await this.tails.endAll();
      try {
        // Both threads close their connections before ours: the last connection to close
        // checkpoints the WAL and removes it, so it must be this one.
        await Promise.allSettled([
          this.checkpointer?.stop(),
          this.writer.stop(this.settings.busyTimeoutMs + 5_000),
        ]);
      } finally {
        this.db.close();
        this.state = "closed";
      }
    })();
    return this.closing;
  }

  /** Settings and counters of this store (only while it is open). */
  diagnostics(): SqliteStoreDiagnostics {
    this.assertOpen();
    return {
      path: this.settings.path,
      durability: this.settings.durability,
      journalMode: String(this.db.pragma("journal_mode", { simple: true })),
      synchronous: this.writer.synchronous,
      walAutocheckpoint: this.writer.walAutocheckpoint,
      busyTimeoutMs: this.settings.busyTimeoutMs,
      transactions: this.transactions,
      operations: this.operations,
      walCheckpoints: this.walCheckpoints,
      walTruncations: this.walTruncations,
    };
  }

  private assertOpen(): void {
    if (this.state !== "open") {
      throw new StoreUnavailableError(`the event store ${this.settings.path} is closed`);
    }
  }

  private guard<T>(action: "read", run: () => T): T {
    try {
      return run();
    } catch (error) {
      throw unavailable(error, this.settings, action);
    }
  }

  /** Sends a group to the writer thread; what became of each write, from its answer. */
  private async commitGroup(ops: readonly WriteOp[]): Promise<WriteOutcome[]> {
    let recordedAt: string;
    try {
      recordedAt = new Date(this.settings.now()).toISOString();
    } catch (error) {
      return failAll(ops, unavailable(error, this.settings, "write"));
    }
    let reply: GroupReply;
    try {
      reply = await this.writer.commit(recordedAt, [...ops]);
    } catch (error) {
      return failAll(ops, unavailable(error, this.settings, "write"));
    }
    if (reply.kind !== "committed") return failAll(ops, this.groupFailure(reply));
    this.transactions += 1;
    this.operations += ops.length;
    return ops.map((op, index): WriteOutcome => {
      const outcome = reply.outcomes[index];
      if (outcome === undefined) {
        return {
          ok: false,
          error: new StoreUnavailableError(`the event store ${this.settings.path} lost track of an append`),
        };
      }
      if (outcome.status === "conflict") {
        return {
          ok: false,
          error:
            op.kind === "append"
              ? new ConcurrencyError(op.stream, op.expectedVersion, outcome.actual)
              : new StoreUnavailableError(
                  `the event store ${this.settings.path} reported a conflict for a checkpoint`,
                ),
        };
      }
      if (outcome.status === "refused") {
        return { ok: false, error: unavailable(errorOfFailure(outcome.failure), this.settings, "write") };
      }
      if (op.kind !== "append") return { ok: true };
      return { ok: true, result: appendResultOf(op.stream, op.events, outcome, recordedAt) };
    });
  }

  /** The error every operation of a group that was not committed rejects with. */
  private groupFailure(reply: Exclude<GroupReply, { kind: "committed" }>): Error {
    const path = this.settings.path;
    switch (reply.kind) {
      case "failed":
        return unavailable(errorOfFailure(reply.failure), this.settings, "write");
      case "lost":
        return new StoreUnavailableError(
          `the event store ${path} lost its writer thread (${reply.reason}) while committing: these ` +
            "appends may or may not be stored. Close the store, open it again and retry them " +
            "(retrying is safe for events with a dedup key).",
        );
      case "stopped":
        return new StoreUnavailableError(
          `the event store ${path} cannot write: its writer thread has stopped (${reply.reason}). ` +
            "Nothing of these appends was stored; close the store and open it again.",
        );
    }
  }

  private onCheckpointerMessage(message: CheckpointerMessage): void {
    if (message.type === "checkpoint") {
      this.walCheckpoints += 1;
      if (message.truncated) this.walTruncations += 1;
    } else {
      this.settings.logger.warn("event store WAL checkpoint failed", {
        path: this.settings.path,
        error: message.message,
      });
    }
  }
}

/** Sets the connection up (WAL, durability, no autocheckpoint when the worker runs) and the schema. */
function initialize(db: Database.Database, settings: Settings): void {
  db.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
  const journalMode = String(db.pragma("journal_mode = WAL", { simple: true })).toLowerCase();
  if (journalMode !== "wal") {
    throw new StoreUnavailableError(
      `cannot switch the event store ${settings.path} to WAL mode (it stays in ${journalMode} mode). ` +
        "Put the file on a local disk, and make sure no other program opened it in exclusive mode.",
    );
  }
  db.pragma(`synchronous = ${settings.durability === "full" ? "FULL" : "NORMAL"}`);
  db.pragma(`wal_autocheckpoint = ${settings.checkpointIntervalMs > 0 ? 0 : 1000}`);
  migrate(db, settings.path);
}

function migrate(db: Database.Database, path: string): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(SCHEMA_SQL);
    const row = db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")
      .get();
    if (row === undefined) {
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    } else if (Number(row.value) > SCHEMA_VERSION) {
      throw new StoreUnavailableError(
        `the event store ${path} has schema version ${row.value}, newer than this fullenrich-rx understands ` +
          `(${SCHEMA_VERSION}). Upgrade fullenrich-rx, or use another file.`,
      );
    } else if (Number(row.value) < SCHEMA_VERSION) {
      // The tables a newer version adds were created above; nothing else changes.
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/** The same failure for every write of a group. */
function failAll(ops: readonly WriteOp[], error: unknown): WriteOutcome[] {
  return ops.map(() => ({ ok: false, error }));
}

function toStoredEvent(row: EventRow): StoredEvent {
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

function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Database.SqliteError) return error.code;
  return undefined;
}

/** Turns a driver error into a {@link StoreUnavailableError} that says what went wrong and what to do. */
function unavailable(error: unknown, settings: Settings, action: "open" | "read" | "write"): Error {
  if (error instanceof StoreUnavailableError) return error;
  if (error instanceof ConcurrencyError || error instanceof RangeError) return error;
  const code = sqliteCode(error) ?? "";
  const path = settings.path;
  const detail = `${messageOf(error)}${code ? ` (${code})` : ""}`;
  let message: string;
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    message =
      `the event store ${path} is locked: another connection or process held it for more than ` +
      `busyTimeoutMs (${settings.busyTimeoutMs} ms) — ${detail}. Stop the program that keeps it locked ` +
      "(an open transaction, a backup, an exclusive lock), or raise busyTimeoutMs, then retry.";
  } else if (code.startsWith("SQLITE_READONLY") || code === "SQLITE_PERM" || code === "SQLITE_AUTH") {
    message =
      `the event store ${path} is read-only — ${detail}. Give this user write access to the file, ` +
      "its -wal/-shm files and its directory, or choose another path.";
  } else if (code.startsWith("SQLITE_CANTOPEN")) {
    message =
      `cannot open the event store ${path} — ${detail}. Check that the path names a file (not a ` +
      "directory) on a local disk, and that this user may read and write it and its directory.";
  } else if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    message =
      `${path} is not a usable SQLite event store — ${detail}. Choose another path, or restore the ` +
      "file from a backup.";
  } else if (code.startsWith("SQLITE_CONSTRAINT")) {
    message =
      `the event store ${path} refused an append — ${detail}. Nothing of that append was stored (the ` +
      "others committed with it were). The file has a constraint or trigger fullenrich-rx did not " +
      "create: remove it, or use a file only fullenrich-rx writes to.";
  } else if (code === "SQLITE_FULL") {
    message = `the disk holding the event store ${path} is full — ${detail}. Free some space, then retry.`;
  } else if (code.startsWith("SQLITE_IOERR")) {
    message = `I/O error on the event store ${path} — ${detail}. Check the disk and the file system, then retry.`;
  } else if (action === "open") {
    message = `cannot open the event store ${path} — ${detail}.`;
  } else {
    message = `the event store ${path} failed to ${action} — ${detail}.`;
  }
  return new StoreUnavailableError(message, { cause: error });
}
