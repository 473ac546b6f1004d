// @ts-check
// JavaScript (type-checked through JSDoc): both sides of the SQLite writer thread import this
// module, and the worker side runs in plain Node (see writer-worker.js).

/**
 * @typedef {import("../shared/write-ops.js").WriteOp} WriteOp
 * @typedef {import("../shared/write-ops.js").AppendOp} AppendOp
 * @typedef {import("../shared/validation.js").PreparedEvent} PreparedEvent
 * @typedef {import("../shared/validation.js").PreparedTagEntry} PreparedTagEntry
 * @typedef {import("../../store.js").ExpectedVersion} ExpectedVersion
 * @typedef {import("../../store.js").DataText} DataText
 * @typedef {import("./failure.js").WriterFailure} WriterFailure
 */

/*
 * The messages are kept flat, because cloning objects costs far more than cloning primitives: a
 * group of 64 appends as objects costs ~0.4 ms to serialise and deserialise both ways, flat ~0.05 ms.
 *
 * A group's operations, one after the other in one array:
 *   append:     APPEND, stream, expectedVersion, checkpoint name (or null), checkpoint position,
 *               event count, then per event: type, version, json (or its DataText: SQLite writes
 *               the text), dedupKey (or null), tag count, the tags
 *   checkpoint: CHECKPOINT, name, position
 *   tags:       TAGS, entry count, then per entry: position, tag count, the tags
 *   snapshot:   SNAPSHOT, name, position, version, json
 * A committed group's outcomes, one after the other in a Float64Array:
 *   applied:  APPLIED, n (events; 0 for the other operations), n positions, n stream versions
 *             (0: a duplicate)
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

/**
 * One slot of an encoded group.
 * @internal
 * @typedef {string | number | null | DataText} WireValue
 */

/**
 * The writer thread's answer to a group, as it travels.
 * @internal
 * @typedef {{ kind: "committed"; results: Float64Array; failures: WriterFailure[] }
 *   | { kind: "failed"; failure: WriterFailure }} WireReply
 */

/**
 * What the main thread sends to the writer thread.
 * @internal
 * @typedef {{ type: "group"; recordedAt: string; ops: WireValue[]; rewindWal: boolean } | { type: "stop" }} ToWriter
 */

/**
 * What the writer thread sends back.
 * @internal
 * @typedef {{ type: "ready"; synchronous: number; walAutocheckpoint: number }
 *   | { type: "open-failed"; failure: WriterFailure }
 *   | { type: "reply"; reply: WireReply }} FromWriter
 */

/**
 * What became of one operation of a committed group.
 * - applied: for an append, every event's position and new stream version (0: a duplicate);
 * - conflict: `expectedVersion` did not match the stream's `actual` version (rolled back to its
 *   savepoint);
 * - refused: a constraint refused it (rolled back to its savepoint; the rest of the group went on).
 * @internal
 * @typedef {{ status: "applied"; positions: ArrayLike<number>; streamVersions: ArrayLike<number> }
 *   | { status: "conflict"; actual: number }
 *   | { status: "refused"; failure: WriterFailure }} WriterOpOutcome
 */

/**
 * Flattens a group for the writer thread (see the layout above).
 * @internal
 * @param {readonly WriteOp[]} ops
 * @returns {WireValue[]}
 */
export function encodeGroup(ops) {
  /** @type {WireValue[]} */
  const wire = [];
  for (const op of ops) {
    if (op.kind === "checkpoint") {
      wire.push(CHECKPOINT, op.name, op.position);
    } else if (op.kind === "tags") {
      wire.push(TAGS, op.entries.length);
      for (const entry of op.entries) wire.push(entry.position, entry.tags.length, ...entry.tags);
    } else if (op.kind === "snapshot") {
      const { name, position, version, json } = op.snapshot;
      wire.push(SNAPSHOT, name, position, version, json);
    } else {
      wire.push(
        APPEND,
        op.stream,
        op.expectedVersion,
        op.checkpoint === undefined ? null : op.checkpoint.name,
        op.checkpoint === undefined ? 0 : op.checkpoint.position,
        op.events.length,
      );
      for (const event of op.events) {
        // An event given as DataText travels as such (its bytes), never built into JSON here.
        const data = event.text ?? event.json;
        wire.push(event.type, event.version, data, event.dedupKey, event.tags.length, ...event.tags);
      }
    }
  }
  return wire;
}

/**
 * The operations of an encoded group (see the layout above).
 * @internal
 * @param {readonly WireValue[]} wire
 * @returns {WriteOp[]}
 */
