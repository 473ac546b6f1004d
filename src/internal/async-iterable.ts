import type { Observable } from "rxjs";

/**
 * An observable's values as an async iterator, for `for await`: values are buffered until read (a
 * slow loop loses none), the loop ends when the observable completes, and throws its error. Leaving
 * the loop early (`break`, `return`, a throw) unsubscribes.
 */
export function toAsyncIterable<T>(source: Observable<T>): AsyncIterableIterator<T> {
  const buffered: T[] = [];
  let ended: { error: unknown } | "complete" | null = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  const subscription = source.subscribe({
    next: (value) => {
      buffered.push(value);
      notify();
    },
    error: (error: unknown) => {
      ended = { error };
      notify();
    },
    complete: () => {
      ended = "complete";
      notify();
    },
  });
  const iterator: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        if (buffered.length > 0) return { value: buffered.shift() as T, done: false };
        const end = ended as { error: unknown } | "complete" | null;
        if (end === "complete") return { value: undefined, done: true };
        if (end !== null) throw end.error;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
    async return(): Promise<IteratorResult<T>> {
      subscription.unsubscribe();
      buffered.length = 0;
      ended = "complete";
      notify();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
