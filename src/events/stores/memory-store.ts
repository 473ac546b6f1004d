import type { AppendOptions, AppendResult, NewEvent, StoredEvent, StoredSnapshot } from "../store.js";
import type { AppendBackend } from "./shared/append-core.js";
import { applyAppend } from "./shared/append-result.js";
import { AssembledEventStore, type StoreReads, type StoreWrites } from "./shared/assembled-store.js";
import { type EventRecord, recordOf } from "./shared/event-row.js";
import { StoreLifecycle } from "./shared/lifecycle.js";
import type { LiveTails } from "./shared/live-tails.js";
import { checkPosition, type PreparedEvent, type PreparedSnapshot } from "./shared/validation.js";
import { appendOpOf, checkpointOpOf, snapshotOpOf, tagsOpOf, type WriteOp } from "./shared/write-ops.js";

/** Options of {@link MemoryEventStore}. */
export interface MemoryEventStoreOptions {
  /** The clock used for `recordedAt`, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** How many events a subscription emits per microtask while catching up. Default 500. */
  pageSize?: number;
}

interface MemoryRow extends EventRecord {
  recordedAt: string;
}

/**
 * The log itself, in memory: its events and indexes, the reads on them, and each write applied
 * in one synchronous step (so it is atomic).
 */
class MemoryLog implements StoreReads {
  private readonly rows: MemoryRow[] = [];
  private readonly streamVersions = new Map<string, number>();
  private readonly streamPositions = new Map<string, number[]>();
  private readonly dedupKeys = new Map<string, number>();
  private readonly checkpoints = new Map<string, number>();
  /** The positions of the events carrying each tag. */
  private readonly tags = new Map<string, Set<number>>();
  /** Snapshots as saved: data kept as JSON text, so that a load hands out a fresh copy. */
  readonly snapshots = new Map<string, PreparedSnapshot>();

  private readonly backend: AppendBackend = {
    streamVersion: (stream) => this.streamVersions.get(stream) ?? 0,
    positionOfDedupKey: (key) => this.dedupKeys.get(key),
    insert: (stream, streamVersion, event, recordedAt) =>
      this.insert(stream, streamVersion, event, recordedAt),
    saveCheckpoint: (name, position) => this.saveCheckpoint(name, position),
  };

  /** Applies a checked write; an append returns its result (or throws ConcurrencyError, writing nothing). */
  apply(op: WriteOp, recordedAt: string): AppendResult | undefined {
    switch (op.kind) {
      case "append":
        // applyAppend throws before its first insert when the expected version does not match,
        // and inserts cannot fail here, so the batch is all-or-nothing.
        return applyAppend(this.backend, op.stream, op.events, op, recordedAt);
      case "checkpoint":
        this.saveCheckpoint(op.name, op.position);
        return undefined;
      case "tags":
        for (const entry of op.entries) {
          if (entry.position >= 1 && entry.position <= this.rows.length) this.tag(entry.position, entry.tags);
        }
        return undefined;
      case "snapshot":
        this.snapshots.set(op.snapshot.name, op.snapshot);
        return undefined;
    }
  }

  head(): number {
    return this.rows.length;
  }

  page(after: number, limit: number | undefined): StoredEvent[] {
    const end = Math.min(this.rows.length, after + (limit ?? Number.POSITIVE_INFINITY));
    const events: StoredEvent[] = [];
    for (let position = after + 1; position <= end; position += 1) events.push(this.eventAt(position));
    return events;
  }

  stream(stream: string): StoredEvent[] {
    return (this.streamPositions.get(stream) ?? []).map((position) => this.eventAt(position));
  }

  byTags(tags: readonly string[], after: number, types: readonly string[] | undefined): StoredEvent[] {
    const wantedTypes = types === undefined ? undefined : new Set(types);
    const positions = new Set<number>();
    for (const tag of tags) {
      for (const position of this.tags.get(tag) ?? []) if (position > after) positions.add(position);
    }
    return [...positions]
      .sort((a, b) => a - b)
      .map((position) => this.eventAt(position))
      .filter((event) => wantedTypes === undefined || wantedTypes.has(event.type));
  }

  byDedupKey(dedupKey: string): StoredEvent | undefined {
    const position = this.dedupKeys.get(dedupKey);
    return position === undefined ? undefined : this.eventAt(position);
  }