export function decodeGroup(wire) {
  /** @type {WriteOp[]} */
  const ops = [];
  const string = (/** @type {number} */ at) => /** @type {string} */ (wire[at]);
  const number = (/** @type {number} */ at) => /** @type {number} */ (wire[at]);
  const strings = (/** @type {number} */ from, /** @type {number} */ count) =>
    /** @type {string[]} */ (wire.slice(from, from + count));
  let at = 0;
  while (at < wire.length) {
    const code = wire[at];
    if (code === CHECKPOINT) {
      ops.push({ kind: "checkpoint", name: string(at + 1), position: number(at + 2) });
      at += 3;
    } else if (code === TAGS) {
      const count = number(at + 1);
      at += 2;
      /** @type {PreparedTagEntry[]} */
      const entries = [];
      for (let index = 0; index < count; index += 1) {
        const tagCount = number(at + 1);
        entries.push({ position: number(at), tags: strings(at + 2, tagCount) });
        at += 2 + tagCount;
      }
      ops.push({ kind: "tags", entries });
    } else if (code === SNAPSHOT) {
      const snapshot = {
        name: string(at + 1),
        position: number(at + 2),
        version: number(at + 3),
        json: string(at + 4),
      };
      ops.push({ kind: "snapshot", snapshot });
      at += 5;
    } else {
      const stream = string(at + 1);
      const expectedVersion = /** @type {ExpectedVersion} */ (wire[at + 2]);
      const checkpointName = /** @type {string | null} */ (wire[at + 3]);
      const checkpointPosition = number(at + 4);
      const count = number(at + 5);
      at += 6;
      /** @type {PreparedEvent[]} */
      const events = [];
      for (let index = 0; index < count; index += 1) {
        const tagCount = number(at + 4);
        const data = wire[at + 2];
        events.push({
          type: string(at),
          version: number(at + 1),
          // The writer inserts `text` when there is one, and never reads `json` then.
          ...(typeof data === "string" ? { json: data } : { json: "", text: /** @type {DataText} */ (data) }),
          dedupKey: /** @type {string | null} */ (wire[at + 3]),
          tags: strings(at + 5, tagCount),
        });
        at += 5 + tagCount;
      }
      const checkpoint =
        checkpointName === null ? undefined : { name: checkpointName, position: checkpointPosition };
      ops.push({ kind: "append", stream, events, expectedVersion, checkpoint });
    }
  }
  return ops;
}

/**
 * Encodes a committed group's outcomes, one operation after the other (see the layout above).
 * @internal
 */
export class OutcomeEncoder {
  constructor() {
    /** @type {number[]} */
    this.results = [];
    /** @type {WriterFailure[]} */
    this.failures = [];
  }

  /**
   * An applied operation: an append's positions and stream versions, or none for the others.
   * @param {readonly number[]} positions
   * @param {readonly number[]} streamVersions
   */
  applied(positions = [], streamVersions = []) {
    this.results.push(APPLIED, positions.length);
    for (const position of positions) this.results.push(position);
    for (const streamVersion of streamVersions) this.results.push(streamVersion);
  }

  /**
   * An append whose expected version did not match the stream's `actual` one.
   * @param {number} actual
   */
  conflict(actual) {
    this.results.push(CONFLICT, actual);
  }

  /**
   * An operation a constraint refused.
   * @param {WriterFailure} failure
   */
  refused(failure) {
    this.results.push(REFUSED, this.failures.length);
    this.failures.push(failure);
  }

  /**
   * The reply to send.
   * @returns {WireReply}
   */
  reply() {
    return { kind: "committed", results: Float64Array.from(this.results), failures: this.failures };
  }
}

/**
 * Reads a committed group's outcomes (see the layout above), one per operation.
 * @internal
 * @param {Float64Array} results
 * @param {readonly WriterFailure[]} failures
 * @param {number} count
 * @returns {WriterOpOutcome[]}
 */
export function decodeOutcomes(results, failures, count) {
  /** @type {WriterOpOutcome[]} */
  const outcomes = [];
  let at = 0;
  for (let index = 0; index < count && at < results.length; index += 1) {
    const status = results[at];
    const value = /** @type {number} */ (results[at + 1]);
    if (status === APPLIED) {
      const positions = results.subarray(at + 2, at + 2 + value);
      const streamVersions = results.subarray(at + 2 + value, at + 2 + 2 * value);
      outcomes.push({ status: "applied", positions, streamVersions });
      at += 2 + 2 * value;
    } else if (status === CONFLICT) {
      outcomes.push({ status: "conflict", actual: value });
      at += 2;
    } else if (status === REFUSED) {
      outcomes.push({ status: "refused", failure: failures[value] ?? { message: "refused", code: "" } });
      at += 2;
    } else {
      break; // unreadable: the operations without an outcome are rejected by the store
    }
  }
  return outcomes;
}
