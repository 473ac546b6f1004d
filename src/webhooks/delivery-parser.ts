import { dedupKeys, parseEvent, streams } from "../events/event-types.js";
import type { AppendResult, EventStore, NewEvent } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import { type ParseSummary, parseStored } from "./delivery-events.js";
import { type DeliveryToParse, ParseThread, type ThreadOutcome } from "./parse-thread.js";

/** The checkpoint below which every `webhook.stored` event of the log has its parsed outcome. */
export const PARSER_CHECKPOINT = "webhook-parser";

/**
 * Runs `run` on a later turn of the event loop than this one: the answers of the deliveries stored
 * in this turn are written by then. A timer looked up at each call (not a setImmediate): tests in
 * virtual time (fake timers) run it as their time advances.
 */
const onALaterTurn = (run: () => void): void => {
  setTimeout(run, 0);
};

/** Events read per page when looking for stored deliveries not yet parsed. */
const PAGE = 500;

/**
 * The position of the stored delivery whose parsed outcome has this dedup key: `parsed@<position>`,
 * or `parsed:<digest>` (earlier builds) for a delivery met earlier in the sweep; undefined for any
 * other key.
 */
function outcomePosition(
  dedupKey: string | null,
  positionOf: ReadonlyMap<string, number>,
): number | undefined {
  if (dedupKey === null) return undefined;
  if (dedupKey.startsWith("parsed@")) return Number(dedupKey.slice("parsed@".length));
  if (dedupKey.startsWith("parsed:")) return positionOf.get(dedupKey.slice("parsed:".length));
  return undefined;
}

/** A stored delivery waiting to be parsed: its data, its position in the log, and its bytes when at hand. */
export type PendingDelivery = DeliveryToParse;

/** What became of one stored delivery: its outcome appended, or the append failed (retried by a later sweep). */
export type ParseOutcome =
  | { kind: "parsed"; delivery: PendingDelivery; parsed: ParseSummary; duplicate: boolean }
  | { kind: "failed"; delivery: PendingDelivery; error: Error };

/** Where the parser parses: in a worker thread (the default, where the package is compiled), or on this thread. */
export interface DeliveryParserOptions {
  /** Parse in a worker thread when one can be started ({@link ParseThread.available}). Default true. */
  thread?: boolean;
  /**
   * Bytes of bodies waiting to be parsed at most (default {@link DEFAULT_MAX_PARSE_BACKLOG_BYTES}):
   * when deliveries arrive faster than they are parsed, those over it are not kept in memory but
   * parsed by a sweep of the log once the backlog is parsed. One delivery is always taken.
   */
  maxBacklogBytes?: number;
}

/** Default {@link DeliveryParserOptions.maxBacklogBytes}: 64 MiB. */
export const DEFAULT_MAX_PARSE_BACKLOG_BYTES = 64 * 1024 * 1024;

/**
 * About the bytes a delivery waiting to be parsed holds: its bytes and the text they may be decoded
 * into, or its text (its body is not read when its bytes are there: it may be decoded on access).
 */
function sizeOf(delivery: PendingDelivery): number {
  return delivery.bytes === undefined ? delivery.data.body.length : 2 * delivery.bytes.byteLength;
}

/** What {@link DeliveryParser.sweep} found. */
export interface SweepReport {
  /** Stored deliveries without an outcome, parsed now. */
  parsed: number;
  /** The log position the sweep read up to. */
  head: number;
}

/**
 * Turns stored deliveries (`webhook.stored`) into events once they are acknowledged: parses each
 * into `webhook.received` or `webhook.quarantined`, appended under `parsed@<position>` (one outcome
 * per delivery, whoever parses it; earlier builds wrote `parsed:<digest>`, recognised too). The
 * receiver hands it each delivery it stored; those of one turn of the event loop are parsed together
 * on a later turn (after their answers), in the parse thread when there is one, and their outcomes
 * appended in one append. {@link sweep} finds those a stopped process stored but did not
 * parse (or whose outcome could not be appended), reading the log from the
 * {@link PARSER_CHECKPOINT} on.
 *
 * The checkpoint only moves past positions whose deliveries have an outcome: never past one this
 * parser still holds. A delivery another process stored and is parsing is parsed here too by a
 * sweep that meets it; its dedup key makes the second outcome a no-op.
 */
