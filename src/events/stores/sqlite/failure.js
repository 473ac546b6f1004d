// @ts-check
// JavaScript (type-checked through JSDoc): imported by the writer and checkpointer threads, which
// run as plain Node workers (see writer-worker.js).

/**
 * A driver error as it crosses a thread boundary: its message and SQLite code ("" if none).
 * @internal
 * @typedef {object} WriterFailure
 * @property {string} message
 * @property {string} code
 */

/**
 * The message and SQLite code of anything thrown.
 * @internal
 * @param {unknown} error
 * @returns {WriterFailure}
 */
export function failureOf(error) {
  const code =
    typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
      ? error.code
      : "";
  return { message: error instanceof Error ? error.message : String(error), code };
}

/**
 * Whether an SQLite code says the file is locked by another connection (or process).
 * @internal
 * @param {string} code
 * @returns {boolean}
 */
export function isBusyCode(code) {
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
}
