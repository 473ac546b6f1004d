// @ts-check
/*
 * The SQLite store's writer thread: a `worker_threads` worker started from this file by
 * WriterThread (writer-thread.ts).
 *
 * JavaScript, type-checked through JSDoc (`// @ts-check`, allowJs), not TypeScript: a worker runs
 * in plain Node, which cannot load .ts files, and the tests run the sources (vitest) while users run
 * dist/. tsc copies this file and the few modules it imports (all .js: append-core, failure,
 * open-connection, writer-protocol, writer-transaction) to dist/ unchanged in behaviour, so the
 * same files run in both.
 *
 * It opens its own connection (retrying while SQLite reports the file busy, as opening does on the
 * main thread), says "ready", then commits each group it receives and answers after COMMIT returned
 * (and, when asked, checkpoints the WAL after answering: see rewindWal).
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { failureOf } from "./failure.js";
import { openAndSetUp, retryWhileBusy } from "./open-connection.js";
import { groupCommitter } from "./writer-transaction.js";

/**
 * @typedef {import("./writer-protocol.js").ToWriter} ToWriter
 * @typedef {import("./writer-protocol.js").FromWriter} FromWriter
 */

/**
 * How the writer thread sets up its connection (its `workerData`).
 * @internal
 * @typedef {object} WriterConfig
 * @property {string} path
 * @property {number} busyTimeoutMs
 * @property {"FULL" | "NORMAL"} synchronous
 * @property {number} walAutocheckpoint
 */

const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort);
const config = /** @type {WriterConfig} */ (workerData);

/** @param {FromWriter} message */
const post = (message) => port.postMessage(message);

/**
 * Opens the connection and prepares the writer's statements, or says why it cannot.
 * @returns {{ db: Database.Database; commitGroup: ReturnType<typeof groupCommitter> } | undefined}
 */
function open() {
  /** @type {Database.Database | undefined} */
  let db;
  try {
    db = retryWhileBusy(
      () =>
        openAndSetUp(
          () => new Database(config.path, { fileMustExist: true, timeout: config.busyTimeoutMs }),
          (connection) => {
            connection.pragma(`busy_timeout = ${config.busyTimeoutMs}`);
            connection.pragma(`synchronous = ${config.synchronous}`);
            connection.pragma(`wal_autocheckpoint = ${config.walAutocheckpoint}`);
          },
        ),
      config.busyTimeoutMs,
    );
    return { db, commitGroup: groupCommitter(db) };
  } catch (error) {
    try {
      db?.close();
    } catch {
      // already failing
    }
    post({ type: "open-failed", failure: failureOf(error) });
    port.close();
    return undefined;
  }
}

/**
 * Copies what is left of the WAL into the database, right after this thread's commit (its answer
 * is already sent), so that SQLite rewinds the WAL at the next transaction. Under writes that never
 * pause, the checkpointer thread's checkpoints never end at a moment when no commit followed the
 * frames they copied, so the WAL would never be rewound and would grow as long as the writes last;
 * here no commit can come in between. Asked for by the store when the checkpointer reported a large
 * WAL; it has copied most of it already. A failure (another connection checkpointing: PASSIVE does
 * not wait) is left to the next request.
 * @param {Database.Database} db
 */
function rewindWal(db) {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // the checkpointer thread reports checkpoint failures; the next large WAL asks again
  }
}

const opened = open();
if (opened !== undefined) {
  const { db, commitGroup } = opened;
  port.on("message", (/** @type {ToWriter} */ message) => {
    if (message.type === "stop") {
      try {
        db.close();
      } catch {
        // closing anyway
      }
      port.close();
      return;
    }
    const reply = commitGroup(message.recordedAt, message.ops);
    post({ type: "reply", reply });
    if (message.rewindWal && reply.kind === "committed") rewindWal(db);
  });
  post({
    type: "ready",
    synchronous: Number(db.pragma("synchronous", { simple: true })),
    walAutocheckpoint: Number(db.pragma("wal_autocheckpoint", { simple: true })),
  });
}
