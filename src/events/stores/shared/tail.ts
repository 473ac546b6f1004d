import { Observable } from "rxjs";
import type { StoredEvent } from "../../store.js";

/**
 * A live subscription as its store sees it: the store calls `wake()` when new events may be
 * readable (its own commit, or a poll that saw another process's), and `end()` when it closes.
 * @internal
 */
export interface TailHandle {
  wake(): void;
  /** Emits whatever is still readable, synchronously, then completes. */
  end(): void;
}

/** What {@link tailEvents} needs from a store. @internal */
export interface TailSource {
  /** Up to `limit` events after `after` (exclusive), in position order. Synchronous; may throw. */
  readPage(after: number, limit: number): StoredEvent[];
  /** Registers a live subscription; returns its unregistration. Throws when the store is closed. */
  register(handle: TailHandle): () => void;
  /** Turns a read failure into the error the subscriber receives. */
  toError(error: unknown): unknown;
}

/**
 * The `subscribe` of every store: reads pages from `after` (exclusive), then follows wake-ups.
 *
 * The cursor only ever moves to the position of the event just emitted, and a page is read only
 * after the previous one was emitted, so positions come out strictly increasing: never twice,
 * and never skipped as long as the store only makes an event readable once every lower position
 * is readable too. Pages are read one per microtask (never a timer), so an in-process append wakes
 * a subscriber without any timer, also under fake timers.
 * @internal
 */
export function tailEvents(source: TailSource, after: number, pageSize: number): Observable<StoredEvent> {
  return new Observable<StoredEvent>((subscriber) => {
    let cursor = after;
    /** A step is scheduled or running. */
    let scheduled = false;
    /** A wake-up arrived since the running step read its page. */
    let dirty = false;
    let inStep = false;
    let endRequested = false;
    let done = false;
    let unregister: () => void = () => {};

    const emitPage = (): number => {
      const page = source.readPage(cursor, pageSize);
      for (const event of page) {
        if (done) break;
        if (event.position <= cursor) continue;
        cursor = event.position;
        subscriber.next(event);
      }
      return page.length;
    };

    const fail = (error: unknown): void => {
      if (done) return;
      done = true;
      unregister();
      subscriber.error(source.toError(error));
    };

    const finish = (): void => {
      if (done) return;
      try {
        while (!done && emitPage() === pageSize) {
          // keep draining
        }
      } catch (error) {
        fail(error);
        return;
      }
      if (done) return;
      done = true;
      unregister();
      subscriber.complete();
    };

    const step = (): void => {
      if (done) return;
      dirty = false;
      inStep = true;
      let count: number;
      try {
        count = emitPage();
      } catch (error) {
        inStep = false;
        fail(error);
        return;
      }
      inStep = false;
      if (done) return;
      if (endRequested) {
        finish();
        return;
      }
      if (count === pageSize || dirty) {
        queueMicrotask(step);
      } else {
        scheduled = false;
      }
    };

    const handle: TailHandle = {
      wake: () => {
        if (done) return;
        dirty = true;
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(step);
        }
      },
      end: () => {
        if (done) return;
        if (inStep) {
          endRequested = true;
          return;
        }
        finish();
      },
    };

    try {
      unregister = source.register(handle);
    } catch (error) {
      done = true;
      subscriber.error(error);
      return undefined;
    }
    handle.wake();
    return () => {
      done = true;
      unregister();
    };
  });
}
