import {
  concatMap,
  defer,
  Observable,
  retry,
  Subject,
  type Subscription,
  tap,
  throwError,
  timer,
} from "rxjs";
import { errorMessage } from "../api/errors.js";
import { type DomainEvent, parseEvent } from "../events/event-types.js";
import type { EventStore, StoredEvent } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import { type Scheduler, sleep } from "../internal/time.js";
import { errorDelay, type Timings } from "./timings.js";

/** Events read per page when a subscriber catches up with the log. */
const REPLAY_PAGE = 500;
/** Events read per page while the follower catches up at its start. */
const CATCH_UP_PAGE = 500;

/** What a {@link LogFollower} needs. */
export interface LogFollowerDeps {
  store: EventStore;
  timings: Timings;
  scheduler: Scheduler;
  logger: Logger;
}

/** What the follower does with each event, in log order, one at a time. `live`: appended after the start. */
export type EventHandler = (event: DomainEvent, live: boolean) => Promise<void>;

/**
 * Follows the log from its first event: each event, parsed once, goes through the handler, then
 * to the subscribers of {@link events$}, strictly in position order. It knows how far it got
 * ({@link whenProcessed}), and replays the log up to there for late subscribers ({@link replay}).
 */
export class LogFollower {
  private readonly events = new Subject<DomainEvent>();
  /** Every event of the log as it is processed, from the start on (hot). */
  readonly events$: Observable<DomainEvent> = this.events.asObservable();
  private readonly waiters = new Set<{ position: number; resolve: () => void }>();
  private subscription: Subscription | null = null;
  private startHead = 0;
  private processedUpTo = 0;
  private closed = false;
  private failed: Error | null = null;
  /** Chains the handling of events and the exclusive sections: one at a time. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LogFollowerDeps) {}

  /** Why following stopped, if it did. */
  get failure(): Error | null {
    return this.failed;
  }

  /**
   * Starts following after `from` (0: the whole log; a snapshot's position: only what came after
   * it); resolves once every event stored at the start was handled.
   */
  async start(handle: EventHandler, from = 0): Promise<void> {
    this.processedUpTo = from;
    this.startHead = await this.deps.store.head();
    // Catching up pulls the log a page at a time, each handled before the next is read: memory
    // stays flat however long the log (a subscription would queue every event it read ahead).
    try {
      await this.catchUp(handle);
    } catch (error) {
      this.fail(error);
      throw error;
    }
    if (this.closed) return;
    this.subscription = this.tail(this.processedUpTo)
      .pipe(concatMap((stored) => defer(() => this.process(parseEvent(stored), handle))))
      .subscribe({ error: (error: unknown) => this.fail(error) });
  }

  /** Handles the events stored at the start, page by page; a failing read is tried again. */
  private async catchUp(handle: EventHandler): Promise<void> {
    for (let attempt = 0; this.processedUpTo < this.startHead && !this.closed; ) {
      let page: StoredEvent[];
      try {
        page = await this.deps.store.read({ after: this.processedUpTo, limit: CATCH_UP_PAGE });
        attempt = 0;
      } catch (error) {
        if (this.closed) return;
        this.deps.logger.warn("reading the log failed; reading again", {
          error: errorMessage(error),
          attempt,
        });
        await sleep(errorDelay(this.deps.timings, attempt++), this.deps.scheduler);
        continue;
      }
      if (page.length === 0) return;
      for (const stored of page) {
        if (this.closed) return;
        await this.process(parseEvent(stored), handle);
      }
    }
  }

  private fail(error: unknown): void {
    this.failed = error instanceof Error ? error : new Error(String(error));
    this.deps.logger.error("the engine stopped reading the log", { error: this.failed.message });
    this.events.error(error);
  }

  /**
   * Runs `section` while no event is being handled: the projection is then consistent with the
   * store (every decision folded in is also appended), and no event is handled until it ends. For
   * reading the projection and the store together (planning a job, judging a deadline). `section`
   * must not wait for events to be processed.
   */
  exclusive<T>(section: () => Promise<T>): Promise<T> {
    const result = this.turn.then(section);
    this.turn = result.catch(() => undefined);
    return result;
  }

  /**
   * Resolves once the log is processed up to `position`: the handler and `events$` have seen
   * everything before.
   */
  whenProcessed(position: number): Promise<void> {
    if (position <= this.processedUpTo || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add({ position, resolve }));
  }

  /**
   * Every event after `after` (exclusive): read back from the log up to what was processed, then
   * the live events — parsed once for every subscriber, and never ahead of `events$`.
   */
  replay(after = 0): Observable<DomainEvent> {
    return new Observable<DomainEvent>((subscriber) => {
      let last = after;
      let caughtUp = false;
      const waiting: DomainEvent[] = [];
      const emit = (event: DomainEvent): void => {
        if (event.position <= last) return;
        last = event.position;
        subscriber.next(event);
      };
      const live = this.events.subscribe({
        next: (event) => (caughtUp ? emit(event) : waiting.push(event)),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      const catchUp = async (): Promise<void> => {
        for (;;) {
          const target = this.processedUpTo;
          if (last >= target || subscriber.closed) break;
          // Read up to what was processed, no further (positions may have gaps: a page may end early).
          const page = await this.deps.store.read({
            after: last,
            limit: Math.min(REPLAY_PAGE, target - last),
          });
          if (page.length === 0) break;
          for (const stored of page) {
            if (stored.position > target || subscriber.closed) break;
            emit(parseEvent(stored));
          }
        }
        caughtUp = true;
        for (const event of waiting.splice(0)) emit(event);
      };
      catchUp().catch((error: unknown) => subscriber.error(error));
      return () => live.unsubscribe();
    });
  }

  /** Stops following; completes `events$` and releases every waiter. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.unsubscribe();
    this.events.complete();
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
  }

  private async process(event: DomainEvent, handle: EventHandler): Promise<number> {
    await this.exclusive(() => handle(event, event.position > this.startHead));
    this.events.next(event);
    this.processedUpTo = event.position;
    for (const waiter of this.waiters) {
      if (waiter.position <= event.position) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
    return event.position;
  }

  /**
   * The store's subscription from `after`; if it fails (a lost database connection), it is opened
   * again after the last event received: no gap, no repeat.
   */
  private tail(after: number): Observable<StoredEvent> {
    let received = after;
    return defer(() => this.deps.store.subscribe(received)).pipe(
      tap((stored) => {
        received = stored.position;
      }),
      retry({
        resetOnSuccess: true,
        delay: (error: unknown, attempt) => {
          if (this.closed) return throwError(() => error);
          this.deps.logger.warn("a log subscription failed; subscribing again", {
            error: errorMessage(error),
            attempt,
          });
          return timer(errorDelay(this.deps.timings, attempt - 1), this.deps.scheduler);
        },
      }),
    );
  }
}
