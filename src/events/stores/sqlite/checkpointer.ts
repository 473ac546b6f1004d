import { Worker } from "node:worker_threads";
import type { CheckpointerConfig, CheckpointerMessage } from "./checkpointer-worker.js";
import { stopWorker } from "./workers.js";

export type { CheckpointerMessage } from "./checkpointer-worker.js";

/** The checkpointer's module (JavaScript, so that a plain Node worker runs it from src/ and dist/). */
const WORKER_URL = new URL("./checkpointer-worker.js", import.meta.url);

/**
 * A WAL of this many frames (16 MB with 4 KB pages) is large: the checkpointer then checkpoints
 * every few milliseconds, and the store asks the writer thread to let SQLite rewind it
 * (`rewindWal` of `WriterThread.commit`). Below it, SQLite rewinds the WAL by itself whenever
 * a checkpoint ends between two commits.
 * @internal
 */
export const LARGE_WAL_FRAMES = 4096;

/**
 * The WAL checkpointer of one {@link SqliteEventStore}: a `worker_threads` worker with its own
 * connection (checkpointer-worker.js), so checkpoints never run on the thread (or the connection)
 * that appends.
 * @internal
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(path: string, intervalMs: number, onMessage: (message: CheckpointerMessage) => void) {
    const config: CheckpointerConfig = { path, intervalMs, largeWalFrames: LARGE_WAL_FRAMES };
    this.worker = new Worker(WORKER_URL, { workerData: config });
    this.worker.on("message", (message: CheckpointerMessage) => onMessage(message));
    this.worker.on("error", (error: Error) => onMessage({ type: "error", message: error.message }));
    this.exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.unref();
  }

  /** Asks the worker to stop and close its connection; terminates it if it does not within `graceMs`. */
  async stop(graceMs = 2_000): Promise<void> {
    // Keep the process alive until the worker has closed its connection: an awaited close() must
    // finish even when nothing else is left on the event loop.
    this.worker.ref();
    this.worker.postMessage({ type: "stop" });
    await stopWorker(this.worker, this.exited, graceMs);
  }
}
