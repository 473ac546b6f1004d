import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { Observable } from "rxjs";
import { type Logger, silentLogger } from "../../internal/logger.js";
import {
  type AppendOptions,
  type AppendResult,
  ConcurrencyError,
  type EventStore,
  type NewEvent,
  type ReadOptions,
  type StoredEvent,
  StoreUnavailableError,
} from "../store.js";
import { type AppendBackend, applyAppend } from "./append-core.js";
import { type CheckpointerMessage, WalCheckpointer } from "./sqlite-checkpointer.js";
import { type TailHandle, tailEvents } from "./tail.js";
import {
  checkCheckpointName,
  checkPosition,
  checkStream,
  messageOf,
  type PreparedAppendOptions,
  type PreparedEvent,
  prepareAppendOptions,
  prepareEvents,
  prepareReadOptions,
} from "./validation.js";

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
  /** Where background problems (a failing checkpoint or poll) are reported. Default: silent. */
  logger?: Logger;
}

/** Counters and settings of an open {@link SqliteEventStore}, for monitoring and tests. */
export interface SqliteStoreDiagnostics {
  /** Absolute path of the database file. */
  path: string;
  durability: "full" | "normal";
  /** `journal_mode` of the connection (always `"wal"`). */
  journalMode: string;
  /** `synchronous` of the appending connection: 2 = FULL, 1 = NORMAL. */
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

/** The schema version this code writes and understands. */
const SCHEMA_VERSION = 1;

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
`;

const EVENT_COLUMNS = "position, stream, stream_version, type, version, data, dedup_key, recorded_at";

/**
 * The group commit waits for the end of the current turn of the event loop (`setImmediate`), so
 * that every append issued while handling this turn's I/O (e.g. all the webhook requests read in
 * one go) shares one transaction and one fsync. The function is taken when the module loads: fake
 * timers installed later (tests) do not stall the store, whose flush is about I/O, not time.
 */
const endOfTurn: (run: () => void) => void = globalThis.setImmediate.bind(globalThis);

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

type PendingOp =
  | {
      kind: "append";
      stream: string;
      events: PreparedEvent[];
      options: PreparedAppendOptions;
      resolve: (result: AppendResult) => void;
      reject: (error: unknown) => void;
    }
  | {
      kind: "checkpoint";
      name: string;
      position: number;
      resolve: () => void;
      reject: (error: unknown) => void;
    };

type Outcome = { ok: true; value: AppendResult | undefined } | { ok: false; error: unknown };

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

function prepareStatements(db: Database.Database) {
  return {
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    savepoint: db.prepare("SAVEPOINT append_op"),
    release: db.prepare("RELEASE append_op"),
    rollbackTo: db.prepare("ROLLBACK TO append_op"),
    insert: db.prepare<[string, number, string, number, string, string | null, string]>(
      "INSERT INTO events (stream, stream_version, type, version, data, dedup_key, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    streamVersion: db.prepare<[string], { v: number | null }>(
      "SELECT MAX(stream_version) AS v FROM events WHERE stream = ?",
    ),
    positionOfKey: db.prepare<[string], { position: number }>(
      "SELECT position FROM events WHERE dedup_key = ?",
    ),
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
    saveCheckpoint: db.prepare<[string, number]>(
      "INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = MAX(position, excluded.position)",
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * The embedded {@link EventStore}: one SQLite file (WAL mode) through better-sqlite3.
 *
 * - **Group commit.** Appends (and `setCheckpoint` calls) issued in the same tick are committed
 *   together in one `BEGIN IMMEDIATE` transaction, each inside its own savepoint: one append's
 *   {@link ConcurrencyError} rolls back only that append. Every promise settles after `COMMIT`.
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
 * Note that better-sqlite3 is synchronous: while another process holds the write lock, a commit
 * blocks this thread for up to `busyTimeoutMs` (in practice: the other commit's few milliseconds).
 */
export class SqliteEventStore implements EventStore {
  private readonly statements: Statements;
  private readonly backend: AppendBackend;
  private readonly tails = new Set<TailHandle>();
  private readonly checkpointer: WalCheckpointer | undefined;
  private queue: PendingOp[] = [];
  private pendingFlush: Promise<void> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private knownHead: number;
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;
  private transactions = 0;
  private operations = 0;
  private walCheckpoints = 0;
  private walTruncations = 0;

  private constructor(
    private readonly db: Database.Database,
    private readonly settings: Settings,
  ) {
    this.statements = prepareStatements(db);
    const statements = this.statements;
    this.backend = {
      streamVersion: (stream) => statements.streamVersion.get(stream)?.v ?? 0,
      positionOfDedupKey: (key) => statements.positionOfKey.get(key)?.position,
      insert: (stream, streamVersion, event, recordedAt) =>
        Number(
          statements.insert.run(
            stream,
            streamVersion,
            event.type,
            event.version,
            event.json,
            event.dedupKey,
            recordedAt,
          ).lastInsertRowid,
        ),
      saveCheckpoint: (name, position) => {
        statements.saveCheckpoint.run(name, position);
      },
    };
    this.knownHead = statements.head.get()?.head ?? 0;
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
      mkdirSync(directory, { recursive: true });
    } catch (error) {
      throw new StoreUnavailableError(
        `cannot create the directory ${directory} for the event store: ${messageOf(error)}. ` +
          "Check that the path is right and that this user may write there.",
        { cause: error },
      );
    }
    // `PRAGMA journal_mode = WAL` (and reading a file another process is creating) can fail with
    // SQLITE_BUSY at once, without the busy handler, when SQLite sees a possible deadlock; this
    // happens when several processes open a new file together. Retry until busyTimeoutMs is spent.
    const deadline = Date.now() + settings.busyTimeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      let db: Database.Database | undefined;
      try {
        db = new Database(settings.path, { timeout: settings.busyTimeoutMs });
        initialize(db, settings);
        return new SqliteEventStore(db, settings);
      } catch (error) {
        try {
          db?.close();
        } catch {
          // already failing
        }
        if (!isBusyError(error) || Date.now() >= deadline) throw unavailable(error, settings, "open");
        pause(Math.min(50, 2 ** attempt, Math.max(1, deadline - Date.now())));
      }
    }
  }

  /** See {@link EventStore.append}. Committed together with the other appends of the same tick. */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    return new Promise<AppendResult>((resolvePromise, reject) => {
      this.assertOpen();
      const op: PendingOp = {
        kind: "append",
        stream: checkStream(stream),
        events: prepareEvents(events),
        options: prepareAppendOptions(options),
        resolve: resolvePromise,
        reject,
      };
      this.enqueue(op);
    });
  }

  /** See {@link EventStore.read}. */
  async read(options?: ReadOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const { after, limit } = prepareReadOptions(options);
    return this.guard("read", () => this.statements.page.all(after, limit ?? -1).map(toStoredEvent));
  }

  /** See {@link EventStore.readStream}. */
  async readStream(stream: string): Promise<StoredEvent[]> {
    this.assertOpen();
    const checked = checkStream(stream);
    return this.guard("read", () => this.statements.stream.all(checked).map(toStoredEvent));
  }

  /** See {@link EventStore.subscribe}. Subscriptions complete when the store closes. */
  subscribe(after = 0): Observable<StoredEvent> {
    const from = checkPosition(after, "after");
    return tailEvents(
      {
        readPage: (cursor, limit) => this.statements.page.all(cursor, limit).map(toStoredEvent),
        register: (handle) => this.registerTail(handle),
        toError: (error) => unavailable(error, this.settings, "read"),
      },
      from,
      this.settings.pageSize,
    );
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
      return row === undefined ? undefined : toStoredEvent(row);
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
    return new Promise<void>((resolvePromise, reject) => {
      this.assertOpen();
      this.enqueue({
        kind: "checkpoint",
        name: checkCheckpointName(name),
        position: checkPosition(position, "position"),
        resolve: resolvePromise,
        reject,
      });
    });
  }

  /**
   * Commits the appends already issued, completes live subscriptions (after emitting what they have
   * not yet), stops the checkpoint worker and closes the file. Every later call rejects with
   * {@link StoreUnavailableError}. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.state = "closing";
    this.closing = (async () => {
      while (this.pendingFlush !== undefined) await this.pendingFlush;
      await Promise.resolve();
      for (const tail of [...this.tails]) tail.end();
      this.tails.clear();
      this.stopPolling();
      try {
        await this.checkpointer?.stop();
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
      synchronous: Number(this.db.pragma("synchronous", { simple: true })),
      walAutocheckpoint: Number(this.db.pragma("wal_autocheckpoint", { simple: true })),
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

  private enqueue(op: PendingOp): void {
    this.queue.push(op);
    if (this.pendingFlush !== undefined) return;
    let release: () => void = () => {};
    this.pendingFlush = new Promise<void>((resolvePromise) => {
      release = resolvePromise;
    });
    endOfTurn(() => {
      this.pendingFlush = undefined;
      try {
        this.flush();
      } finally {
        release();
      }
    });
  }

  /** Commits every queued operation in one transaction, then settles their promises. */
  private flush(): void {
    const ops = this.queue;
    this.queue = [];
    if (ops.length === 0) return;
    let outcomes: Outcome[];
    try {
      outcomes = this.commitGroup(ops);
    } catch (error) {
      const failure = unavailable(error, this.settings, "write");
      outcomes = ops.map(() => ({ ok: false, error: failure }));
    }
    let appended = 0;
    ops.forEach((op, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined || !outcome.ok) {
        op.reject(outcome?.error ?? new StoreUnavailableError("the append was not committed"));
      } else if (op.kind === "append") {
        const value = outcome.value ?? { appended: [], duplicates: [] };
        appended += value.appended.length;
        op.resolve(value);
      } else {
        op.resolve();
      }
    });
    if (appended > 0) {
      this.knownHead = Math.max(this.knownHead, this.lastPosition(outcomes));
      for (const tail of this.tails) tail.wake();
    }
  }

  private commitGroup(ops: PendingOp[]): Outcome[] {
    const { statements, backend } = this;
    const recordedAt = new Date(this.settings.now()).toISOString();
    const outcomes: Outcome[] = [];
    try {
      statements.begin.run();
    } catch (error) {
      const failure = unavailable(error, this.settings, "write");
      return ops.map(() => ({ ok: false, error: failure }));
    }
    try {
      for (const op of ops) {
        statements.savepoint.run();
        try {
          let value: AppendResult | undefined;
          if (op.kind === "append") {
            value = applyAppend(backend, op.stream, op.events, op.options, recordedAt);
          } else {
            backend.saveCheckpoint(op.name, op.position);
          }
          statements.release.run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (!(error instanceof ConcurrencyError) && !isConstraintError(error)) throw error;
          statements.rollbackTo.run();
          statements.release.run();
          outcomes.push({ ok: false, error });
        }
      }
      statements.commit.run();
    } catch (error) {
      try {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
      } catch {
        // the transaction is gone already
      }
      const failure = unavailable(error, this.settings, "write");
      return ops.map(() => ({ ok: false, error: failure }));
    }
    this.transactions += 1;
    this.operations += ops.length;
    return outcomes;
  }

  private lastPosition(outcomes: Outcome[]): number {
    let last = 0;
    for (const outcome of outcomes) {
      if (!outcome.ok || outcome.value === undefined) continue;
      const events = outcome.value.appended;
      const tail = events[events.length - 1];
      if (tail !== undefined) last = Math.max(last, tail.position);
    }
    return last;
  }

  private registerTail(handle: TailHandle): () => void {
    this.assertOpen();
    this.tails.add(handle);
    if (this.pollTimer === undefined) {
      this.pollTimer = setInterval(() => this.poll(), this.settings.pollIntervalMs);
      this.pollTimer.unref?.();
    }
    return () => {
      this.tails.delete(handle);
      if (this.tails.size === 0) this.stopPolling();
    };
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Wakes the subscriptions when another process (or another store on this file) appended. */
  private poll(): void {
    if (this.state !== "open") return;
    try {
      const head = this.statements.head.get()?.head ?? 0;
      if (head > this.knownHead) {
        this.knownHead = head;
        for (const tail of this.tails) tail.wake();
      }
    } catch (error) {
      this.settings.logger.warn("event store poll failed", {
        path: this.settings.path,
        error: messageOf(error),
      });
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

/** Blocks the thread for `ms` (only while opening under contention, like SQLite's own busy handler). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
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

function isBusyError(error: unknown): boolean {
  const code = sqliteCode(error) ?? "";
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
}

function isConstraintError(error: unknown): boolean {
  return sqliteCode(error)?.startsWith("SQLITE_CONSTRAINT") ?? false;
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
