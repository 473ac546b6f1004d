import { Worker } from "node:worker_threads";
import type { WriteOp } from "../shared/write-ops.js";
import { errorOfFailure } from "./errors.js";
import type { WriterFailure } from "./failure.js";
import { stopWorker } from "./workers.js";
import {
  decodeOutcomes,
  encodeGroup,
  type FromWriter,
  type ToWriter,
  type WriterOpOutcome,
} from "./writer-protocol.js";
import type { WriterConfig } from "./writer-worker.js";

/** The answer to one group. @internal */
export type GroupReply =
  /** COMMIT returned: every "applied" outcome is durable (as durable as `synchronous` makes it). */
  | { kind: "committed"; outcomes: WriterOpOutcome[] }
  /** BEGIN, a statement or COMMIT failed and the transaction was rolled back: nothing is stored. */
  | { kind: "failed"; failure: WriterFailure }
  /** The thread stopped while the group was in flight: it may or may not have been committed. */
  | { kind: "lost"; reason: string }
  /** The thread had stopped before the group was sent: nothing is stored. */
  | { kind: "stopped"; reason: string };

/** The writer thread's module (JavaScript, so that a plain Node worker runs it from src/ and dist/). */
const WORKER_URL = new URL("./writer-worker.js", import.meta.url);

/**
 * The main thread's handle on the writer thread of one {@link SqliteEventStore}: a
 * `worker_threads` worker with its own connection that runs every write transaction, so that the
 * commit (and its fsync) never blocks the thread serving requests.
 *
 * One group at a time: {@link commit} must not be called again before its promise settled. The
 * worker keeps the process alive only while a group is in flight (or while starting, stopping).
 * @internal
 */
export class WriterThread {
  private pending: ((reply: GroupReply) => void) | undefined;
  /** How many operations the group in flight has. */
  private sentCount = 0;
  private stoppedReason: string | undefined;
  private stopping = false;
  private lastError: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    /** `synchronous` of the writer's connection: 2 = FULL, 1 = NORMAL. */
    readonly synchronous: number,
    /** `wal_autocheckpoint` of the writer's connection. */
    readonly walAutocheckpoint: number,
  ) {
    worker.on("message", (message: FromWriter) => {
      if (message.type !== "reply") return;
      const settle = this.pending;
      this.pending = undefined;
      if (!this.stopping) worker.unref();
      const { reply } = message;
      settle?.(
        reply.kind === "committed"
          ? { kind: "committed", outcomes: decodeOutcomes(reply.results, reply.failures, this.sentCount) }
          : reply,
      );
    });
    worker.on("error", (error: Error) => {
      this.lastError = error.message;
    });
    this.exited = new Promise<void>((resolve) => {
      worker.once("exit", (code: number) => {
        this.stoppedReason ??= this.lastError ?? `the thread exited with code ${code}`;
        const settle = this.pending;
        this.pending = undefined;
        settle?.({ kind: "lost", reason: this.stoppedReason });
        resolve();
      });
    });
  }

  /** Starts the thread; resolves once its connection is open, rejects (with the driver's error) otherwise. */
  static start(config: WriterConfig): Promise<WriterThread> {
    const worker = new Worker(WORKER_URL, { workerData: config });
    // Referenced until ready: an awaited open() must complete even with nothing else to do.
    return new Promise<WriterThread>((resolve, reject) => {
      let lastError: Error | undefined;
      const onMessage = (message: FromWriter): void => {
        if (message.type === "ready") {
          cleanup();
          worker.unref();
          resolve(new WriterThread(worker, message.synchronous, message.walAutocheckpoint));
        } else if (message.type === "open-failed") {
          cleanup();
          // It closes its port and exits by itself; make sure, and ignore what it may still say.
          worker.on("error", () => {});
          void worker.terminate();
          reject(errorOfFailure(message.failure));
        }
      };
      const onError = (error: Error): void => {
        lastError = error;
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(
          lastError ??
            new Error(`the event store's writer thread exited with code ${code} before it was ready`),
        );
      };
      const cleanup = (): void => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
  }

  /** Why the thread is gone, or undefined while it runs. */
  get stopped(): string | undefined {
    return this.stoppedReason;
  }

  /**
   * Commits one group; the promise never rejects (failures are replies). One group at a time.
   * `rewindWal`: once committed and answered, the thread checkpoints the WAL, so that SQLite
   * rewinds it at the next transaction (asked for when the WAL has grown large).
   */
  commit(recordedAt: string, ops: WriteOp[], rewindWal = false): Promise<GroupReply> {
    if (this.stoppedReason !== undefined || this.stopping) {
      return Promise.resolve({ kind: "stopped", reason: this.stoppedReason ?? "the store is closing" });
    }
    if (this.pending !== undefined) {
      return Promise.reject(new Error("WriterThread.commit: a group is already in flight"));
    }
    return new Promise<GroupReply>((resolve) => {
      const message: ToWriter = { type: "group", recordedAt, ops: encodeGroup(ops), rewindWal };
      try {
        this.worker.postMessage(message);
      } catch (error) {
        // Not sent (e.g. it could not be cloned): nothing of it is stored.
        resolve({
          kind: "failed",
          failure: { message: error instanceof Error ? error.message : String(error), code: "" },
        });
        return;
      }
      this.pending = resolve;
      this.sentCount = ops.length;
      this.worker.ref();
    });
  }

  /**
   * Asks the thread to close its connection and exit (after the group in flight, if any); terminates
   * it if it has not within `graceMs`. Resolves once it has exited.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stoppedReason === undefined && !this.stopping) {
      this.stopping = true;
      // Keep the process alive until the thread has closed its connection.
      this.worker.ref();
      const message: ToWriter = { type: "stop" };
      this.worker.postMessage(message);
    }
    await stopWorker(this.worker, this.exited, graceMs);
  }

  /** Stops the thread at once (tests: a thread that dies with a group in flight). @internal */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
