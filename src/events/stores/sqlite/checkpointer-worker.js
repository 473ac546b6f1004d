// @ts-check
/*
 * The SQLite store's WAL checkpointer: a `worker_threads` worker started from this file by
 * WalCheckpointer (checkpointer.ts). JavaScript type-checked through JSDoc, like writer-worker.js,
 * so that a plain Node worker runs it from src/ (tests) and from dist/.
 *
 * It opens its own connection (busy_timeout 0: it never waits for a writer), and on every tick
 * runs `wal_checkpoint(PASSIVE)`, which copies committed WAL frames into the database without
 * taking any lock a writer needs, and reports how many frames the WAL holds. When a whole tick went
 * by without a new frame and everything was copied, the store is idle, and it runs
 * `wal_checkpoint(TRUNCATE)` to shrink the WAL file to zero. While the WAL is large, it ticks
 * every few milliseconds (CATCH_UP_MS).
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { failureOf } from "./failure.js";
import { openAndSetUp } from "./open-connection.js";

/**
 * Messages the checkpointer posts.
 * @internal
 * @typedef {{ type: "checkpoint"; log: number; truncated: boolean } | { type: "error"; message: string }} CheckpointerMessage
 */

/**
 * The checkpointer's settings (its `workerData`).
 * @internal
 * @typedef {object} CheckpointerConfig
 * @property {string} path
 * @property {number} intervalMs
 * @property {number} largeWalFrames How many frames make a WAL large (see CATCH_UP_MS).
 */

/**
 * A row of `PRAGMA wal_checkpoint`.
 * @typedef {{ busy: number; log: number; checkpointed: number }} CheckpointRow
 */

const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort);
const config = /** @type {CheckpointerConfig} */ (workerData);

/** @param {CheckpointerMessage} message */
const post = (message) => port.postMessage(message);

/** @returns {Database.Database | undefined} */
function open() {
  try {
    return openAndSetUp(
      () => new Database(config.path, { fileMustExist: true, timeout: 0 }),
      (db) => {
        db.pragma("busy_timeout = 0");
        db.pragma("wal_autocheckpoint = 0");
      },
    );
  } catch (error) {
    post({ type: "error", message: failureOf(error).message });
    return undefined;
  }
}

/**
 * @param {Database.Database} db
 * @param {"PASSIVE" | "TRUNCATE"} mode
 * @returns {CheckpointRow | undefined}
 */
function checkpoint(db, mode) {
  const rows = /** @type {CheckpointRow[]} */ (db.pragma(`wal_checkpoint(${mode})`));
  return rows[0];
}

/**
 * While the WAL holds at least `config.largeWalFrames` frames, the next checkpoint comes after
 * this many milliseconds instead of a whole interval: each then copies only the few frames written
 * since the last, so that the writer thread's own checkpoint, which lets SQLite rewind the WAL
 * (see writer-worker.js), has little left to copy.
 */
const CATCH_UP_MS = 10;

const db = open();
if (db === undefined) {
  port.close();
} else {
  let previousLog = -1;
  const tick = () => {
    try {
      const passive = checkpoint(db, "PASSIVE");
      let truncated = false;
      if (
        passive !== undefined &&
        passive.busy === 0 &&
        passive.log > 0 &&
        passive.checkpointed === passive.log &&
        passive.log === previousLog
      ) {
        truncated = checkpoint(db, "TRUNCATE")?.busy === 0;
      }
      previousLog = truncated ? 0 : passive !== undefined ? passive.log : -1;
      post({ type: "checkpoint", log: passive !== undefined ? passive.log : 0, truncated });
      return passive !== undefined && passive.log >= config.largeWalFrames;
    } catch (error) {
      post({ type: "error", message: failureOf(error).message });
      return false;
    }
  };
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const schedule = () => {
    const behind = tick();
    timer = setTimeout(schedule, behind ? Math.min(CATCH_UP_MS, config.intervalMs) : config.intervalMs);
  };
  timer = setTimeout(schedule, config.intervalMs);
  port.on("message", (/** @type {unknown} */ message) => {
    if (typeof message === "object" && message !== null && "type" in message && message.type === "stop") {
      clearTimeout(timer);
      try {
        db.close();
      } catch {
        // closing anyway
      }
      port.close();
    }
  });
}
