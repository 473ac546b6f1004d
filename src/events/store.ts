import type { Observable } from "rxjs";

/** An event to append: its type, schema version and JSON data. */
export interface NewEvent {
  type: string;
  /** Schema version of `data` for this `type`. */
  version: number;
  /** JSON-serialisable. */
  data: unknown;
  /**
   * The JSON text of `data`, when the caller already has it; it must parse to `data`. Stores keep
   * this text instead of running `JSON.stringify(data)` (which, for a large payload received as
   * text, costs as much as parsing it did). It is not checked: a text that does not parse to `data`
   * is stored as it is.
   */
  dataJson?: string;
  /**
   * The JSON text of `data` in three parts, for data holding a large text that arrived as bytes (a
   * webhook body): `before`, then the UTF-8 text of `utf8` as a JSON string, then `after`. The
   * caller neither decodes nor escapes the text: the SQLite store has SQLite write it in its writer
   * thread, the others build the JSON on the calling thread when they store it. `utf8` must be
   * valid UTF-8 without a NUL byte (a TypeError otherwise). It takes the place of `dataJson`, and
   * `data` is not read (it may be left undefined); reads return the data the text parses to.
   */
  dataText?: DataText;
  /**
   * Unique across the whole store. An event whose dedup key is already stored is not appended
   * again (by a retry, a second process, anything): it is reported in {@link AppendResult.duplicates}.
   */
  dedupKey?: string;
  /**
   * Index keys: the event can be found by any of them with `readByTags` (e.g. `job:<id>`,
   * `identity:<hash>`). Stored in the same transaction as the event. Order and repeats do not matter.
   */
  tags?: readonly string[];
}

/** See {@link NewEvent.dataText}. */
export interface DataText {
  /** The JSON text before the string. */
  before: string;
  /** The string's UTF-8 bytes. */
  utf8: Uint8Array;
  /** The JSON text after the string. */
  after: string;
}

/** An event as the store holds it. */
export interface StoredEvent {
  /**
   * Global position: increasing, never reused, never skipped by a reader following positions
   * (`read`, `subscribe`). The memory and SQLite stores give 1, 2, 3… in commit order. PostgreSQL
   * takes positions from a sequence, so they may have gaps (the positions of an append that failed
   * or was retried stay unused), and makes an event readable only once every transaction older
   * than its own has ended, so that no lower position can still appear after it.
   */
  position: number;
  stream: string;
  /**
   * 1-based version of the event within its stream: 1, 2, 3… PostgreSQL only: when several
   * writers append to one stream at once without an expected version (e.g. every webhook receiver
   * to `deliveries`) and one of those appends fails or is retried, the versions it had taken are
   * skipped. A stream's version is its last event's.
   */
  streamVersion: number;
  type: string;
  version: number;
  data: unknown;
  dedupKey: string | null;
  /** ISO-8601 time of the append (the store's clock). */
  recordedAt: string;
}

/**
 * The stream's version the caller expects before appending: `"any"` (no check, the default),
 * `"no-stream"` (the stream must be empty), or the exact version (its last event's `streamVersion`).
 */
export type ExpectedVersion = number | "any" | "no-stream";

/** Options of {@link EventStore.append}. */
export interface AppendOptions {
  expectedVersion?: ExpectedVersion;
  /** Store a consumer's checkpoint in the same transaction as the events (exactly-once processing). */
  checkpoint?: { name: string; position: number };
}

/** What {@link EventStore.append} did: the events it appended and the ones it skipped. */
export interface AppendResult {
  /** The events that were appended, in order, with their positions. */
  appended: StoredEvent[];
  /** Events skipped because their dedup key was already stored: their index in the batch, and the stored position. */
  duplicates: { index: number; dedupKey: string; position: number }[];
}

/** Thrown by {@link EventStore.append} when `expectedVersion` does not match; nothing was appended. */
export class ConcurrencyError extends Error {
  override name = "ConcurrencyError";
  constructor(
    readonly stream: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(`stream ${stream} is at version ${actual}, expected ${String(expected)}`);
  }
}

