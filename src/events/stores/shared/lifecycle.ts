import { StoreUnavailableError } from "../../store.js";

/**
 * Whether a store is open, closing or closed: every call but `close` checks it first, and `close`
 * runs once (later calls get the same promise).
 * @internal
 */
export class StoreLifecycle {
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;

  /** @param name How errors name the store (e.g. `the event store /path/events.db`). */
  constructor(private readonly name: string) {}

  /** Whether the store is open (not closing, not closed). */
  get isOpen(): boolean {
    return this.state === "open";
  }

  /** Throws {@link StoreUnavailableError} unless the store is open. */
  assertOpen(): void {
    if (this.state !== "open") throw new StoreUnavailableError(`${this.name} is closed`);
  }

  /**
   * Marks the store closing (every later call is refused), runs `release` once, then marks it
   * closed, also when `release` fails. Calling it again returns the same promise.
   */
  close(release: () => Promise<void>): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.state = "closing";
    this.closing = (async () => {
      try {
        await release();
      } finally {
        this.state = "closed";
      }
    })();
    return this.closing;
  }
}
