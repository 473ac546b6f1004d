import { type Observable, tap } from "rxjs";
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  ReadOptions,
  StoredEvent,
  StoredSnapshot,
  StoreReadCounters,
  TagReadOptions,
} from "../store.js";
import type { AppendBackend } from "./shared/append-core.js";
import { applyAppend } from "./shared/append-result.js";
import type { EventRecord } from "./shared/event-row.js";
import { StoreLifecycle } from "./shared/lifecycle.js";
import { LiveTails } from "./shared/live-tails.js";
import { ReadCounter } from "./shared/read-counters.js";
import { snapshotOfRow } from "./shared/snapshot-row.js";
import { tailEvents } from "./shared/tail.js";
import {
  checkCheckpointName,
  checkPosition,
  checkSnapshotName,
  checkStream,
  type PreparedEvent,
  type PreparedSnapshot,
  prepareAppendOptions,
  prepareEvents,
  prepareReadOptions,
  prepareSnapshot,
  prepareTagEntries,
  prepareTagRead,
} from "./shared/validation.js";

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
 * An {@link EventStore} kept in memory, for tests and throw-away runs. It honours the whole
 * contract (atomic appends, dedup keys, expected versions, checkpoints, gap-free subscriptions)
 * within one process; nothing survives the process.
 *
 * Event data is stored as JSON text, like the SQLite store (the event's `dataJson` when it has
 * one, else what `JSON.stringify` made of `data`), so every read returns a fresh copy parsed from it.
 */
export class MemoryEventStore implements EventStore {
  private readonly rows: MemoryRow[] = [];
  private readonly streamVersions = new Map<string, number>();
  private readonly streamPositions = new Map<string, number[]>();
  private readonly dedupKeys = new Map<string, number>();
  private readonly checkpoints = new Map<string, number>();
  /** The positions of the events carrying each tag. */
  private readonly tags = new Map<string, Set<number>>();
  /** Snapshots as saved: data kept as JSON text, so that a load hands out a fresh copy. */
  private readonly snapshots = new Map<string, PreparedSnapshot>();
  private readonly counter = new ReadCounter();
  private readonly tails = new LiveTails(
    {
      counter: this.counter,
      assertOpen: () => this.lifecycle.assertOpen(),
      isOpen: () => this.lifecycle.isOpen,
    },
    0,
  );
  private readonly now: () => number;
  private readonly pageSize: number;
  private readonly lifecycle = new StoreLifecycle("the memory event store");

  private readonly backend: AppendBackend = {
    streamVersion: (stream) => this.streamVersions.get(stream) ?? 0,
    positionOfDedupKey: (key) => this.dedupKeys.get(key),
    insert: (stream, streamVersion, event, recordedAt) =>
      this.insert(stream, streamVersion, event, recordedAt),
    saveCheckpoint: (name, position) => this.saveCheckpoint(name, position),
  };

  constructor(options: MemoryEventStoreOptions = {}) {
    this.now = options.now ?? (() => Date.now());
    this.pageSize = checkPosition(options.pageSize ?? 500, "pageSize") || 500;
  }