/** Thrown when the store cannot be used (closed, locked, disk error). */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

/** Options of {@link EventStore.read}. */
export interface ReadOptions {
  /** Events after this position (exclusive). Default 0: from the start. */
  after?: number;
  /** At most this many events. */
  limit?: number;
}

/** Options of {@link EventStore.readByTags}. */
export interface TagReadOptions {
  /** Only events after this position (exclusive). */
  after?: number;
  /** Only events of these types. */
  types?: readonly string[];
}

/** A projection's saved state and the log position it reflects. */
export interface StoredSnapshot {
  /** The last log position folded into `data`. */
  position: number;
  /** The format version of `data`, as the writer defines it. */
  version: number;
  /** JSON-serialisable. */
  data: unknown;
}

/** How much the store has handed out to readers since it was opened. */
export interface StoreReadCounters {
  /** read/readStream/readByTags/findByDedupKey calls, and subscriptions opened. */
  queries: number;
  /** Events returned by those (a subscription's catch-up and live events included). */
  events: number;
}

/**
 * Thrown by {@link EventStore.loadSnapshot} when the stored snapshot cannot be read back (its data
 * is not JSON, or its position or version is not a non-negative integer). The store itself stays
 * usable: a snapshot is an optimisation, so the caller can ignore it and replay the log.
 */
export class SnapshotError extends Error {
  override name = "SnapshotError";
  constructor(
    /** The snapshot's name. */
    readonly snapshot: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The append-only event log every fullenrich-rx component writes to and reads from.
 *
 * Guarantees, checked by one contract suite against every implementation:
 * - `append` is atomic: all of the batch's new events become visible together, or none;
 * - nothing counts as appended before its transaction committed (the promise resolves after);
 * - a dedup key is stored at most once, whichever process tries;
 * - positions are global, increasing and never reused, and a reader following them never skips an
 *   event, also one that commits after a later one (they may have gaps: see
 *   {@link StoredEvent.position}).
 */
export interface EventStore {
  /**
   * Appends `events` to `stream`, atomically; resolves once committed. Events whose dedup key is
   * already stored are skipped (see {@link AppendResult}); a wrong `expectedVersion` rejects with
   * {@link ConcurrencyError} and appends nothing.
   */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** Events of the whole log, in position order. */
  read(options?: ReadOptions): Promise<StoredEvent[]>;
  /** Events of one stream, in order. */
  readStream(stream: string): Promise<StoredEvent[]>;
  /** Catches up from `after` (exclusive), then tails live appends, in position order, never skipping or repeating one. */
  subscribe(after?: number): Observable<StoredEvent>;
  /** The last position a reader can read now (0 when empty). */
  head(): Promise<number>;
  /** Whether an event with this dedup key is stored, and where. */
  findByDedupKey(dedupKey: string): Promise<StoredEvent | undefined>;
  /** A named consumer's checkpoint (0 when never set). */
  getCheckpoint(name: string): Promise<number>;
  /** Moves a named consumer's checkpoint (it never moves backwards). */
  setCheckpoint(name: string, position: number): Promise<void>;
  /** Every event carrying at least one of `tags`, in position order, each once. */
  readByTags(tags: readonly string[], options?: TagReadOptions): Promise<StoredEvent[]>;
  /**
   * Adds tags to events already stored (a one-off backfill when an older log is first opened by a
   * version that tags events). Idempotent; unknown positions are ignored.
   */
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void>;
  /**
   * The snapshot saved under `name`, or null when there is none. Rejects with
   * {@link SnapshotError} when the stored snapshot cannot be read back (the store stays usable:
   * catch it, ignore the snapshot and replay the log).
   */
  loadSnapshot(name: string): Promise<StoredSnapshot | null>;
  /** Saves (replaces) the snapshot under `name`. */
  saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void>;
  /** Read counters since the store was opened. */
  readCounters(): StoreReadCounters;
  /** Waits for pending appends, then releases the store; later calls reject with {@link StoreUnavailableError}. */
  close(): Promise<void>;
}
