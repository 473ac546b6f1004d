import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { NewEvent } from "../events/store.js";
import type { ParseSummary, StoredDelivery } from "./delivery-events.js";

/** The worker's module: compiled JavaScript, next to this one in the package. */
const WORKER_URL = new URL("./parse-worker.js", import.meta.url);

/** One stored delivery sent to the worker: its bytes rather than its text when at hand (cheaper to send). */
export interface WireDelivery {
  position: number;
  fields: Omit<StoredDelivery, "body">;
  /** The body as stored (sent when the bytes are not at hand, or when it is base64). */
  body?: string;
  /** The bytes the body is the UTF-8 text of. */
  bytes?: Uint8Array;
}

/** A batch to parse. @internal */
export interface ParseRequest {
  id: number;
  deliveries: WireDelivery[];
}

/** One delivery's outcome event and summary, or why it could not be made (a bug: each is kept apart). */
export type ThreadOutcome = { event: NewEvent; summary: ParseSummary } | { error: string };

/** What the worker says: it is ready (its modules loaded), or a batch's outcomes, in its order. @internal */
export type FromParseWorker = { type: "ready" } | { type: "outcomes"; id: number; outcomes: ThreadOutcome[] };

/** A stored delivery to parse: its data, its position, and its bytes when at hand. */
export interface DeliveryToParse {
  position: number;
  data: StoredDelivery;
  bytes?: Uint8Array | undefined;
}

/** What a batch sent to the worker becomes. */
interface Waiting {
  resolve(outcomes: ThreadOutcome[]): void;
  reject(error: Error): void;
}

/**
 * A worker thread that parses stored deliveries into their outcome events (JSON parsing and schema
 * validation are most of a delivery's CPU, and all of it for a large batch event), so that the
 * thread answering the provider spends none of its time there. Started when created: loading its
 * modules takes a few hundred milliseconds, and until it says it is {@link ready} deliveries are
 * better parsed where they are. Keeps the process alive only while a batch is in flight.
 *
 * Available from the compiled package only ({@link ParseThread.available}): from the TypeScript
 * sources (this project's tests), deliveries are parsed on the calling thread.
 * @internal
 */
export class ParseThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  /** Why the worker stopped: it failed, exited or was closed. */
  private failed: Error | undefined;
  private isReady = false;

  constructor() {
    const worker = new Worker(WORKER_URL);
    worker.on("message", (message: FromParseWorker) => {
      if (message.type === "ready") this.isReady = true;
      else this.settle(message.id)?.resolve(message.outcomes);
    });
    worker.on("error", (error: Error) => this.fail(new Error(`the parse thread failed: ${error.message}`)));
    worker.on("exit", (code: number) => this.fail(new Error(`the parse thread exited with code ${code}`)));
    // After the listeners: adding a "message" listener refs the worker again.
    worker.unref();
    this.worker = worker;
  }

  /** Whether the worker has loaded its modules and parses a batch at once (false again once it failed). */
  get ready(): boolean {
    return this.isReady && this.failed === undefined;
  }

  /** Why the worker stopped (it failed, exited or was closed), or undefined while it runs. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Whether the worker's compiled module is there to start. */
  static available(): boolean {
    return WORKER_URL.protocol === "file:" && existsSync(fileURLToPath(WORKER_URL));
  }

  /**
   * Parses a batch in the worker; resolves with each delivery's outcome, in order. Rejects when the
   * worker failed or stopped (this batch and every later one: parse them elsewhere).
   */
  parse(deliveries: readonly DeliveryToParse[]): Promise<ThreadOutcome[]> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const worker = this.worker;
    const id = this.nextId++;
    const request: ParseRequest = { id, deliveries: deliveries.map(wireOf) };
    return new Promise<ThreadOutcome[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.ref();
      try {
        worker.postMessage(request);
      } catch (error) {
        this.settle(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Stops the worker; batches still in flight reject. */
  close(): void {
    this.fail(new Error("the parse thread is closed"));
    void this.worker.terminate();
  }

  /** Forgets a batch (unref'ing the worker when none is left in flight) and returns how to settle it. */
  private settle(id: number): Waiting | undefined {
    const waiting = this.waiting.get(id);
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker.unref();
    return waiting;
  }

  private fail(error: Error): void {
    this.failed ??= error;
    for (const [id, waiting] of [...this.waiting]) {
      this.settle(id);
      waiting.reject(error);
    }
  }
}

/** A delivery as sent: the bytes instead of the text when they are at hand and the body is their UTF-8 text. */
function wireOf({ position, data, bytes }: DeliveryToParse): WireDelivery {
  // `body` is not read when the bytes are sent: it may be decoded only on access.
  const fields = {
    digest: data.digest,
    encoding: data.encoding,
    verified: data.verified,
    receivedAt: data.receivedAt,
  };
  return bytes !== undefined && data.encoding === "utf8"
    ? { position, fields, bytes }
    : { position, fields, body: data.body };
}
