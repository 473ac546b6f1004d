// @ts-check
// JavaScript (type-checked through JSDoc), not TypeScript: the SQLite writer thread imports this
// module in a plain Node worker, which cannot load .ts files (see sqlite/writer-worker.js).

/**
 * @typedef {import("./validation.js").PreparedEvent} PreparedEvent
 * @typedef {import("../../store.js").ExpectedVersion} ExpectedVersion
 */

/**
 * What {@link applyAppendCore} needs from a store, called while the store holds its write lock
 * (inside the transaction for SQL stores). Every call sees the effects of the previous ones.
 * @internal
 * @typedef {object} AppendBackend
 * @property {(stream: string) => number} streamVersion The stream's current version (its last
 *   event's `streamVersion`, 0 when empty).
 * @property {(dedupKey: string) => number | undefined} positionOfDedupKey The position of the stored
 *   event with this dedup key, if any.
 * @property {(stream: string, streamVersion: number, event: PreparedEvent, recordedAt: string) => number} insert
 *   Stores one event (and its tags) and returns its position.
 * @property {(name: string, position: number) => void} saveCheckpoint Moves a checkpoint forward
 *   (never backwards).
 */

/**
 * What {@link applyAppendCore} did with one batch: plain data (numbers only), so that it crosses a
 * thread boundary as it is.
 * @internal
 * @typedef {object} AppendOutcome
 * @property {number} conflict The stream's version when `expectedVersion` did not match (nothing was
 *   written, not even the checkpoint), or -1 when the batch was applied.
 * @property {number[]} positions For every event of the batch: its position, new or (for a
 *   duplicate) the stored one.
 * @property {number[]} streamVersions For every event of the batch: its new stream version, or 0
 *   when it was skipped as a duplicate.
 */

/**
 * The append semantics every store shares, on top of an {@link AppendBackend}:
 *
 * 1. Events whose dedup key is already stored, or appears earlier in the batch, are skipped and
 *    reported with the stored position.
 * 2. If the batch still has events to write (or is empty), `expectedVersion` is checked against the
 *    stream's version; a mismatch returns `conflict` (the actual version) before anything is written.
 *    A batch made only of already-stored events is an idempotent retry: it is reported as
 *    duplicates whatever the stream's version, and its checkpoint is still applied.
 * 3. The remaining events get consecutive stream versions and positions; the checkpoint, if any,
 *    is saved.
 *
 * The caller makes this atomic (a transaction, a savepoint, or a single synchronous run).
 * @internal
 * @param {AppendBackend} backend
 * @param {string} stream
 * @param {readonly PreparedEvent[]} events
 * @param {ExpectedVersion} expectedVersion
 * @param {{ name: string; position: number } | undefined} checkpoint
 * @param {string} recordedAt
 * @returns {AppendOutcome}
 */
export function applyAppendCore(backend, stream, events, expectedVersion, checkpoint, recordedAt) {
  /**
   * Index of the first event in this batch with a given key, for duplicates inside the batch.
   * @type {Map<string, number>}
   */
  const firstIndexOfKey = new Map();
  /**
   * For every event: -1 when new, else the stored position (> 0) or -(2 + index of the batch event
   * it repeats).
   * @type {number[]}
   */
  const plan = [];
  let fresh = 0;
  events.forEach((event, index) => {
    const key = event.dedupKey;
    if (key !== null) {
      const earlier = firstIndexOfKey.get(key);
      if (earlier !== undefined) {
        plan.push(-2 - earlier);
        return;
      }
      firstIndexOfKey.set(key, index);
      const position = backend.positionOfDedupKey(key);
      if (position !== undefined) {
        plan.push(position);
        return;
      }
    }
    plan.push(-1);
    fresh += 1;
  });

  const current = backend.streamVersion(stream);
  const idempotentRetry = events.length > 0 && fresh === 0;
  const matches =
    expectedVersion === "any" ||
    (expectedVersion === "no-stream" ? current === 0 : expectedVersion === current);
  if (!idempotentRetry && !matches) {
    return { conflict: current, positions: [], streamVersions: [] };
  }

  /** @type {number[]} */
  const positions = [];
  /** @type {number[]} */
  const streamVersions = [];
  let streamVersion = current;
  events.forEach((event, index) => {
    const step = /** @type {number} */ (plan[index]);
    if (step === -1) {
      streamVersion += 1;
      positions.push(backend.insert(stream, streamVersion, event, recordedAt));
      streamVersions.push(streamVersion);
    } else {
      positions.push(step > 0 ? step : /** @type {number} */ (positions[-2 - step]));
      streamVersions.push(0);
    }
  });

  if (checkpoint !== undefined) {
    backend.saveCheckpoint(checkpoint.name, checkpoint.position);
  }
  return { conflict: -1, positions, streamVersions };
}
