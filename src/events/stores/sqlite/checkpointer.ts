import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * The checkpointer's code, run as an `eval` worker (CommonJS) so that it works the same from the
 * TypeScript sources (tests) and from the compiled `dist/` without shipping a separate file.
 *
 * It opens its own connection (busy_timeout 0: it never waits for a writer), and on every tick
 * runs `wal_checkpoint(PASSIVE)`, which copies committed WAL frames into the database without
 * taking any lock a writer needs. When a whole tick went by without a new frame and everything was
 * copied, the store is idle, and it runs `wal_checkpoint(TRUNCATE)` to shrink the WAL file to zero.
 */
const workerSource = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const describe = (error) => String(error && error.message ? error.message : error);
function open() {
  try {
    const Database = require(workerData.driverPath);
    const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
    db.pragma("busy_timeout = 0");
    db.pragma("wal_autocheckpoint = 0");
    return db;
  } catch (error) {
    parentPort.postMessage({ type: "error", message: describe(error) });
    return undefined;
  }
}
const db = open();
if (db === undefined) {
  parentPort.close();
} else {
  let previousLog = -1;
  const tick = () => {
    try {
      const passive = db.pragma("wal_checkpoint(PASSIVE)")[0];
      let truncated = false;
      if (
        passive && passive.busy === 0 && passive.log > 0 &&
        passive.checkpointed === passive.log && passive.log === previousLog
      ) {
        const result = db.pragma("wal_checkpoint(TRUNCATE)")[0];
        truncated = Boolean(result && result.busy === 0);
      }
      previousLog = truncated ? 0 : passive ? passive.log : -1;
      parentPort.postMessage({ type: "checkpoint", log: passive ? passive.log : 0, truncated });
    } catch (error) {
      parentPort.postMessage({ type: "error", message: describe(error) });
    }
  };
  const timer = setInterval(tick, workerData.intervalMs);
  parentPort.on("message", (message) => {
    if (message && message.type === "stop") {
      clearInterval(timer);
      try { db.close(); } catch {}
      parentPort.close();
    }
  });
}
`;

/** Messages the checkpointer posts. @internal */
export type CheckpointerMessage =
  | { type: "checkpoint"; log: number; truncated: boolean }
  | { type: "error"; message: string };

/**
 * The WAL checkpointer of one {@link SqliteEventStore}: a `worker_threads` worker with its own
 * connection, so checkpoints never run on the thread (or the connection) that appends.
 * @internal
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(path: string, intervalMs: number, onMessage: (message: CheckpointerMessage) => void) {
    const driverPath = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(workerSource, { eval: true, workerData: { path, intervalMs, driverPath } });
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    // Under fake timers the grace timer may never fire; the worker still exits on its own.
    const outcome = await Promise.race([this.exited.then(() => "exited" as const), timedOut]);
    if (timer !== undefined) clearTimeout(timer);
    if (outcome === "timeout") await this.worker.terminate();
  }
}
