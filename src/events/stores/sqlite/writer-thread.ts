import { createRequire } from "node:module";
import { type MessagePort, Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import type { ExpectedVersion } from "../../store.js";
import { type AppendBackend, applyAppendCore } from "../shared/append-core.js";
import type { PreparedEvent, PreparedSnapshot, PreparedTagEntry } from "../shared/validation.js";

/** An append of a group, as the writer thread works on it (it travels flattened: {@link encodeGroup}). @internal */
export interface WriterAppendOp {
  kind: "append";
  stream: string;
  events: PreparedEvent[];
  expectedVersion: ExpectedVersion;
  checkpoint: { name: string; position: number } | undefined;
}

/** A `setCheckpoint` of a group. @internal */
export interface WriterCheckpointOp {
  kind: "checkpoint";
  name: string;
  position: number;
}

/** An `addTags` of a group. @internal */
export interface WriterTagsOp {
  kind: "tags";
  entries: PreparedTagEntry[];
}

/** A `saveSnapshot` of a group. @internal */
export interface WriterSnapshotOp {
  kind: "snapshot";
  snapshot: PreparedSnapshot;
}

/** @internal */
export type WriterOp = WriterAppendOp | WriterCheckpointOp | WriterTagsOp | WriterSnapshotOp;

/** A driver error as it crosses the thread boundary: its message and SQLite code ("" if none). @internal */
export interface WriterFailure {
  message: string;
  code: string;
}

/** What became of one operation of a committed group. @internal */
export type WriterOpOutcome =
  /** Applied: for an append, every event's position and new stream version (0: a duplicate). */
  | { status: "applied"; positions: ArrayLike<number>; streamVersions: ArrayLike<number> }
  /** `expectedVersion` did not match the stream's `actual` version: rolled back to its savepoint. */
  | { status: "conflict"; actual: number }
  /** A constraint refused it: rolled back to its savepoint, the rest of the group went on. */
  | { status: "refused"; failure: WriterFailure };

/** The answer to one group. @internal */
export type GroupReply =
  /** COMMIT returned: every "applied" outcome is durable (as durable as `synchronous` makes it). */
  | { kind: "committed"; outcomes: WriterOpOutcome[] }
  /** BEGIN, a statement or COMMIT failed and the transaction was rolled back: nothing is stored. */
  | { kind: "failed"; failure: WriterFailure }
  /** The thread stopped while the group was in flight: it may or may not have been committed. */
  | { kind: "lost"; reason: string }
  /** The thread had stopped before the group was sent: nothing is stored. */
  | { kind: "stopped"; reason: string };

/** How the writer thread sets up its connection. @internal */
export interface WriterConfig {
  path: string;
  busyTimeoutMs: number;
  synchronous: "FULL" | "NORMAL";
  walAutocheckpoint: number;
}

/*
 * The messages are kept flat, because cloning objects costs far more than cloning primitives: a
 * group of 64 appends as objects costs ~0.4 ms to serialise and deserialise both ways, flat ~0.05 ms.
 *
 * A group's operations, one after the other in one array:
 *   append:     APPEND, stream, expectedVersion, checkpoint name (or null), checkpoint position,
 *               event count, then per event: type, version, json, dedupKey (or null), tag count,
 *               the tags
 *   checkpoint: CHECKPOINT, name, position
 *   tags:       TAGS, entry count, then per entry: position, tag count, the tags
 *   snapshot:   SNAPSHOT, name, position, version, json
 * A committed group's outcomes, one after the other in a Float64Array:
 *   applied:  APPLIED, n (events; 0 for a checkpoint), n positions, n stream versions (0: duplicate)
 *   conflict: CONFLICT, actual stream version
 *   refused:  REFUSED, index of its failure in `failures`
 */
const APPEND = 0;
const CHECKPOINT = 1;
const TAGS = 2;
const SNAPSHOT = 3;
const APPLIED = 0;
const CONFLICT = 1;
const REFUSED = 2;

/** One slot of an encoded group. */
type WireValue = string | number | null;

type WireReply =
  | { kind: "committed"; results: Float64Array; failures: WriterFailure[] }
  | { kind: "failed"; failure: WriterFailure };

type ToWriter = { type: "group"; recordedAt: string; ops: WireValue[] } | { type: "stop" };

type FromWriter =
  | { type: "ready"; synchronous: number; walAutocheckpoint: number }
  | { type: "open-failed"; failure: WriterFailure }
  | { type: "reply"; reply: WireReply };

/** Flattens a group for the writer thread (see the layout above). @internal */
export function encodeGroup(ops: readonly WriterOp[]): WireValue[] {
  const wire: WireValue[] = [];
  for (const op of ops) {
    if (op.kind === "checkpoint") {
      wire.push(CHECKPOINT, op.name, op.position);
      continue;
    }
    if (op.kind === "tags") {
      wire.push(TAGS, op.entries.length);
      for (const entry of op.entries) wire.push(entry.position, entry.tags.length, ...entry.tags);
      continue;
    }
    if (op.kind === "snapshot") {
      const { name, position, version, json } = op.snapshot;
      wire.push(SNAPSHOT, name, position, version, json);
      continue;
    }
    wire.push(
      APPEND,
      op.stream,
      op.expectedVersion,
      op.checkpoint === undefined ? null : op.checkpoint.name,
      op.checkpoint === undefined ? 0 : op.checkpoint.position,
      op.events.length,
    );
    for (const event of op.events) {
      wire.push(event.type, event.version, event.json, event.dedupKey, event.tags.length, ...event.tags);
    }
  }
  return wire;
}

/** Reads a committed group's outcomes (see the layout above), one per operation. @internal */
export function decodeOutcomes(
  results: Float64Array,
  failures: readonly WriterFailure[],
  count: number,
): WriterOpOutcome[] {
  const outcomes: WriterOpOutcome[] = [];
  let at = 0;
  for (let index = 0; index < count && at < results.length; index += 1) {
    const status = results[at] as number;
    if (status === APPLIED) {
      const n = results[at + 1] as number;
      const positions = results.subarray(at + 2, at + 2 + n);
      const streamVersions = results.subarray(at + 2 + n, at + 2 + 2 * n);
      outcomes.push({ status: "applied", positions, streamVersions });
      at += 2 + 2 * n;
    } else if (status === CONFLICT) {
      outcomes.push({ status: "conflict", actual: results[at + 1] as number });
      at += 2;
    } else if (status === REFUSED) {
      const failure = failures[results[at + 1] as number] ?? { message: "refused", code: "" };
      outcomes.push({ status: "refused", failure });
      at += 2;
    } else {
      break; // unreadable: the operations without an outcome are rejected by the store
    }
  }
  return outcomes;
}

/**
 * The writer thread's program. It runs inside the worker from its source text (see
 * {@link workerSource}), so it is SELF-CONTAINED: no imports (types only), no free variables;
 * what it needs comes in as arguments.
 *
 * It opens its own connection (retrying while SQLite reports the file busy, up to `busyTimeoutMs`,
 * as opening does on the main thread), says "ready", then commits each group it receives in one
 * `BEGIN IMMEDIATE` transaction with a SAVEPOINT per operation, and answers after COMMIT returned.
 * @internal
 */
export function writerThreadMain(
  port: MessagePort,
  config: WriterConfig,
  Driver: typeof Database,
  appendCore: typeof applyAppendCore,
): void {
  const failureOf = (error: unknown): WriterFailure => {
    const code =
      typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
        ? error.code
        : "";
    return { message: error instanceof Error ? error.message : String(error), code };
  };
  const isBusy = (failure: WriterFailure): boolean =>
    failure.code.startsWith("SQLITE_BUSY") || failure.code.startsWith("SQLITE_LOCKED");
  const post = (message: FromWriter): void => port.postMessage(message);

  let opened: Database.Database | undefined;
  const deadline = Date.now() + config.busyTimeoutMs;
  for (let attempt = 1; opened === undefined; attempt += 1) {
    let candidate: Database.Database | undefined;
    try {
      candidate = new Driver(config.path, { fileMustExist: true, timeout: config.busyTimeoutMs });
      candidate.pragma(`busy_timeout = ${config.busyTimeoutMs}`);
      candidate.pragma(`synchronous = ${config.synchronous}`);
      candidate.pragma(`wal_autocheckpoint = ${config.walAutocheckpoint}`);
      opened = candidate;
    } catch (error) {
      try {
        candidate?.close();
      } catch {
        // already failing
      }
      const failure = failureOf(error);
      if (!isBusy(failure) || Date.now() >= deadline) {
        post({ type: "open-failed", failure });
        port.close();
        return;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(50, 2 ** attempt));
    }
  }
  const db = opened;

  let statements: ReturnType<typeof prepare>;
  function prepare(connection: Database.Database) {
    return {
      begin: connection.prepare("BEGIN IMMEDIATE"),
      commit: connection.prepare("COMMIT"),
      savepoint: connection.prepare("SAVEPOINT append_op"),
      release: connection.prepare("RELEASE append_op"),
      rollbackTo: connection.prepare("ROLLBACK TO append_op"),
      insert: connection.prepare<[string, number, string, number, string, string | null, string]>(
        "INSERT INTO events (stream, stream_version, type, version, data, dedup_key, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      streamVersion: connection.prepare<[string], { v: number | null }>(
        "SELECT MAX(stream_version) AS v FROM events WHERE stream = ?",
      ),
      positionOfKey: connection.prepare<[string], { position: number }>(
        "SELECT position FROM events WHERE dedup_key = ?",
      ),
      saveCheckpoint: connection.prepare<[string, number]>(
        "INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = MAX(position, excluded.position)",
      ),
      insertTag: connection.prepare<[string, number]>(
        "INSERT OR IGNORE INTO tags (tag, position) VALUES (?, ?)",
      ),
      tagStored: connection.prepare<[string, number]>(
        "INSERT OR IGNORE INTO tags (tag, position) SELECT ?, position FROM events WHERE position = ?",
      ),
      saveSnapshot: connection.prepare<[string, number, number, string, string]>(
        "INSERT INTO snapshots (name, position, version, data, saved_at) VALUES (?, ?, ?, ?, ?) " +
          "ON CONFLICT (name) DO UPDATE SET position = excluded.position, version = excluded.version, " +
          "data = excluded.data, saved_at = excluded.saved_at",
      ),
    };
  }
  try {
    statements = prepare(db);
  } catch (error) {
    try {
      db.close();
    } catch {
      // already failing
    }
    post({ type: "open-failed", failure: failureOf(error) });
    port.close();
    return;
  }

  const backend: AppendBackend = {
    streamVersion: (stream) => statements.streamVersion.get(stream)?.v ?? 0,
    positionOfDedupKey: (key) => statements.positionOfKey.get(key)?.position,
    insert: (stream, streamVersion, event, recordedAt) => {
      const position = Number(
        statements.insert.run(
          stream,
          streamVersion,
          event.type,
          event.version,
          event.json,
          event.dedupKey,
          recordedAt,
        ).lastInsertRowid,
      );
      for (const tag of event.tags) statements.insertTag.run(tag, position);
      return position;
    },
    saveCheckpoint: (name, position) => {
      statements.saveCheckpoint.run(name, position);
    },
  };

  /** The operations of an encoded group (see the layout above `encodeGroup`). */
  const decodeGroup = (wire: WireValue[]): WriterOp[] => {
    const ops: WriterOp[] = [];
    let at = 0;
    /** The `count` strings from `at` on. */
    const strings = (from: number, count: number): string[] => wire.slice(from, from + count) as string[];
    while (at < wire.length) {
      if (wire[at] === 1 /* CHECKPOINT */) {
        ops.push({ kind: "checkpoint", name: wire[at + 1] as string, position: wire[at + 2] as number });
        at += 3;
        continue;
      }
      if (wire[at] === 2 /* TAGS */) {
        const count = wire[at + 1] as number;
        at += 2;
        const entries: PreparedTagEntry[] = [];
        for (let index = 0; index < count; index += 1) {
          const tagCount = wire[at + 1] as number;
          entries.push({ position: wire[at] as number, tags: strings(at + 2, tagCount) });
          at += 2 + tagCount;
        }
        ops.push({ kind: "tags", entries });
        continue;
      }
      if (wire[at] === 3 /* SNAPSHOT */) {
        const snapshot: PreparedSnapshot = {
          name: wire[at + 1] as string,
          position: wire[at + 2] as number,
          version: wire[at + 3] as number,
          json: wire[at + 4] as string,
        };
        ops.push({ kind: "snapshot", snapshot });
        at += 5;
        continue;
      }
      const stream = wire[at + 1] as string;
      const expectedVersion = wire[at + 2] as ExpectedVersion;
      const checkpointName = wire[at + 3] as string | null;
      const checkpointPosition = wire[at + 4] as number;
      const count = wire[at + 5] as number;
      at += 6;
      const events: PreparedEvent[] = [];
      for (let index = 0; index < count; index += 1) {
        const tagCount = wire[at + 4] as number;
        events.push({
          type: wire[at] as string,
          version: wire[at + 1] as number,
          json: wire[at + 2] as string,
          dedupKey: wire[at + 3] as string | null,
          tags: strings(at + 5, tagCount),
        });
        at += 5 + tagCount;
      }
      const checkpoint =
        checkpointName === null ? undefined : { name: checkpointName, position: checkpointPosition };
      ops.push({ kind: "append", stream, events, expectedVersion, checkpoint });
    }
    return ops;
  };

  const commitGroup = (recordedAt: string, wire: WireValue[]): WireReply => {
    const ops = decodeGroup(wire);
    /** The outcomes, encoded (see the layout above `encodeGroup`): 0 APPLIED, 1 CONFLICT, 2 REFUSED. */
    const results: number[] = [];
    const failures: WriterFailure[] = [];
    try {
      statements.begin.run();
    } catch (error) {
      return { kind: "failed", failure: failureOf(error) };
    }
    try {
      for (const op of ops) {
        statements.savepoint.run();
        try {
          if (op.kind === "append") {
            const outcome = appendCore(
              backend,
              op.stream,
              op.events,
              op.expectedVersion,
              op.checkpoint,
              recordedAt,
            );
            if (outcome.conflict >= 0) {
              // Nothing was written, but leave no doubt.
              statements.rollbackTo.run();
              results.push(1 /* CONFLICT */, outcome.conflict);
            } else {
              results.push(0 /* APPLIED */, outcome.positions.length);
              for (const position of outcome.positions) results.push(position);
              for (const streamVersion of outcome.streamVersions) results.push(streamVersion);
            }
          } else {
            if (op.kind === "checkpoint") {
              backend.saveCheckpoint(op.name, op.position);
            } else if (op.kind === "tags") {
              for (const entry of op.entries) {
                for (const tag of entry.tags) statements.tagStored.run(tag, entry.position);
              }
            } else {
              const { name, position, version, json } = op.snapshot;
              statements.saveSnapshot.run(name, position, version, json, recordedAt);
            }
            results.push(0 /* APPLIED */, 0);
          }
          statements.release.run();
        } catch (error) {
          const failure = failureOf(error);
          // A constraint failure concerns this operation only; anything else fails the group.
          if (!failure.code.startsWith("SQLITE_CONSTRAINT") || !db.inTransaction) throw error;
          statements.rollbackTo.run();
          statements.release.run();
          results.push(2 /* REFUSED */, failures.length);
          failures.push(failure);
        }
      }
      statements.commit.run();
    } catch (error) {
      try {
        if (db.inTransaction) db.exec("ROLLBACK");
      } catch {
        // the transaction is gone already
      }
      return { kind: "failed", failure: failureOf(error) };
    }
    return { kind: "committed", results: Float64Array.from(results), failures };
  };

  port.on("message", (message: ToWriter) => {
    if (message.type === "stop") {
      try {
        db.close();
      } catch {
        // closing anyway
      }
      port.close();
      return;
    }
    post({ type: "reply", reply: commitGroup(message.recordedAt, message.ops) });
  });
  post({
    type: "ready",
    synchronous: Number(db.pragma("synchronous", { simple: true })),
    walAutocheckpoint: Number(db.pragma("wal_autocheckpoint", { simple: true })),
  });
}

/**
 * The worker's code: an `eval` worker (CommonJS) built from the source text of
 * {@link writerThreadMain} and {@link applyAppendCore}, so that it runs the same from the
 * TypeScript sources (tests) and from the compiled `dist/`, and shares the append semantics with
 * the other stores instead of copying them.
 */
let workerSource: string | undefined;
function sourceOfWorker(): string {
  workerSource ??= `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const applyAppendCore = (${applyAppendCore.toString()});
const writerThreadMain = (${writerThreadMain.toString()});
writerThreadMain(parentPort, workerData.config, require(workerData.driverPath), applyAppendCore);
`;
  return workerSource;
}

/** A {@link WriterFailure} as an error the store can map (a `SqliteError` when it has a code). @internal */
export function errorOfFailure(failure: WriterFailure): Error {
  return failure.code === ""
    ? new Error(failure.message)
    : new Database.SqliteError(failure.message, failure.code);
}

/**
 * The main thread's handle on the writer thread of one {@link SqliteEventStore}: a
 * `worker_threads` worker with its own connection that runs every write transaction, so that the
 * commit (and its fsync) never blocks the thread serving requests.
 *
 * One group at a time: {@link commit} must not be called again before its promise settled. The
 * worker keeps the process alive only while a group is in flight (or while starting, stopping).
 * @internal
 */
export class WriterThread {
  private pending: ((reply: GroupReply) => void) | undefined;
  /** How many operations the group in flight has. */
  private sentCount = 0;
  private stoppedReason: string | undefined;
  private stopping = false;
  private lastError: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    /** `synchronous` of the writer's connection: 2 = FULL, 1 = NORMAL. */
    readonly synchronous: number,
    /** `wal_autocheckpoint` of the writer's connection. */
    readonly walAutocheckpoint: number,
  ) {
    worker.on("message", (message: FromWriter) => {
      if (message.type !== "reply") return;
      const settle = this.pending;
      this.pending = undefined;
      if (!this.stopping) worker.unref();
      const { reply } = message;
      settle?.(
        reply.kind === "committed"
          ? { kind: "committed", outcomes: decodeOutcomes(reply.results, reply.failures, this.sentCount) }
          : reply,
      );
    });
    worker.on("error", (error: Error) => {
      this.lastError = error.message;
    });
    this.exited = new Promise<void>((resolve) => {
      worker.once("exit", (code: number) => {
        this.stoppedReason ??= this.lastError ?? `the thread exited with code ${code}`;
        const settle = this.pending;
        this.pending = undefined;
        settle?.({ kind: "lost", reason: this.stoppedReason });
        resolve();
      });
    });
  }

  /** Starts the thread; resolves once its connection is open, rejects (with the driver's error) otherwise. */
  static start(config: WriterConfig): Promise<WriterThread> {
    const driverPath = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(sourceOfWorker(), { eval: true, workerData: { config, driverPath } });
    // Referenced until ready: an awaited open() must complete even with nothing else to do.
    return new Promise<WriterThread>((resolve, reject) => {
      let lastError: Error | undefined;
      const onMessage = (message: FromWriter): void => {
        if (message.type === "ready") {
          cleanup();
          worker.unref();
          resolve(new WriterThread(worker, message.synchronous, message.walAutocheckpoint));
        } else if (message.type === "open-failed") {
          cleanup();
          // It closes its port and exits by itself; make sure, and ignore what it may still say.
          worker.on("error", () => {});
          void worker.terminate();
          reject(errorOfFailure(message.failure));
        }
      };
      const onError = (error: Error): void => {
        lastError = error;
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(
          lastError ??
            new Error(`the event store's writer thread exited with code ${code} before it was ready`),
        );
      };
      const cleanup = (): void => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
  }

  /** Why the thread is gone, or undefined while it runs. */
  get stopped(): string | undefined {
    return this.stoppedReason;
  }

  /** Commits one group; the promise never rejects (failures are replies). One group at a time. */
  commit(recordedAt: string, ops: WriterOp[]): Promise<GroupReply> {
    if (this.stoppedReason !== undefined || this.stopping) {
      return Promise.resolve({ kind: "stopped", reason: this.stoppedReason ?? "the store is closing" });
    }
    if (this.pending !== undefined) {
      return Promise.reject(new Error("WriterThread.commit: a group is already in flight"));
    }
    return new Promise<GroupReply>((resolve) => {
      const message: ToWriter = { type: "group", recordedAt, ops: encodeGroup(ops) };
      try {
        this.worker.postMessage(message);
      } catch (error) {
        // Not sent (e.g. it could not be cloned): nothing of it is stored.
        resolve({
          kind: "failed",
          failure: { message: error instanceof Error ? error.message : String(error), code: "" },
        });
        return;
      }
      this.pending = resolve;
      this.sentCount = ops.length;
      this.worker.ref();
    });
  }

  /**
   * Asks the thread to close its connection and exit (after the group in flight, if any); terminates
   * it if it has not within `graceMs`. Resolves once it has exited.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stoppedReason === undefined && !this.stopping) {
      this.stopping = true;
      // Keep the process alive until the thread has closed its connection.
      this.worker.ref();
      const message: ToWriter = { type: "stop" };
      this.worker.postMessage(message);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    // Under fake timers the grace timer may never fire; the thread still exits on its own.
    const outcome = await Promise.race([this.exited.then(() => "exited" as const), timedOut]);
    if (timer !== undefined) clearTimeout(timer);
    if (outcome === "timeout") await this.worker.terminate();
    await this.exited;
  }

  /** Stops the thread at once (tests: a thread that dies with a group in flight). @internal */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
