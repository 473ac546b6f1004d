import { Observable } from "rxjs";
import type { StoredEvent } from "../../store.js";

/**
 * A live subscription as its store sees it: the store calls `wake()` when new events may be
 * readable (its own commit, a notification, a poll that saw another process's), and `end()` when
 * it closes.
 * @internal
 */
export interface TailHandle {
  wake(): void;
  /** Emits whatever is still readable, then completes; resolves once the subscription is done. */
  end(): Promise<void>;
}

/** What {@link tailEvents} needs from a store. @internal */
export interface TailSource {
  /**
   * Up to `limit` events after `after` (exclusive), in position order, without skipping one that a
   * later read could still return (synchronously or not; it may throw or reject).
   */
  readPage(after: number, limit: number): StoredEvent[] | Promise<StoredEvent[]>;
  /** Registers a live subscription; returns its unregistration. Throws when the store is closed. */
  register(handle: TailHandle): () => void;
  /** Turns a read failure into the error the subscriber receives. */
  toError(error: unknown): unknown;
}

/**
 * The `subscribe` of every store: reads pages from `after` (exclusive), then follows wake-ups.
 *
 * One read runs at a time per subscription, the cursor only moves to the position of the event
 * just emitted, and a page is read only after the previous one was emitted: positions come out
 * strictly increasing, never twice, and never skipped as long as the store only makes an event
 * readable once every lower position is readable too. A wake-up that arrives during a read causes
 * one more read, so nothing committed before a wake-up is left unread. Reads start from a microtask
 * and never wait for a timer, so an in-process append wakes a subscriber also under fake timers.
 * @internal
 */
export function tailEvents(source: TailSource, after: number, pageSize: number): Observable<StoredEvent> {
  return new Observable<StoredEvent>((subscriber) => {
    let cursor = after;
    /** The pump is scheduled, reading or emitting. */
    let running = false;
    /** A wake-up arrived since the running read started. */
    let dirty = false;
    let ending = false;
    let done = false;
    let unregister: () => void = () => {};
    let settle: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      settle = resolve;
    });

    const stop = (): void => {
      if (done) return;
      done = true;
      unregister();
      settle();
    };

    const pump = async (): Promise<void> => {
      try {
        while (!done) {
          dirty = false;
          const page = await source.readPage(cursor, pageSize);
          for (const event of page) {
            if (done) break;
            if (event.position <= cursor) continue;
            cursor = event.position;
            subscriber.next(event);
          }
          if (done) break;
          if (page.length === pageSize || dirty) continue;
          if (ending) {
            stop();
            subscriber.complete();
          }
          break;
        }
      } catch (error) {
        if (!done) {
          stop();
          subscriber.error(source.toError(error));
        }
      } finally {
        running = false;
      }
    };

    const start = (): void => {
      if (running) return;
      running = true;
      queueMicrotask(() => void pump());
    };

    const handle: TailHandle = {
      wake: () => {
        if (done) return;
        dirty = true;
        start();
      },
      end: () => {
        if (!done) {
          ending = true;
          dirty = true;
          start();
        }
        return finished;
      },
    };

    try {
      unregister = source.register(handle);
    } catch (error) {
      done = true;
      settle();
      subscriber.error(error);
      return undefined;
    }
    handle.wake();
    return () => stop();
  });
}
