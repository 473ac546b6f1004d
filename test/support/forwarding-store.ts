import type { Observable } from "rxjs";
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
} from "../../src/events/store.js";

/** An EventStore that hands every call to another: subclasses override what they change. */
export class ForwardingStore implements EventStore {
  constructor(readonly inner: EventStore) {}
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    return this.inner.append(stream, events, options);
  }
  read(options?: ReadOptions): Promise<StoredEvent[]> {
    return this.inner.read(options);
  }
  readStream(stream: string): Promise<StoredEvent[]> {
    return this.inner.readStream(stream);
  }
  subscribe(after?: number): Observable<StoredEvent> {
    return this.inner.subscribe(after);
  }
  head(): Promise<number> {
    return this.inner.head();
  }
  findByDedupKey(dedupKey: string): Promise<StoredEvent | undefined> {
    return this.inner.findByDedupKey(dedupKey);
  }
  getCheckpoint(name: string): Promise<number> {
    return this.inner.getCheckpoint(name);
  }
  setCheckpoint(name: string, position: number): Promise<void> {
    return this.inner.setCheckpoint(name, position);
  }
  readByTags(tags: readonly string[], options?: TagReadOptions): Promise<StoredEvent[]> {
    return this.inner.readByTags(tags, options);
  }
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void> {
    return this.inner.addTags(entries);
  }
  loadSnapshot(name: string): Promise<StoredSnapshot | null> {
    return this.inner.loadSnapshot(name);
  }
  saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void> {
    return this.inner.saveSnapshot(name, snapshot);
  }
  readCounters(): StoreReadCounters {
    return this.inner.readCounters();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
