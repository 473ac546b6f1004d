import type Database from "better-sqlite3";
import type { EventStore } from "../store.js";
import { AssembledEventStore } from "./shared/assembled-store.js";
import type { GroupWriter, WriteOutcome } from "./shared/group-writer.js";
import { StoreLifecycle } from "./shared/lifecycle.js";
import type { LiveTails } from "./shared/live-tails.js";
import { messageOf } from "./shared/validation.js";
import type { WriteOp } from "./shared/write-ops.js";
import { type CheckpointerMessage, LARGE_WAL_FRAMES, WalCheckpointer } from "./sqlite/checkpointer.js";
import { loadSqliteDriver } from "./sqlite/driver.js";
import { sqliteUnavailable } from "./sqlite/errors.js";
import { openMainConnection } from "./sqlite/open.js";
import { outcomesOfReply } from "./sqlite/outcomes.js";
import { SqliteReads } from "./sqlite/reads.js";
import {
  type SqliteEventStoreOptions,
  type SqliteSettings,
  sqliteSettings,
  synchronousOf,
  walAutocheckpointOf,
} from "./sqlite/settings.js";
import { WriterThread } from "./sqlite/writer-thread.js";

export type { SqliteEventStoreOptions } from "./sqlite/settings.js";

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
 *   `TRUNCATE` when idle. SQLite rewinds the WAL (writes it again from its start) only when a
 *   checkpoint copied all of it before the next commit, which a checkpoint running beside appends
 *   that never pause never does: once the WAL is large (16 MB of 4 KB pages), the worker checkpoints
 *   every 10 ms and the writer thread, right after answering its next commit, copies the few
 *   frames left, so that the WAL is rewound and its file stays bounded however long the appends
 *   last.
 * - **Subscriptions** are woken at once by this store's commits, and notice other processes'
 *   appends by polling `MAX(position)` every `pollIntervalMs` (one shared, unref'd timer that runs
 *   only while someone subscribes). They complete when the store closes.
 *
 * Reads stay synchronous on the main thread (better-sqlite3); in WAL mode they do not wait for
 * writers. Each open store runs two threads (writer, checkpointer) with a connection each; handing
 * a group to the writer thread and back costs about 0.1–0.3 ms of latency per group, which buys a
 * main thread that keeps serving while the commit waits for the disk.
 *
 * Assembled from operations: the reads (`sqlite/reads.ts`), the writer thread and its protocol
 * (`sqlite/writer-*`), the checkpointer, the file modes and the schema (`sqlite/`), and what it
 * shares with the PostgreSQL store (`shared/`: group commit, tails, lifecycle, errors).
 */
export class SqliteEventStore extends AssembledEventStore {
  /** @internal */
  protected readonly lifecycle: StoreLifecycle;
  /** @internal */
  protected readonly reads: SqliteReads;
  /** @internal */
  protected readonly tails: LiveTails;
  /** @internal */
  protected readonly writes: GroupWriter;
  /** @internal */
  protected readonly pageSize: number;
  private readonly checkpointer: WalCheckpointer | undefined;
  private transactions = 0;
  private operations = 0;
  private walCheckpoints = 0;
  private walTruncations = 0;
  /** The checkpointer's last report found the WAL large (see {@link LARGE_WAL_FRAMES}). */
  private walIsLarge = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly settings: SqliteSettings,
    private readonly writer: WriterThread,
  ) {
    super();
    this.pageSize = settings.pageSize;
    this.lifecycle = new StoreLifecycle(`the event store ${settings.path}`);
    this.reads = new SqliteReads(db);
    // Polling: another process (or another store on this file) appended.
    this.tails = this.liveTails(this.reads.head(), {
      polling: {
        intervalMs: settings.pollIntervalMs,
        head: () => this.reads.head(),
        onError: (error) =>
          settings.logger.warn("event store poll failed", { path: settings.path, error: messageOf(error) }),
      },
    });
    this.writes = this.groupWriter({
      gather: gatherUntilEndOfTurn,
      commit: (group) => this.commitGroup(group),
    });
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
    const settings = sqliteSettings(path, options);
    const db = openMainConnection(await loadSqliteDriver(), settings, options.logger);
    // The schema exists now: the writer thread opens its own connection to the file.
    let writer: WriterThread;
    try {
      writer = await WriterThread.start({
        path: settings.path,
        busyTimeoutMs: settings.busyTimeoutMs,
        synchronous: synchronousOf(settings),
        walAutocheckpoint: walAutocheckpointOf(settings),
      });
    } catch (error) {
      db.close();
      throw sqliteUnavailable(error, settings, "open");
    }
    try {
      return new SqliteEventStore(db, settings, writer);
    } catch (error) {
      await writer.stop(settings.busyTimeoutMs + 5_000);
      db.close();
      throw sqliteUnavailable(error, settings, "open");
    }
  }

  /**
   * Commits the appends already issued (they settle first: committed, or rejected with
   * {@link StoreUnavailableError} if the writer thread fails), completes live subscriptions (after
   * emitting what they have not yet), stops the writer and checkpoint threads (which close their
   * connections) and closes the file last. Every later call rejects with
   * {@link StoreUnavailableError}. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
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
      }
    });
  }

  /** Settings and counters of this store (only while it is open). */
  diagnostics(): SqliteStoreDiagnostics {
    this.lifecycle.assertOpen();
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

  /** Read failures, as {@link StoreUnavailableError}s that say what to do. @internal */
  protected readFailure(error: unknown): unknown {
    return sqliteUnavailable(error, this.settings, "read");
  }

  /** Sends a group to the writer thread; what became of each write, from its answer. */
  private async commitGroup(ops: readonly WriteOp[]): Promise<WriteOutcome[]> {
    let recordedAt: string;
    try {
      recordedAt = new Date(this.settings.now()).toISOString();
      // The checkpointer reported a large WAL: this commit also lets SQLite rewind it.
      const rewindWal = this.walIsLarge;
      this.walIsLarge = false;
      const reply = await this.writer.commit(recordedAt, [...ops], rewindWal);
      if (reply.kind === "committed") {
        this.transactions += 1;
        this.operations += ops.length;
      }
      return outcomesOfReply(ops, reply, recordedAt, this.settings);
    } catch (error) {
      const failure = sqliteUnavailable(error, this.settings, "write");
      return ops.map(() => ({ ok: false, error: failure }));
    }
  }

  private onCheckpointerMessage(message: CheckpointerMessage): void {
    if (message.type === "checkpoint") {
      this.walCheckpoints += 1;
      this.walIsLarge = message.log >= LARGE_WAL_FRAMES;
      if (message.truncated) this.walTruncations += 1;
    } else {
      this.settings.logger.warn("event store WAL checkpoint failed", {
        path: this.settings.path,
        error: message.message,
      });
    }
  }
}