export class DeliveryParser {
  /** Deliveries handed over and not yet parsed, by position. */
  private readonly pending = new Map<number, PendingDelivery>();
  /** Deliveries handed over in this turn: parsed together on a later one (their appends share a commit). */
  private queue: PendingDelivery[] = [];
  private drained: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private sweeping: Promise<SweepReport> | undefined;

  /** The worker thread deliveries are parsed in, while it works; undefined: on this thread. */
  private thread: ParseThread | undefined;
  /** Bytes of the bodies handed over and not parsed yet; at most {@link maxBacklogBytes}. */
  private backlogBytes = 0;
  private readonly maxBacklogBytes: number;
  /** Deliveries were left out of the backlog (it was full): a sweep parses them once it is empty. */
  private leftToSweep = false;

  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
    private readonly onOutcome: (outcome: ParseOutcome) => void,
    options: DeliveryParserOptions = {},
  ) {
    if (options.thread !== false && ParseThread.available()) this.thread = new ParseThread();
    this.maxBacklogBytes = options.maxBacklogBytes ?? DEFAULT_MAX_PARSE_BACKLOG_BYTES;
  }

  /** Stops the worker thread, if any (a batch still in it is parsed on this thread). */
  close(): void {
    const thread = this.thread;
    this.thread = undefined;
    thread?.close();
  }

  /**
   * Parses a delivery just stored on a later turn of the event loop (its answer is written by then)
   * and appends its outcome ({@link whenIdle} says when that is done).
   */
  parse(delivery: PendingDelivery): void {
    const size = sizeOf(delivery);
    if (this.backlogBytes + size > this.maxBacklogBytes && this.pending.size > 0) {
      // Parsing fell behind: this one is left to the sweep that runs once the backlog is parsed (it
      // is stored; its bytes need not wait in memory).
      this.leftToSweep = true;
      return;
    }
    this.backlogBytes += size;
    this.pending.set(delivery.position, delivery);
    this.queue.push(delivery);
    if (this.drained) return;
    const drained: Promise<void> = new Promise<void>((resolve) => onALaterTurn(resolve)).then(() => {
      const batch = this.queue;
      this.queue = [];
      this.drained = undefined;
      this.inFlight.delete(drained);
      const done: Promise<void> = this.appendOutcomes(batch).then(() => {
        for (const item of batch) {
          this.pending.delete(item.position);
          this.backlogBytes -= sizeOf(item);
        }
        this.inFlight.delete(done);
        if (this.leftToSweep && this.pending.size === 0) {
          this.leftToSweep = false;
          this.sweep().catch((error: unknown) =>
            this.logger.error(
              "could not parse the deliveries left while parsing was behind; the next sweep will",
              {
                error: (error as Error).message,
              },
            ),
          );
        }
      });
      this.inFlight.add(done);
    });
    this.drained = drained;
    this.inFlight.add(drained);
  }

  /** Resolves once every delivery handed over so far, and any sweep running, is done. */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size > 0 || this.sweeping) {
      await Promise.all([...this.inFlight, this.sweeping?.catch(() => undefined)]);
    }
  }

  /**
   * Reads the log from the checkpoint to its head, parses every stored delivery met without an
   * outcome (except those already handed to this parser), then moves the checkpoint as far as it
   * can. One sweep at a time: a call while one runs returns that one. Rejects when the store
   * cannot be read (nothing is lost: the next sweep starts from the same checkpoint).
   */
  sweep(): Promise<SweepReport> {
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async runSweep(): Promise<SweepReport> {
    const from = await this.store.getCheckpoint(PARSER_CHECKPOINT);
    const head = await this.store.head();
    /** Stored deliveries met without an outcome yet, by position; their positions by digest. */
    const unparsed = new Map<number, PendingDelivery>();
    const positionOf = new Map<string, number>();
    for (let after = from; after < head; ) {
      const page = await this.store.read({ after, limit: PAGE });
      if (page.length === 0) break;
      for (const stored of page) {
        if (stored.position > head) break;
        if (stored.stream !== streams.deliveries) continue;
        if (stored.type === "webhook.stored") {
          const event = parseEvent(stored);
          if (event.type !== "webhook.stored") continue;
          unparsed.set(stored.position, { position: stored.position, data: event.data });
          positionOf.set(event.data.digest, stored.position);
        } else {
          const outcomeOf = outcomePosition(stored.dedupKey, positionOf);
          if (outcomeOf !== undefined) unparsed.delete(outcomeOf);
        }
      }
      after = page[page.length - 1]?.position ?? head;
    }
    const toParse: PendingDelivery[] = [];
    for (const delivery of unparsed.values()) {
      if (this.pending.has(delivery.position)) continue;
      // Its outcome may have been appended since the page was read (by the process that stored it).
      if (await this.store.findByDedupKey(dedupKeys.parsed(delivery.position))) continue;
      if (await this.store.findByDedupKey(dedupKeys.parsedByDigest(delivery.data.digest))) continue;
      toParse.push(delivery);
    }
    let parsed = 0;
    let failedAt = Number.POSITIVE_INFINITY;
    for (let index = 0; index < toParse.length; index += PAGE) {
      const batch = toParse.slice(index, index + PAGE);
      for (const delivery of batch) this.pending.set(delivery.position, delivery);
      try {
        if (await this.appendOutcomes(batch)) parsed += batch.length;
        else failedAt = Math.min(failedAt, batch[0]?.position ?? failedAt);
      } finally {
        for (const delivery of batch) this.pending.delete(delivery.position);
      }
    }
    let held = failedAt;
    for (const position of this.pending.keys()) held = Math.min(held, position);
    const upTo = Math.min(head, held - 1);
    if (upTo > from) await this.store.setCheckpoint(PARSER_CHECKPOINT, upTo);
    return { parsed, head };
  }

  /**
   * Parses deliveries and appends their outcomes in one append (one transaction); true once
   * appended (or already there), false when the append failed (each failure reported).
   */
  private async appendOutcomes(deliveries: readonly PendingDelivery[]): Promise<boolean> {
    const parsed = await this.parseAll(deliveries);
    const outcomes: { delivery: PendingDelivery; outcome: { event: NewEvent; summary: ParseSummary } }[] = [];
    deliveries.forEach((delivery, index) => {
      const outcome = parsed[index];
      // parseStored catches what a body can do; an error would be a bug, kept from stopping the others.
      if (outcome === undefined || "error" in outcome)
        this.fail(delivery, new Error(outcome?.error ?? "not parsed"));
      else outcomes.push({ delivery, outcome });
    });
    if (outcomes.length === 0) return deliveries.length === 0;
    let result: AppendResult;
    try {
      result = await this.store.append(
        streams.deliveries,
        outcomes.map(({ outcome }) => outcome.event),
      );
    } catch (error) {
      for (const { delivery } of outcomes) this.fail(delivery, error);
      return false;
    }
    const duplicates = new Set(result.duplicates.map((duplicate) => duplicate.index));
    outcomes.forEach(({ delivery, outcome }, index) => {
      this.onOutcome({ kind: "parsed", delivery, parsed: outcome.summary, duplicate: duplicates.has(index) });
    });
    return outcomes.length === deliveries.length;
  }

  /**
   * Each delivery's outcome event and summary, in order: from the worker thread, or parsed here
   * when there is none, it is not ready yet, or it failed (then here from now on).
   */
  private async parseAll(deliveries: readonly PendingDelivery[]): Promise<ThreadOutcome[]> {
    const thread = this.thread;
    if (thread?.failure !== undefined) this.dropThread(thread, thread.failure);
    // Until the thread has loaded its modules (a few hundred milliseconds after the receiver was
    // created), a batch is parsed here rather than left waiting for it.
    else if (thread?.ready === true && deliveries.length > 0) {
      try {
        return await thread.parse(deliveries);
      } catch (error) {
        this.dropThread(thread, error as Error);
      }
    }
    return deliveries.map(({ data, position }) => {
      try {
        return parseStored(data, position);
      } catch (error) {
        return { error: (error as Error).message };
      }
    });
  }

  /** Parses here from now on: the thread stopped (unless it was closed on purpose). */
  private dropThread(thread: ParseThread, error: Error): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    this.logger.warn("the webhook parse thread stopped; parsing deliveries on the main thread from now on", {
      error: error.message,
    });
  }

  private fail(delivery: PendingDelivery, cause: unknown): void {
    const error = cause instanceof Error ? cause : new Error(String(cause));
    this.logger.error(
      "could not append the parsed outcome of a stored delivery; it stays stored and is parsed again by the next sweep",
      {
        digest: delivery.data.digest,
        position: delivery.position,
        error: error.message,
      },
    );
    this.onOutcome({ kind: "failed", delivery, error });
  }
}
