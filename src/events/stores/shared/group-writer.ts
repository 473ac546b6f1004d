import {
  type AppendOptions,
  type AppendResult,
  type NewEvent,
  type StoredSnapshot,
  StoreUnavailableError,
} from "../../store.js";
import type { StoreWrites } from "./assembled-store.js";
import { appendOpOf, checkpointOpOf, snapshotOpOf, tagsOpOf, type WriteOp } from "./write-ops.js";

/** A write waiting for its group's commit, and its promise to settle. @internal */
export interface PendingWrite {
  op: WriteOp;
  resolve(result: AppendResult | undefined): void;
  reject(error: unknown): void;
}

/** A group sent to be committed, and what will become of its writes. */
interface InFlight {
  group: PendingWrite[];
  committed: Promise<WriteOutcome[]>;
}

/** What became of one write of a committed (or failed) group. @internal */
export type WriteOutcome = { ok: true; result?: AppendResult } | { ok: false; error: unknown };

/** How a store commits the groups of its {@link GroupWriter}. @internal */
export interface GroupWriterOptions {
  /** Throws when the store is closed (the write then rejects). */
  assertOpen(): void;
  /** Checks a write further before it is queued (throws a TypeError or RangeError). */
  check?(op: WriteOp): void;
  /** Resolves when the next group may be taken: what is issued until then joins it. */
  gather(): Promise<void>;
  /** How many of the queued writes the next group takes (at least one). Default: all of them. */
  take?(queued: readonly WriteOp[]): number;
  /**
   * Commits one group (atomically per write), and says what became of each write, in order. A
   * write without an outcome is rejected; a rejection rejects every write of the group.
   */
  commit(group: readonly WriteOp[]): Promise<WriteOutcome[]>;
  /**
   * Called once a group's promises are settled, when it appended events: with the highest position
   * it appended (e.g. to wake the subscriptions).
   */
  onAppended?(last: number): void;
}

/**
 * The group commit both SQL stores share: `append`, `setCheckpoint`, `addTags` and `saveSnapshot`
 * check their input and queue a write; writes issued while a group is being gathered or committed
 * form the next group, one group in flight at a time; every promise settles after its group's
 * commit returned (or failed).
 * @internal
 */
export class GroupWriter implements StoreWrites {
  private queue: PendingWrite[] = [];
  private loop: Promise<void> | undefined;

  constructor(private readonly options: GroupWriterOptions) {}

  /** See {@link EventStore.append}. */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    return this.enqueue<AppendResult>(() => appendOpOf(stream, events, options));
  }

  /** See {@link EventStore.setCheckpoint}. */
  setCheckpoint(name: string, position: number): Promise<void> {
    return this.enqueue<void>(() => checkpointOpOf(name, position));
  }

  /** See {@link EventStore.addTags}. */
  addTags(entries: readonly { position: number; tags: readonly string[] }[]): Promise<void> {
    return this.enqueue<void>(() => tagsOpOf(entries));
  }

  /** See {@link EventStore.saveSnapshot}. */
  saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void> {
    return this.enqueue<void>(() => snapshotOpOf(name, snapshot));
  }

  /** Resolves once no write is queued or in flight. */
  async whenIdle(): Promise<void> {
    while (this.loop !== undefined) await this.loop;
  }

  private enqueue<T>(make: () => WriteOp): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.options.assertOpen();
      const op = make();
      this.options.check?.(op);
      this.queue.push({ op, resolve: resolve as (result: AppendResult | undefined) => void, reject });
      this.loop ??= this.run();
    });
  }

  /**
   * Commits the queue, one group at a time, until it is empty. When a group's commit returns, the
   * writes queued meanwhile are sent as the next group before the returned group's promises are
   * settled: the store commits the next group while this thread runs what those promises resume
   * (e.g. answering the requests whose deliveries were just stored), instead of one waiting for
   * the other.
   */
  private async run(): Promise<void> {
    try {
      let next: InFlight | undefined;
      for (;;) {
        if (next === undefined) {
          if (this.queue.length === 0) break;
          // No group in flight (the first, or nothing was queued while the last committed): gather
          // the rest of this turn's writes into the next one.
          await this.options.gather();
          next = this.send();
        }
        const { group, committed } = next;
        const outcomes = await committed;
        next = this.queue.length > 0 ? this.send() : undefined;
        this.settle(group, outcomes);
      }
    } finally {
      this.loop = undefined;
    }
  }

  /** Takes the next group off the queue and starts its commit (whose promise never rejects). */
  private send(): InFlight {
    const ops = this.queue.map((pending) => pending.op);
    const count = Math.max(1, this.options.take?.(ops) ?? ops.length);
    const group = this.queue.splice(0, count);
    let committed: Promise<WriteOutcome[]>;
    try {
      committed = this.options
        .commit(group.map((pending) => pending.op))
        .catch((error: unknown) => group.map(() => ({ ok: false as const, error })));
    } catch (error) {
      committed = Promise.resolve(group.map(() => ({ ok: false as const, error })));
    }
    return { group, committed };
  }

  /** Settles a committed group's promises, then reports the highest position it appended. */
  private settle(group: readonly PendingWrite[], outcomes: readonly WriteOutcome[]): void {
    group.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) {
        pending.reject(
          new StoreUnavailableError("the event store lost track of a write: it may not be stored"),
        );
      } else if (outcome.ok) pending.resolve(outcome.result);
      else pending.reject(outcome.error);
    });
    const last = outcomes.reduce(
      (highest, outcome) =>
        Math.max(highest, outcome.ok ? (outcome.result?.appended.at(-1)?.position ?? 0) : 0),
      0,
    );
    if (last > 0) this.options.onAppended?.(last);
  }
}