  /** Appends atomically (see {@link EventStore.append}); the batch is applied in one synchronous step. */
  async append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    this.lifecycle.assertOpen();
    const checkedStream = checkStream(stream);
    const prepared = prepareEvents(events);
    const checkedOptions = prepareAppendOptions(options);
    const recordedAt = new Date(this.now()).toISOString();
    // applyAppend throws before its first insert when the expected version does not match, and
    // inserts cannot fail here, so the batch is all-or-nothing.
    const result = applyAppend(this.backend, checkedStream, prepared, checkedOptions, recordedAt);
    if (result.appended.length > 0) this.tails.wake();
    return result;
  }

  /** See {@link EventStore.read}. */
  async read(options?: ReadOptions): Promise<StoredEvent[]> {
    this.lifecycle.assertOpen();
    const { after, limit } = prepareReadOptions(options);
    return this.counter.counted(this.page(after, limit ?? Number.POSITIVE_INFINITY));
  }

  /** See {@link EventStore.readStream}. */
  async readStream(stream: string): Promise<StoredEvent[]> {
    this.lifecycle.assertOpen();
    const positions = this.streamPositions.get(checkStream(stream)) ?? [];
    return this.counter.counted(positions.map((position) => this.eventAt(position)));
  }

  /** See {@link EventStore.readByTags}. */
  async readByTags(tags: readonly string[], options?: TagReadOptions): Promise<StoredEvent[]> {
    this.lifecycle.assertOpen();
    const checked = prepareTagRead(tags, options);
    const types = checked.types === undefined ? undefined : new Set(checked.types);
    const positions = new Set<number>();
    for (const tag of checked.tags) {
      for (const position of this.tags.get(tag) ?? []) if (position > checked.after) positions.add(position);
    }
    const events = [...positions]
      .sort((a, b) => a - b)
      .map((position) => this.eventAt(position))
      .filter((event) => types === undefined || types.has(event.type));
    return this.counter.counted(events);
  }

  /** See {@link EventStore.addTags}. */
  async addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void> {
    this.lifecycle.assertOpen();
    for (const entry of prepareTagEntries(entries)) {
      if (entry.position < 1 || entry.position > this.rows.length) continue;
      this.tag(entry.position, entry.tags);
    }
  }

  /** See {@link EventStore.loadSnapshot}. */
  async loadSnapshot(name: string): Promise<StoredSnapshot | null> {
    this.lifecycle.assertOpen();
    const checked = checkSnapshotName(name);
    const saved = this.snapshots.get(checked);
    return saved === undefined ? null : snapshotOfRow(checked, { ...saved, data: saved.json });
  }

  /** See {@link EventStore.saveSnapshot}. */
  async saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void> {
    this.lifecycle.assertOpen();
    const prepared = prepareSnapshot(name, snapshot);
    this.snapshots.set(prepared.name, prepared);
  }

  /** See {@link EventStore.readCounters}. */
  readCounters(): StoreReadCounters {
    return this.counter.snapshot();
  }

  /** See {@link EventStore.subscribe}. Subscriptions complete when the store closes. */
  subscribe(after = 0): Observable<StoredEvent> {
    const from = checkPosition(after, "after");
    return tailEvents(
      {
        readPage: (cursor, limit) => this.page(cursor, limit),
        register: (handle) => this.tails.register(handle),
        toError: (error) => error,
      },
      from,
      this.pageSize,
    ).pipe(tap(() => this.counter.emitted()));
  }

  /** See {@link EventStore.head}. */
  async head(): Promise<number> {
    this.lifecycle.assertOpen();
    return this.rows.length;
  }

  /** See {@link EventStore.findByDedupKey}. */
  async findByDedupKey(dedupKey: string): Promise<StoredEvent | undefined> {
    this.lifecycle.assertOpen();
    const position = this.dedupKeys.get(dedupKey);
    return this.counter.countedOne(position === undefined ? undefined : this.eventAt(position));
  }

  /** See {@link EventStore.getCheckpoint}. */
  async getCheckpoint(name: string): Promise<number> {
    this.lifecycle.assertOpen();
    return this.checkpoints.get(checkCheckpointName(name)) ?? 0;
  }

  /** See {@link EventStore.setCheckpoint}: a lower position than the stored one is ignored. */
  async setCheckpoint(name: string, position: number): Promise<void> {
    this.lifecycle.assertOpen();
    this.saveCheckpoint(checkCheckpointName(name), checkPosition(position, "position"));
  }

  /** Completes live subscriptions; every later call rejects with {@link StoreUnavailableError}. Idempotent. */
  close(): Promise<void> {
    return this.lifecycle.close(async () => {
      await Promise.resolve();
      await this.tails.endAll();
    });
  }

  private insert(stream: string, streamVersion: number, event: PreparedEvent, recordedAt: string): number {
    this.rows.push({
      stream,
      streamVersion,
      type: event.type,
      version: event.version,
      json: event.json,
      dedupKey: event.dedupKey,
      recordedAt,
    });
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

  private page(after: number, limit: number): StoredEvent[] {
    const end = Math.min(this.rows.length, after + limit);
    const events: StoredEvent[] = [];
    for (let position = after + 1; position <= end; position += 1) events.push(this.eventAt(position));
    return events;
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
