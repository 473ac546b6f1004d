import { NEVER, type Observable, takeWhile } from "rxjs";
import { vi } from "vitest";
import { FullEnrichClient, type FullEnrichClientOptions } from "../../src/api/client.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import type { EngineMode, EngineOptions } from "../../src/engine/engine-options.js";
import type {
  AppendOptions,
  AppendResult,
  NewEvent,
  ReadOptions,
  StoredEvent,
  StoredSnapshot,
} from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { seededRandom } from "../../src/internal/random.js";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { createFetchHandler } from "../../src/webhooks/fetch-adapter.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { ForwardingStore } from "./forwarding-store.js";
import { type ApiCall, HOOK_URL, KEY } from "./virtual-world.js";

/** A process's view of the shared log: once the process is killed, it never finishes anything again. */
export class ProcessStore extends ForwardingStore {
  alive = true;
  /** Appends this accepts are held (not stored, not resolved) until {@link release}: a slow disk. */
  holdWhen: ((stream: string, events: readonly NewEvent[]) => boolean) | null = null;
  private readonly held: (() => void)[] = [];
  private hang<T>(run: () => Promise<T>): Promise<T> {
    return this.alive ? run() : new Promise<T>(() => {});
  }
  /** Stores the held appends, in order, and holds nothing more. */
  release(): void {
    this.holdWhen = null;
    for (const go of this.held.splice(0)) go();
  }
  override append(
    stream: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    if (this.holdWhen?.(stream, events)) {
      return new Promise<void>((resolve) => this.held.push(resolve)).then(() =>
        this.hang(() => this.inner.append(stream, events, options)),
      );
    }
    return this.hang(() => this.inner.append(stream, events, options));
  }
  override read(options?: ReadOptions): Promise<StoredEvent[]> {
    return this.hang(() => this.inner.read(options));
  }
  override saveSnapshot(name: string, snapshot: StoredSnapshot): Promise<void> {
    return this.hang(() => this.inner.saveSnapshot(name, snapshot));
  }
  override subscribe(after?: number): Observable<StoredEvent> {
    if (!this.alive) return NEVER;
    return this.inner.subscribe(after).pipe(takeWhile(() => this.alive));
  }
}

/** One process: its view of the log, its receiver, client and engine. */
export interface Process {
  store: ProcessStore;
  receiver: WebhookReceiver;
  client: FullEnrichClient;
  engine: EnrichmentEngine;
}

export interface CrashableWorldOptions {
  mode?: EngineMode;
  contactEvents?: boolean;
  client?: Partial<FullEnrichClientOptions>;
  engine?: Partial<EngineOptions>;
  simulator?: SimulatorOptions;
  /** POSTs (0-based, in the order they are sent) whose answer is lost on the way back. */
  loseAnswerOfPost?: (ordinal: number) => boolean;
  /** POSTs (0-based, in the order they are sent) that break on the way: the provider never sees them. */
  losePost?: (ordinal: number) => boolean;
}

/**
 * The simulator and one log shared by successive processes (each its own receiver, client and
 * engine), in virtual time: `kill()` stops the current one as kill -9 would (nothing it started
 * is recorded any more, its receiver answers nothing), `start()` runs the next.
 */
export class CrashableWorld {
  readonly log = new MemoryEventStore();
  readonly simulator: Simulator;
  /** Every API call the provider received, in order. */
  readonly calls: ApiCall[] = [];
  current: Process | null = null;

  constructor(private readonly options: CrashableWorldOptions = {}) {
    this.simulator = createSimulator({
      apiKeys: [KEY],
      seed: 1,
      deliver: async (url, init) => {
        const process = this.current;
        if (!process?.store.alive) throw new TypeError("fetch failed: connection refused");
        return createFetchHandler(process.receiver)(new Request(url, init));
      },
      ...options.simulator,
    });
  }

  /** Starts a process on the shared log. */
  async start(): Promise<Process> {
    const store = new ProcessStore(this.log);
    const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
    const client = new FullEnrichClient({
      apiKey: KEY,
      baseUrl: "http://provider.test/api/v2",
      fetch: async (url, init) => {
        const method = init.method ?? "GET";
        const ordinal = this.posts().length;
        this.calls.push({ at: Date.now(), method, path: new URL(url).pathname.replace("/api/v2", "") });
        const reset = () =>
          new TypeError("fetch failed", {
            cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
          });
        if (method === "POST" && this.options.losePost?.(ordinal)) throw reset();
        const response = await this.simulator.handle(new Request(url, init));
        if (method === "POST" && this.options.loseAnswerOfPost?.(ordinal)) {
          // The provider did the work; the connection broke before its answer came back.
          throw reset();
        }
        return response;
      },
      ...this.options.client,
    });
    const mode = this.options.mode ?? "webhook";
    const engine = await EnrichmentEngine.start({
      client,
      store,
      mode,
      random: seededRandom(1),
      ...(mode === "polling"
        ? {}
        : { webhook: { url: HOOK_URL, contactEvents: this.options.contactEvents ?? false, receiver } }),
      ...this.options.engine,
    });
    this.current = { store, receiver, client, engine };
    return this.current;
  }

  /** Stops the current process as kill -9 would: what it sent stays sent, nothing more is recorded. */
  async kill(): Promise<void> {
    const process = this.current;
    if (!process) return;
    process.store.alive = false;
    // Its timers stop; what it was doing never finishes (a kill does not wait).
    void process.engine.close();
    void process.client.close();
    this.current = null;
  }

  posts(): ApiCall[] {
    return this.calls.filter((call) => call.method === "POST");
  }

  async advance(ms: number): Promise<void> {
    await vi.advanceTimersByTimeAsync(ms);
  }

  async close(): Promise<void> {
    await this.current?.engine.close();
    await this.current?.client.close();
    this.simulator.close();
  }
}
