// One scenario in virtual time: the real engine, client, receiver and simulator of dist/, wired
// in-process (the client's fetch is simulator.handle, the simulator's deliveries go to the
// receiver's fetch handler), with @sinonjs/fake-timers driving setTimeout/setInterval/Date.
// setImmediate and microtasks stay real, so Bottleneck, p-retry, RxJS's asyncScheduler and the
// store all run as they do in production, only the clock is virtual.

import FakeTimers from "@sinonjs/fake-timers";
import {
  createFetchHandler,
  EnrichmentEngine,
  FullEnrichClient,
  MemoryEventStore,
  WebhookReceiver,
} from "../../dist/index.js";
import { createSimulator } from "../../dist/simulator/index.js";
import { contactsFor, EmissionLog, NaiveConsumer, summarise } from "./measure.mjs";
import { engineOptions } from "./modes.mjs";

const KEY = "bench-polling-vs-webhooks-key";
const HOOK_URL = "http://receiver.bench/fullenrich";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Virtual time advanced per step; emissions are timed exactly whatever the step. */
const STEP_MS = 1_000;

/** A provider slower than documented: 60–240 s a contact (the simulator's `slowProviderContactMs`). */
const SLOW_CONTACT_MS = { min: 60_000, max: 240_000 };

/**
 * Runs one scenario × mode. Returns the summary (see measure.mjs) plus the run's own figures.
 * `deadHook`: the webhook URL refuses every connection for the whole run (deliveries and the
 * engine's start-up probe); `silent`: the provider's deliveries vanish (a tunnel swallowing them:
 * no refused connection) while the engine's own probe gets through; `slow`: contacts take
 * 60–240 s; `warmup`: that many enrichments run first on the same log (the engine learns the
 * provider's timings from them), and only the ones submitted after them are measured.
 * @param {{ mode: object, batchSize: number, enrichments: number, outageMin: number, seed: number,
 *   horizonMs: number, naive?: boolean, singleJob?: boolean, deadHook?: boolean, silent?: boolean,
 *   slow?: boolean, warmup?: number }} scenario
 */