  checkpoint(name: string): number {
    return this.checkpoints.get(name) ?? 0;
  }

  snapshotRow(name: string): unknown {
    const saved = this.snapshots.get(name);
    return saved === undefined
      ? undefined
      : { position: saved.position, version: saved.version, data: saved.json };
  }

  private insert(stream: string, streamVersion: number, event: PreparedEvent, recordedAt: string): number {
    this.rows.push({ ...recordOf(stream, streamVersion, event), recordedAt });
    const position = this.rows.length;
    this.streamVersions.set(stream, streamVersion);
    const positions = this.streamPositions.get(stream);
    if (positions === undefined) this.streamPositions.set(stream, [position]);
    else positions.push(position);
    if (event.dedupKey !== null) this.dedupKeys.set(event.dedupKey, position);
    this.tag(position, event.tags);
    return position;
  }

  private tag(position: number, tags: readonly string[]): void {
    for (const tag of tags) {
      const positions = this.tags.get(tag);
      if (positions === undefined) this.tags.set(tag, new Set([position]));
      else positions.add(position);
    }
  }

  private saveCheckpoint(name: string, position: number): void {
    if (position > (this.checkpoints.get(name) ?? 0)) this.checkpoints.set(name, position);
  }

  private eventAt(position: number): StoredEvent {
    const row = this.rows[position - 1];
    if (row === undefined) throw new RangeError(`no event at position ${position}`);
    return {
      position,
      stream: row.stream,
      streamVersion: row.streamVersion,
      type: row.type,
      version: row.version,
      data: JSON.parse(row.json) as unknown,
      dedupKey: row.dedupKey,
      recordedAt: row.recordedAt,
    };
  }
}

/**
 * An {@link EventStore} kept in memory, for tests and throw-away runs. It honours the whole
 * contract (atomic appends, dedup keys, expected versions, checkpoints, tags, snapshots, gap-free
 * subscriptions) within one process; nothing survives the process.
 *
 * Event data is stored as JSON text, like the SQLite store (the event's `dataJson` when it has
 * one, else what `JSON.stringify` made of `data`), so every read returns a fresh copy parsed from it.
 * Each write is applied in one synchronous step.
 */
export class MemoryEventStore extends AssembledEventStore {
  /** @internal */
  protected readonly lifecycle = new StoreLifecycle("the memory event store");
  /** @internal */
  protected readonly reads = new MemoryLog();
  /** @internal */
  protected readonly tails: LiveTails;
  /** @internal */
  protected readonly writes: StoreWrites;
  /** @internal */
  protected readonly pageSize: number;

  constructor(options: MemoryEventStoreOptions = {}) {
    super();
    const now = options.now ?? (() => Date.now());
    this.pageSize = checkPosition(options.pageSize ?? 500, "pageSize") || 500;
    this.tails = this.liveTails(0);
    /** Checks and applies one write; wakes the subscriptions when it appended. */
    const write = async (make: () => WriteOp): Promise<AppendResult | undefined> => {
      this.lifecycle.assertOpen();
      const op = make();
      const result = this.reads.apply(op, new Date(now()).toISOString());
      if (result !== undefined && result.appended.length > 0) this.tails.wake();
      return result;
    };
    this.writes = {
      append: async (stream: string, events: readonly NewEvent[], options?: AppendOptions) =>
        (await write(() => appendOpOf(stream, events, options))) as AppendResult,
      setCheckpoint: async (name: string, position: number) => {
        await write(() => checkpointOpOf(name, position));
      },
      addTags: async (entries: readonly { position: number; tags: readonly string[] }[]) => {
        await write(() => tagsOpOf(entries));
      },
      saveSnapshot: async (name: string, snapshot: StoredSnapshot) => {
        await write(() => snapshotOpOf(name, snapshot));
      },
    };
  }

  /** Read failures: the memory store's reads only fail on a programming error, passed on as it is. @internal */
  protected readFailure(error: unknown): unknown {
    return error;
  }

  /** Completes live subscriptions; every later call rejects with {@link StoreUnavailableError}. Idempotent. */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      await Promise.resolve();
      await this.tails.endAll();
    });
  }
}
