// @ts-check
// JavaScript (type-checked through JSDoc): the main thread and the writer thread (a plain Node
// worker, see writer-worker.js) open their connections through this one loop.
import { failureOf, isBusyCode } from "./failure.js";

/**
 * Runs `open` (which opens a connection and sets it up, closing it again when it throws) until it
 * succeeds, retrying while SQLite reports the file busy, for up to `busyTimeoutMs`.
 *
 * `PRAGMA journal_mode = WAL`, and reading a file another process is creating, can fail with
 * SQLITE_BUSY at once, without the busy handler, when SQLite sees a possible deadlock: this happens
 * when several processes open a new file together. The thread blocks between attempts (only while
 * opening under contention, as SQLite's own busy handler does).
 * @internal
 * @template T
 * @param {() => T} open
 * @param {number} busyTimeoutMs
 * @returns {T}
 */
export function retryWhileBusy(open, busyTimeoutMs) {
  const deadline = Date.now() + busyTimeoutMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return open();
    } catch (error) {
      if (!isBusyCode(failureOf(error).code) || Date.now() >= deadline) throw error;
      pause(Math.min(50, 2 ** attempt, Math.max(1, deadline - Date.now())));
    }
  }
}

/**
 * Opens a better-sqlite3 connection with `openDatabase` and sets it up with `setup`; closes it if
 * `setup` throws.
 * @internal
 * @template {{ close(): unknown }} Db
 * @param {() => Db} openDatabase
 * @param {(db: Db) => void} setup
 * @returns {Db}
 */
export function openAndSetUp(openDatabase, setup) {
  const db = openDatabase();
  try {
    setup(db);
    return db;
  } catch (error) {
    try {
      db.close();
    } catch {
      // already failing
    }
    throw error;
  }
}

/**
 * Blocks the thread for `ms`.
 * @param {number} ms
 */
function pause(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
