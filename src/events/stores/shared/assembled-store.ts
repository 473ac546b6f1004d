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
} from "../../store.js";
import { GroupWriter, type GroupWriterOptions } from "./group-writer.js";
import type { StoreLifecycle } from "./lifecycle.js";
import { LiveTails, type LiveTailsOptions } from "./live-tails.js";
import { ReadCounter } from "./read-counters.js";
import { snapshotOfRow } from "./snapshot-row.js";
import { tailEvents } from "./tail.js";
import {
  checkCheckpointName,
  checkPosition,
  checkSnapshotName,
  checkStream,
  prepareReadOptions,
  prepareTagRead,
} from "./validation.js";

/** A value, or a promise of it: the memory and SQLite stores read synchronously, PostgreSQL does not. */
type Maybe<T> = T | Promise<T>;

/**
 * A store's read operations, on checked input; they may throw the driver's errors (the store maps
 * them with `readFailure`).
 * @internal
 */
export interface StoreReads {
  /** The last position (0 when empty). */
  head(): Maybe<number>;
  /** Events after `after` (exclusive), in position order, at most `limit` (undefined: all). */
  page(after: number, limit: number | undefined): Maybe<StoredEvent[]>;
  /** One stream's events, in stream order. */
  stream(stream: string): Maybe<StoredEvent[]>;
  /** Events carrying any of `tags`, after `after`, of `types` (undefined: any), in position order, each once. */
  byTags(tags: readonly string[], after: number, types: readonly string[] | undefined): Maybe<StoredEvent[]>;
  /** The event stored under a dedup key, if any. */
  byDedupKey(dedupKey: string): Maybe<StoredEvent | undefined>;
  /** A named checkpoint (0 when never set). */
  checkpoint(name: string): Maybe<number>;
  /** The row of a saved snapshot (`position`, `version`, `data` as JSON text), unchecked, if any. */
  snapshotRow(name: string): Maybe<unknown>;
}

/** A store's writes: each checks its input and resolves once durable. @internal */
export interface StoreWrites {
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  setCheckpoint(name: string, position: number): Promise<void>;
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void>;
  saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void>;
}

/**
 * The {@link EventStore} every store is: the contract's methods assembled from the store's parts —
 * its lifecycle, its read operations, its writes, its live tails — so that each store only provides
 * those parts, `open` and `close`. Input is checked here (reads) or by the writes, read failures go
 * through `readFailure`, and every read is counted.
 * @internal
 */
export abstract class AssembledEventStore implements EventStore {
  /** @internal */
  protected readonly counter = new ReadCounter();
  /** @internal */
  protected abstract readonly lifecycle: StoreLifecycle;
  /** @internal */
  protected abstract readonly reads: StoreReads;
  /** @internal */
  protected abstract readonly writes: StoreWrites;
  /** @internal */
  protected abstract readonly tails: LiveTails;
  /** How many events a subscription reads per page. @internal */
  protected abstract readonly pageSize: number;

  /** The error a failed read rejects with (and a subscription errors with). @internal */
  protected abstract readFailure(error: unknown): unknown;

  /**
   * The live subscriptions of this store, from `head` on, counted and refused once it is closed.
   * @internal
   */
  protected liveTails(
    head: number,
    options: Omit<LiveTailsOptions, "counter" | "assertOpen" | "isOpen"> = {},
  ): LiveTails {
    return new LiveTails(
      {
        ...options,
        counter: this.counter,
        assertOpen: () => this.lifecycle.assertOpen(),
        isOpen: () => this.lifecycle.isOpen,
      },
      head,
    );
  }

  /**
   * A group writer refusing writes once the store is closed, and waking the subscriptions when a
   * group appended.
   * @internal
   */
  protected groupWriter(options: Omit<GroupWriterOptions, "assertOpen" | "onAppended">): GroupWriter {
    return new GroupWriter({
      ...options,
      assertOpen: () => this.lifecycle.assertOpen(),
      onAppended: (last) => this.appended(last),
    });
  }

  /**
   * After a group of this store's appends committed, up to position `last`: wakes the
   * subscriptions (and, by default, counts `last` as readable).
   * @internal
   */
  protected appended(last: number): void {
    this.tails.noteHead(last);
    this.tails.wake();
  }

  /** A live subscription's page (a store may wait or retry here). @internal */
  protected tailPage(after: number, limit: number): Maybe<StoredEvent[]> {
    return this.reads.page(after, limit);
  }

  /** See {@link EventStore.append}. */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    return this.writes.append(stream, events, options);
  }

  /** See {@link EventStore.read}. */
  async read(options?: ReadOptions): Promise<StoredEvent[]> {
    this.lifecycle.assertOpen();
    const { after, limit } = prepareReadOptions(options);
    return this.counter.counted(await this.reading(() => this.reads.page(after, limit)));
  }

  /** See {@link EventStore.readStream}. */
  async readStream(stream: string): Promise<StoredEvent[]> {
    this.lifecycle.assertOpen();
    const checked = checkStream(stream);
    return this.counter.counted(await this.reading(() => this.reads.stream(checked)));
  }

  /** See {@link EventStore.readByTags}. */
  async readByTags(tags: readonly string[], options?: TagReadOptions): Promise<StoredEvent[]> {
    this.lifecycle.assertOpen();
    const checked = prepareTagRead(tags, options);
    return this.counter.counted(
      await this.reading(() => this.reads.byTags(checked.tags, checked.after, checked.types)),
    );
  }

  /** See {@link EventStore.addTags}. */
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void> {
    return this.writes.addTags(entries);
  }

  /** See {@link EventStore.loadSnapshot}. */
  async loadSnapshot(name: string): Promise<StoredSnapshot | null> {
    this.lifecycle.assertOpen();
    const checked = checkSnapshotName(name);
    const row = await this.reading(() => this.reads.snapshotRow(checked));
    return row === undefined ? null : snapshotOfRow(checked, row);
  }

  /** See {@link EventStore.saveSnapshot}. */
  saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void> {
    return this.writes.saveSnapshot(name, snapshot);
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
        readPage: (cursor, limit) => this.tailPage(cursor, limit),
        register: (handle) => this.tails.register(handle),
        toError: (error) => this.readFailure(error),
      },
      from,
      this.pageSize,
    ).pipe(tap(() => this.counter.emitted()));
  }

  /** See {@link EventStore.head}. */
  async head(): Promise<number> {
    this.lifecycle.assertOpen();
    return this.reading(() => this.reads.head());
  }

  /** See {@link EventStore.findByDedupKey}. */
  async findByDedupKey(dedupKey: string): Promise<StoredEvent | undefined> {
    this.lifecycle.assertOpen();
    return this.counter.countedOne(await this.reading(() => this.reads.byDedupKey(dedupKey)));
  }

  /** See {@link EventStore.getCheckpoint}. */
  async getCheckpoint(name: string): Promise<number> {
    this.lifecycle.assertOpen();
    const checked = checkCheckpointName(name);
    return this.reading(() => this.reads.checkpoint(checked));
  }

  /** See {@link EventStore.setCheckpoint}: never moves back. */
  setCheckpoint(name: string, position: number): Promise<void> {
    return this.writes.setCheckpoint(name, position);
  }

  /** See {@link EventStore.close}. */
  abstract close(): Promise<void>;

  /** `await using store = await SqliteEventStore.open(…)`: {@link close} at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs a read, turning a driver error into the store's error. */
  private async reading<T>(run: () => Maybe<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.readFailure(error);
    }
  }
}