export async function runVirtual(scenario) {
  const { mode, batchSize, enrichments, outageMin, seed, horizonMs } = scenario;
  const outageMs = scenario.deadHook ? Number.POSITIVE_INFINITY : outageMin * MINUTE;
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
    now: 0,
  });
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  try {
    const store = new MemoryEventStore();
    const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
    const handleDelivery = createFetchHandler(receiver);
    const naive = new NaiveConsumer();
    let bookkeepingCpuMs = 0;
    let lastDeliveryAt = 0;
    // The engine's start-up probe takes the receiver's way in too, outage included.
    const probeFetch = async (url, init) => {
      if (Date.now() < outageMs) throw new TypeError("fetch failed: connect ECONNREFUSED");
      return handleDelivery(new Request(url, init));
    };
    const simulator = createSimulator({
      apiKeys: [KEY],
      seed,
      ...(scenario.slow ? { contactDurationMs: SLOW_CONTACT_MS } : {}),
      ...(scenario.silent ? { faults: { webhooksNeverArrive: true } } : {}),
      // The provider's real timings: time scale 1, 30–90 s per contact, 60 calls a minute,
      // webhooks retried every minute up to 5 times.
      deliver: async (url, init) => {
        lastDeliveryAt = Date.now();
        // The receiver refuses connections from t = 0 for the outage.
        if (Date.now() < outageMs) throw new TypeError("fetch failed: connect ECONNREFUSED");
        const response = await handleDelivery(new Request(url, init));
        if (response.ok && scenario.naive !== false) {
          // The benchmark's own bookkeeping: timed, and taken out of the pipeline's CPU figure.
          const before = process.cpuUsage();
          naive.observe(init.body);
          const spent = process.cpuUsage(before);
          bookkeepingCpuMs += (spent.user + spent.system) / 1000;
        }
        return response;
      },
    });
    let lastCallAt = 0;
    const client = new FullEnrichClient({
      apiKey: KEY,
      baseUrl: "http://provider.bench/api/v2",
      fetch: (url, init) => {
        lastCallAt = Date.now();
        return simulator.handle(new Request(url, init));
      },
    });
    const engine = await EnrichmentEngine.start({
      client,
      store,
      ...engineOptions(mode, { seed, hookUrl: HOOK_URL, receiver, probeFetch }),
    });

    // Warm-up: other contacts, on the same log, until they are all emitted (at most an hour).
    let origin = 0;
    let callsBaseline = 0;
    const warmIds = new Set();
    if (scenario.warmup) {
      const warm = new EmissionLog(() => Date.now());
      for (let job = 0; job < scenario.warmup; job++) {
        warm.follow(engine.enrich(contactsFor(1000 + job, batchSize), { batchSize, name: `warm-up ${job}` }));
      }
      while (warm.completedJobs < scenario.warmup && clock.now < HOUR) await clock.tickAsync(STEP_MS);
      // The last calls' slots leave the rate window before the measured wave starts.
      await clock.tickAsync(MINUTE);
      origin = clock.now;
      callsBaseline = simulator.counters().calls;
      for (const enrichment of simulator.enrichments()) warmIds.add(enrichment.id);
    }

    const emissions = new EmissionLog(() => Date.now());
    const contactsTotal = enrichments * batchSize;
    if (scenario.singleJob) {
      // One enrich() call holding every contact: the engine splits it into `enrichments` batches.
      const all = Array.from({ length: enrichments }, (_, job) => contactsFor(job, batchSize)).flat();
      emissions.follow(engine.enrich(all, { batchSize, name: "bench" }));
    } else {
      // One enrich() call (one job, one batch) per enrichment, all at t = 0.
      for (let job = 0; job < enrichments; job++) {
        emissions.follow(engine.enrich(contactsFor(job, batchSize), { batchSize, name: `bench ${job}` }));
      }
    }

    // Until every contact is emitted and nothing is pending any more (so that a late duplicate
    // would be seen), or nothing can happen any more, or the horizon passes. Bounded by the horizon.
    let steps = 0;
    const maxSteps = Math.ceil(horizonMs / STEP_MS) + 1;
    let allEmittedAt = null;
    while (clock.now < origin + horizonMs && steps < maxSteps) {
      await clock.tickAsync(STEP_MS);
      steps++;
      if (allEmittedAt === null && emissions.distinct >= contactsTotal) allEmittedAt = clock.now;
      if (clock.countTimers() === 0) break;
    }
    const endedAt = clock.now;
    const pendingTimers = clock.countTimers();

    const summary = summarise({
      simulator,
      emissions,
      enrichments,
      contactsTotal,
      lastCallAt,
      lastDeliveryAt,
      origin,
      callsBaseline,
      include: (enrichment) => !warmIds.has(enrichment.id),
    });
    // How the engine judged deliveries, and whether polling ever took over before a batch finished.
    const events = await store.read();
    const finishedAt = new Map(simulator.enrichments().map((e) => [e.id, e.finishedAt]));
    const fallbacks = events.filter(
      (event) => event.type === "fallback.activated" && !warmIds.has(event.data.enrichmentId),
    );
    const engineView = {
      deliveriesFailingDeclared: events.filter(
        (event) => event.type === "deliveries.health" && event.data.state === "failing",
      ).length,
      fallbacks: fallbacks.length,
      fallbacksBeforeFinish: fallbacks.filter((event) => {
        const finished = finishedAt.get(event.data.enrichmentId);
        return finished === undefined || event.data.activatedAt < finished;
      }).length,
      learnedExpectedFinishMs: engine.providerTimings.expectedDurationMs(batchSize),
      learnedFirstPollMs: engine.providerTimings.firstPollDelayMs(batchSize),
    };
    const receiverCounters = receiver.counters();
    const naiveSummary = naive.summary();

    const closing = (async () => {
      await engine.close();
      simulator.close();
      await client.close();
      receiver.close();
      await store.close?.();
    })();
    await clock.tickAsync(MINUTE);
    await closing;

    if (emissions.errors.length > 0) throw new Error(`a job's results$ failed: ${emissions.errors[0]}`);
    if (mode.library && summary.duplicatesEmitted !== 0) {
      throw new Error(
        `EXACTLY-ONCE VIOLATED: ${mode.id} emitted ${summary.duplicatesEmitted} duplicate results in ${enrichments}×${batchSize}, outage ${outageMin} min`,
      );
    }
    const cpu = process.cpuUsage(cpuStart);
    return {
      ...summary,
      engineView,
      naive: {
        // Records a naive consumer (one that emits every record of every 2xx delivery) emits twice:
        // retried deliveries the receiver recognised, plus contacts seen both alone and in the batch.
        duplicates: naiveSummary.duplicates,
        receiverDuplicateDeliveries: receiverCounters.duplicate,
        contactsInBothEvents: naiveSummary.bothKinds,
      },
      jobsCompleted: emissions.completedJobs,
      allEmittedAtMs: allEmittedAt,
      endedAtMs: endedAt,
      pendingTimersAtEnd: pendingTimers,
      run: {
        wallMs: performance.now() - wallStart,
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
        bookkeepingCpuMs,
        // The whole in-process stack (engine, client, receiver, store, simulator, fake timers), less
        // the benchmark's naive-consumer bookkeeping, per contact emitted.
        cpuMsPerContact:
          summary.emitted > 0 ? ((cpu.user + cpu.system) / 1000 - bookkeepingCpuMs) / summary.emitted : null,
      },
    };
  } finally {
    clock.uninstall();
  }
}
