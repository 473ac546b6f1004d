import { afterEach, beforeEach, vi } from "vitest";
import { FullEnrichClient, type FullEnrichClientOptions } from "../../src/api/client.js";
import type { ContactResult } from "../../src/engine/contact-result.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import type { EngineMode, EngineOptions, WebhookSettings } from "../../src/engine/engine-options.js";
import type { EnrichmentJob } from "../../src/engine/job.js";
import { type EventOf, type EventType, parseEvent } from "../../src/events/event-types.js";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { seededRandom } from "../../src/internal/random.js";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { createFetchHandler } from "../../src/webhooks/fetch-adapter.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";

export const KEY = "virtual-world-key";
export const HOOK_URL = "http://hooks.test/fullenrich";

/** Fakes timers and the clock; leaves setImmediate and microtasks real. */
export function useVirtualTime(): void {
  vi.useFakeTimers({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
    now: 0,
  });
}

/**
 * For a test file (or describe block) whose tests each run in one virtual world: fakes time before
 * each test, closes its world and restores real time after; returns the function that starts it.
 */
export function virtualWorldPerTest(): (options?: WorldOptions) => Promise<World> {
  let world: World | undefined;
  beforeEach(() => useVirtualTime());
  afterEach(async () => {
    await world?.close();
    world = undefined;
    vi.useRealTimers();
  });
  return async (options = {}) => {
    world = await virtualWorld(options);
    return world;
  };
}

/** One API call as the provider received it. */
export interface ApiCall {
  at: number;
  method: string;
  path: string;
}

export interface World {
  simulator: Simulator;
  /** Every API call, in order. */
  calls: ApiCall[];
  store: EventStore;
  receiver: WebhookReceiver;
  client: FullEnrichClient;
  engine: EnrichmentEngine;
  /** Whether the receiver answers (false: an outage, deliveries fail). */
  receiverUp: { value: boolean };
  advance(ms: number): Promise<void>;
  /** Restarts the engine on the same store (a process restart), closing the old one. */
  restart(options?: Partial<EngineOptions>): Promise<EnrichmentEngine>;
  close(): Promise<void>;
}

export interface WorldOptions {
  mode?: EngineMode;
  client?: Partial<FullEnrichClientOptions>;
  contactEvents?: boolean;
  simulator?: SimulatorOptions;
  /** Engine options; `webhook` settings given here override the world's one by one. */
  engine?: Partial<Omit<EngineOptions, "webhook">> & { webhook?: Partial<WebhookSettings> };
  store?: EventStore;
  seed?: number;
  /** Whether the receiver answers from the start (default true). */
  receiverUp?: boolean;
}

/**
 * The provider (simulator), the webhook receiver, the client and the engine, all in one process
 * and in virtual time: HTTP calls and deliveries go through fetch-style handlers, no sockets.
 */
export async function virtualWorld(options: WorldOptions = {}): Promise<World> {
  const store = options.store ?? new MemoryEventStore();
  const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
  const handleDelivery = createFetchHandler(receiver);
  const receiverUp = { value: options.receiverUp ?? true };
  // The provider's deliveries and the engine's start-up probe take the same way to the receiver.
  const deliver = async (url: string, init: RequestInit): Promise<Response> => {
    if (!receiverUp.value) throw new TypeError("fetch failed: connection refused");
    return handleDelivery(new Request(url, init));
  };
  const simulator = createSimulator({
    apiKeys: [KEY],
    seed: options.seed ?? 1,
    deliver,
    ...options.simulator,
  });
  const calls: ApiCall[] = [];
  const client = new FullEnrichClient({
    apiKey: KEY,
    baseUrl: "http://provider.test/api/v2",
    fetch: (url, init) => {
      calls.push({
        at: Date.now(),
        method: init.method ?? "GET",
        path: new URL(url).pathname.replace("/api/v2", ""),
      });
      return simulator.handle(new Request(url, init));
    },
    ...options.client,
  });
  const mode = options.mode ?? "webhook";
  const { webhook: webhookOverrides, ...engineOverrides } = options.engine ?? {};
  const engineOptions = (): EngineOptions => ({
    client,
    store,
    mode,
    random: seededRandom(options.seed ?? 1),
    ...(mode === "polling"
      ? {}
      : {
          webhook: {
            url: HOOK_URL,
            contactEvents: options.contactEvents ?? false,
            receiver,
            probe: { fetch: deliver },
            // Overrides of single settings (the receiver stays the world's).
            ...webhookOverrides,
          },
        }),
    ...engineOverrides,
  });
  const world: World = {
    simulator,
    calls,
    store,
    receiver,
    client,
    engine: await EnrichmentEngine.start(engineOptions()),
    receiverUp,
    advance: async (ms) => {
      await vi.advanceTimersByTimeAsync(ms);
    },
    restart: async (overrides = {}) => {
      await world.engine.close();
      world.engine = await EnrichmentEngine.start({ ...engineOptions(), ...overrides });
      return world.engine;
    },
    close: async () => {
      await world.engine.close();
      simulator.close();
      await client.close();
    },
  };
  return world;
}

/** `n` distinct valid contacts. */
export function contacts(
  n: number,
  prefix = "c",
): { first_name: string; last_name: string; domain: string; custom: Record<string, string> }[] {
  return Array.from({ length: n }, (_, index) => ({
    first_name: `Ada${index}`,
    last_name: `${prefix}Lovelace${index}`,
    domain: `example${index % 7}.com`,
    custom: { row: String(index) },
  }));
}

/** A job's results as they come, and whether it completed. */
export function collect(job: EnrichmentJob): { results: ContactResult[]; done: boolean } {
  const state = { results: [] as ContactResult[], done: false };
  job.results$.subscribe({ next: (r) => state.results.push(r), complete: () => (state.done = true) });
  return state;
}

/** The world's log events of one type, in order. */
export async function eventsOf<T extends EventType>(w: World, type: T): Promise<EventOf<T>[]> {
  return (await w.store.read()).map(parseEvent).filter((event): event is EventOf<T> => event.type === type);
}

/** The GETs (polls and probes) the provider received. */
export const gets = (w: World): ApiCall[] => w.calls.filter((call) => call.method === "GET");
