// @ts-check
// JavaScript (type-checked through JSDoc): runs inside the writer thread, a plain Node worker (see
// writer-worker.js).
import { applyAppendCore } from "../shared/append-core.js";
import { failureOf } from "./failure.js";
import { decodeGroup, OutcomeEncoder } from "./writer-protocol.js";

/**
 * @typedef {import("better-sqlite3").Database} Database
 * @typedef {import("../shared/append-core.js").AppendBackend} AppendBackend
 * @typedef {import("./writer-protocol.js").WireValue} WireValue
 * @typedef {import("./writer-protocol.js").WireReply} WireReply
 */

/**
 * The writer's statements on its connection.
 * @param {Database} db
 */
function prepareStatements(db) {
  return {
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    savepoint: db.prepare("SAVEPOINT append_op"),
    release: db.prepare("RELEASE append_op"),
    rollbackTo: db.prepare("ROLLBACK TO append_op"),
    /** @type {import("better-sqlite3").Statement<[string, number, string, number, string, string | null, string]>} */
    insert: db.prepare(
      "INSERT INTO events (stream, stream_version, type, version, data, dedup_key, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    /**
     * An event given as DataText: SQLite writes the JSON, quoting the text (the bytes, read as
     * UTF-8 text) itself.
     * @type {import("better-sqlite3").Statement<[string, number, string, number, string, Uint8Array, string, string | null, string]>}
     */
    insertText: db.prepare(
      "INSERT INTO events (stream, stream_version, type, version, data, dedup_key, recorded_at) VALUES (?, ?, ?, ?, ? || json_quote(CAST(? AS TEXT)) || ?, ?, ?)",
    ),
    /** @type {import("better-sqlite3").Statement<[string], { v: number | null }>} */
    streamVersion: db.prepare("SELECT MAX(stream_version) AS v FROM events WHERE stream = ?"),
    /** @type {import("better-sqlite3").Statement<[string], { position: number }>} */
    positionOfKey: db.prepare("SELECT position FROM events WHERE dedup_key = ?"),
    /** @type {import("better-sqlite3").Statement<[string, number]>} */
    saveCheckpoint: db.prepare(
      "INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = MAX(position, excluded.position)",
    ),
    /** @type {import("better-sqlite3").Statement<[string, number]>} */
    insertTag: db.prepare("INSERT OR IGNORE INTO tags (tag, position) VALUES (?, ?)"),
    /** @type {import("better-sqlite3").Statement<[string, number]>} */
    tagStored: db.prepare(
      "INSERT OR IGNORE INTO tags (tag, position) SELECT ?, position FROM events WHERE position = ?",
    ),
    /** @type {import("better-sqlite3").Statement<[string, number, number, string, string]>} */
    saveSnapshot: db.prepare(
      "INSERT INTO snapshots (name, position, version, data, saved_at) VALUES (?, ?, ?, ?, ?) " +
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, version = excluded.version, " +
        "data = excluded.data, saved_at = excluded.saved_at",
    ),
  };
}

/**
 * The writer thread's transactions on `db`: returns the function that commits one encoded group in
 * one `BEGIN IMMEDIATE` transaction, each operation inside its own SAVEPOINT (a conflict or a
 * constraint failure rolls back only that operation), and answers once COMMIT returned. Throws
 * when the statements cannot be prepared (a file without the store's schema).
 * @internal
 * @param {Database} db
 * @returns {(recordedAt: string, wire: readonly WireValue[]) => WireReply}
 */
export function groupCommitter(db) {
  const statements = prepareStatements(db);

  /** @type {AppendBackend} */
  const backend = {
    streamVersion: (stream) => statements.streamVersion.get(stream)?.v ?? 0,
    positionOfDedupKey: (key) => statements.positionOfKey.get(key)?.position,
    insert: (stream, streamVersion, event, recordedAt) => {
      const { text } = event;
      const { lastInsertRowid } =
        text === undefined
          ? statements.insert.run(
              stream,
              streamVersion,
              event.type,
              event.version,
              event.json,
              event.dedupKey,
              recordedAt,
            )
          : statements.insertText.run(
              stream,
              streamVersion,
              event.type,
              event.version,
              text.before,
              text.utf8,
              text.after,
              event.dedupKey,
              recordedAt,
            );
      const position = Number(lastInsertRowid);
      for (const tag of event.tags) statements.insertTag.run(tag, position);
      return position;
    },
    saveCheckpoint: (name, position) => {
      statements.saveCheckpoint.run(name, position);
    },
  };

  /**
   * Applies one operation inside the group's transaction.
   * @param {import("../shared/write-ops.js").WriteOp} op
   * @param {string} recordedAt
   * @param {OutcomeEncoder} outcomes
   */
  const apply = (op, recordedAt, outcomes) => {
    if (op.kind === "append") {
      const outcome = applyAppendCore(
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
        outcomes.conflict(outcome.conflict);
      } else {
        outcomes.applied(outcome.positions, outcome.streamVersions);
      }
      return;
    }
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
    outcomes.applied();
  };

  return (recordedAt, wire) => {
    const ops = decodeGroup(wire);
    const outcomes = new OutcomeEncoder();
    try {
      statements.begin.run();
    } catch (error) {
      return { kind: "failed", failure: failureOf(error) };
    }
    try {
      for (const op of ops) {
        statements.savepoint.run();
        try {
          apply(op, recordedAt, outcomes);
          statements.release.run();
        } catch (error) {
          const failure = failureOf(error);
          // A constraint failure concerns this operation only; anything else fails the group.
          if (!failure.code.startsWith("SQLITE_CONSTRAINT") || !db.inTransaction) throw error;
          statements.rollbackTo.run();
          statements.release.run();
          outcomes.refused(failure);
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
    return outcomes.reply();
  };
}
