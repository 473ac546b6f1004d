import type { EventStore } from "../events/store.js";
import type { EngineMetrics } from "../internal/metrics.js";

/**
 * The store as the engine uses it, each `append` timed into `fullenrich_rx.store.append.duration`
 * (the wall clock: latency is real even in a test's virtual time). Everything else is the store's own.
 */
export function timedStore(store: EventStore, metrics: EngineMetrics): EventStore {
  const append: EventStore["append"] = async (stream, events, options) => {
    const started = performance.now();
    try {
      const result = await store.append(stream, events, options);
      metrics.appended(performance.now() - started, "ok");
      return result;
    } catch (error) {
      metrics.appended(performance.now() - started, "error");
      throw error;
    }
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === "append") return append;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
