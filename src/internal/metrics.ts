import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
} from "@opentelemetry/api";

/**
 * fullenrich-rx's metrics, through the OpenTelemetry API: a no-op until the application registers
 * an SDK (`metrics.setGlobalMeterProvider`, or the `meterProvider` option). Instruments are made
 * when a client or an engine is created: register the SDK before.
 *
 * | instrument                                   | kind                 | attributes                       |
 * | -------------------------------------------- | -------------------- | -------------------------------- |
 * | `fullenrich_rx.api.calls`                    | counter              | `method`, `endpoint`, `outcome`  |
 * | `fullenrich_rx.api.rate_limited`             | counter              | `method`, `endpoint`             |
 * | `fullenrich_rx.api.retries`                  | counter              | `method`, `endpoint`             |
 * | `fullenrich_rx.webhook.deliveries`           | observable counter   | `outcome` (`reason` if refused)  |
 * | `fullenrich_rx.results`                      | counter              | `source`, `via`                  |
 * | `fullenrich_rx.result.delay`                 | histogram (s)        | `source`                         |
 * | `fullenrich_rx.store.append.duration`        | histogram (s)        | `outcome`                        |
 */
export const METER_NAME = "fullenrich-rx";

/** The meter of a provider (default: the global one, a no-op until an SDK is registered). */
export function meterOf(provider?: MeterProvider): Meter {
  return (provider ?? metrics.getMeterProvider()).getMeter(METER_NAME);
}

/** Delays and latencies are in seconds (OpenTelemetry's convention); these buckets span 1 ms to 2 h. */
const SECONDS_BUCKETS = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200,
];

/** The client's instruments: every HTTP request by endpoint and outcome, 429s and retries. */
export class ApiMetrics {
  private readonly calls: Counter;
  private readonly rateLimitedCounter: Counter;
  private readonly retriesCounter: Counter;

  constructor(meter: Meter) {
    this.calls = meter.createCounter("fullenrich_rx.api.calls", {
      description:
        "HTTP requests sent to FullEnrich (every attempt), by endpoint and outcome (the HTTP status, or network-error, timeout, aborted)",
    });
    this.rateLimitedCounter = meter.createCounter("fullenrich_rx.api.rate_limited", {
      description: "429 answers from FullEnrich",
    });
    this.retriesCounter = meter.createCounter("fullenrich_rx.api.retries", {
      description: "failed attempts retried after a back-off",
    });
  }

  call(method: string, path: string, outcome: string): void {
    this.calls.add(1, { method, endpoint: endpointOf(path), outcome });
  }

  rateLimited(method: string, path: string): void {
    this.rateLimitedCounter.add(1, { method, endpoint: endpointOf(path) });
  }

  retry(method: string, path: string): void {
    this.retriesCounter.add(1, { method, endpoint: endpointOf(path) });
  }
}

/** The engine's instruments: results by source, their delay, and the latency of its appends. */
export class EngineMetrics {
  private readonly results: Counter;
  private readonly delay: Histogram;
  private readonly append: Histogram;

  constructor(meter: Meter) {
    this.results = meter.createCounter("fullenrich_rx.results", {
      description: "contacts resolved (each once), by how they arrived",
    });
    this.delay = meter.createHistogram("fullenrich_rx.result.delay", {
      description: "seconds from a batch's POST to each of its contacts' results, by source",
      unit: "s",
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.append = meter.createHistogram("fullenrich_rx.store.append.duration", {
      description: "seconds an append to the event log took (the engine's appends)",
      unit: "s",
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
  }

  /** A contact resolved; `delayMs` from its batch's POST, when known. */
  result(source: string, via: string, delayMs: number | null): void {
    this.results.add(1, { source, via });
    if (delayMs !== null && delayMs >= 0) this.delay.record(delayMs / 1000, { source });
  }

  appended(ms: number, outcome: "ok" | "error"): void {
    this.append.record(ms / 1000, { outcome });
  }
}

/** `/contact/enrich/bulk/3f2a…?forceResults=true` → `/contact/enrich/bulk/{id}`: few distinct values. */
export function endpointOf(path: string): string {
  return path.replace(/\?.*$/, "").replace(/\/bulk\/[^/]+$/, "/bulk/{id}");
}

/** What a webhook receiver counts, as {@link observeDeliveries} reads it. */
export interface DeliveryCounts {
  accepted: number;
  duplicate: number;
  quarantined: number;
  storeErrors: number;
  rejected: Record<string, number>;
}

/**
 * `fullenrich_rx.webhook.deliveries`, read from a receiver's counters at each collection: outcome
 * `accepted`, `duplicate`, `quarantined`, `store-error` (answered 503), `forged` (a bad signature)
 * and `refused` (any other refusal, with its `reason`). Returns the function that stops observing.
 */
export function observeDeliveries(meter: Meter, counts: () => DeliveryCounts): () => void {
  const counter = meter.createObservableCounter("fullenrich_rx.webhook.deliveries", {
    description:
      "webhook requests by outcome (accepted, duplicate, quarantined, store-error, forged, refused)",
  });
  const callback = (result: { observe(value: number, attributes?: Attributes): void }): void => {
    const c = counts();
    result.observe(c.accepted, { outcome: "accepted" });
    result.observe(c.duplicate, { outcome: "duplicate" });
    result.observe(c.quarantined, { outcome: "quarantined" });
    result.observe(c.storeErrors, { outcome: "store-error" });
    for (const [reason, value] of Object.entries(c.rejected)) {
      if (reason === "bad-signature") result.observe(value, { outcome: "forged" });
      else result.observe(value, { outcome: "refused", reason });
    }
  };
  counter.addCallback(callback);
  return () => counter.removeCallback(callback);
}
