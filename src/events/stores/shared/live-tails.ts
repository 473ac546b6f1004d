import type { ReadCounter } from "./read-counters.js";
import type { TailHandle } from "./tail.js";

/** How {@link LiveTails} notices appends made elsewhere (another handle, another process). @internal */
export interface TailPolling {
  /** How often to read the head while someone subscribes. */
  intervalMs: number;
  /** The store's last position. */
  head(): number | Promise<number>;
  /** Called with a failed poll (the timer keeps running). */
  onError(error: unknown): void;
  /** Called after every poll that did not fail (e.g. to reopen a lost notification channel). */
  afterPoll?(): void;
}

/** What {@link LiveTails} needs from its store. @internal */
export interface LiveTailsOptions {
  counter: ReadCounter;
  /** Throws when the store is closed (a subscription then errors). */
  assertOpen(): void;
  /** Whether the store is open (polls stop counting once it is closing). */
  isOpen(): boolean;
  /** Polling for other writers' appends; none for a store only this handle writes to. */
  polling?: TailPolling;
  /** A subscription registered (e.g. make sure notifications are listened for). */
  onSubscribe?(): void;
  /** The last subscription left. */
  onLast?(): void;
}

/**
 * The live subscriptions of one store: registers them (see {@link tailEvents}), wakes them when the
 * store commits or learns of a higher head, polls the head on one shared, unref'd timer that runs
 * only while someone subscribes, and ends them all when the store closes.
 * @internal
 */
export class LiveTails {
  private readonly tails = new Set<TailHandle>();
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;

  constructor(
    private readonly options: LiveTailsOptions,
    /** The highest position this store knows to be committed. */
    private knownHead: number,
  ) {}

  /** How many subscriptions are live. */
  get size(): number {
    return this.tails.size;
  }

  /** The `register` of a {@link TailSource}. */
  register(handle: TailHandle): () => void {
    this.options.assertOpen();
    this.options.counter.subscribed();
    this.tails.add(handle);
    this.options.onSubscribe?.();
    const { polling } = this.options;
    if (polling !== undefined && this.pollTimer === undefined) {
      this.pollTimer = setInterval(() => void this.poll(polling), polling.intervalMs);
      this.pollTimer.unref?.();
    }
    return () => {
      if (!this.tails.delete(handle)) return;
      if (this.tails.size === 0) {
        this.stopPolling();
        this.options.onLast?.();
      }
    };
  }

  /** Wakes every subscription: new events may be readable. */
  wake(): void {
    for (const tail of this.tails) tail.wake();
  }

  /** Records that `head` is committed; returns whether it is beyond the known head. */
  noteHead(head: number): boolean {
    if (head <= this.knownHead) return false;
    this.knownHead = head;
    return true;
  }

  /** Ends every subscription (each emits what it has not yet, then completes) and stops polling. */
  async endAll(): Promise<void> {
    const tails = [...this.tails];
    this.tails.clear();
    this.stopPolling();
    await Promise.all(tails.map((tail) => tail.end()));
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Wakes the subscriptions when another writer moved the head; one poll at a time. */
  private async poll(polling: TailPolling): Promise<void> {
    if (this.polling || !this.options.isOpen()) return;
    this.polling = true;
    try {
      if (this.noteHead(await polling.head())) this.wake();
      polling.afterPoll?.();
    } catch (error) {
      polling.onError(error);
    } finally {
      this.polling = false;
    }
  }
}
