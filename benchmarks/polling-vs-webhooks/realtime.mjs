// The real-time cross-check: the same engine over loopback HTTP, against the simulator served by
// `startSimulator`, with a node:http receiver, every duration at time scale 0.01 (a minute of the
// provider lasts 600 ms). Delays are divided by the time scale to compare in provider time.

import { createServer } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  createNodeListener,
  EnrichmentEngine,
  FullEnrichClient,
  MemoryEventStore,
  WebhookReceiver,
} from "../../dist/index.js";
import { startSimulator } from "../../dist/simulator/index.js";
import { contactsFor, EmissionLog, summarise } from "./measure.mjs";
import { engineOptions } from "./modes.mjs";

const KEY = "bench-polling-vs-webhooks-key";
const MINUTE = 60_000;
export const REALTIME_SCALE = 0.01;

const listen = (server, port) =>
  new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve(server.address().port);
    });
  });

const closeServer = (server) =>
  new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.closeAllConnections();
    server.close(() => resolve());
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One scenario × mode in real time. `horizonMs` is in provider time. The receiver's port is
 * reserved, then closed during the outage (connections are refused), then listened on again.
 */
export async function runRealtime({ mode, batchSize, enrichments, outageMin, seed, horizonMs }) {
  const scale = REALTIME_SCALE;
  const store = new MemoryEventStore();
  const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
  const server = createServer(createNodeListener(receiver, { path: "/fullenrich" }));
  const port = await listen(server, 0);
  if (outageMin > 0) await closeServer(server);
  const sim = await startSimulator({ apiKeys: [KEY], timeScale: scale, seed });
  let lastCallAt = 0;
  const client = new FullEnrichClient({
    apiKey: KEY,
    baseUrl: sim.baseUrl,
    timeScale: scale,
    fetch: (url, init) => {
      lastCallAt = Date.now();
      return fetch(url, init);
    },
  });
  const engine = await EnrichmentEngine.start({
    client,
    store,
    ...engineOptions(mode, { seed, hookUrl: `http://127.0.0.1:${port}/fullenrich`, receiver }),
  });
  const emissions = new EmissionLog(() => Date.now());
  const contactsTotal = enrichments * batchSize;
  const origin = Date.now();
  let reopen;
  if (outageMin > 0) {
    reopen = sleep(outageMin * MINUTE * scale).then(() => listen(server, port));
  }
  const wallStart = performance.now();
  // How late this process's timers ran: at this time scale, each real millisecond is 100 ms of
  // provider time, so a busy machine shows up here first.
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  for (let job = 0; job < enrichments; job++) {
    emissions.follow(engine.enrich(contactsFor(job, batchSize), { batchSize, name: `bench ${job}` }));
  }
  // Until everything is emitted (then two more provider minutes, to see a late duplicate), or
  // the horizon. Bounded by the horizon.
  const horizonAt = origin + horizonMs * scale;
  let allAt = null;
  while (Date.now() < horizonAt) {
    await sleep(20);
    if (allAt === null && emissions.distinct >= contactsTotal) allAt = Date.now();
    if (allAt !== null && Date.now() - allAt >= 2 * MINUTE * scale) break;
  }
  await reopen;
  const summary = summarise({
    simulator: sim.simulator,
    emissions,
    enrichments,
    contactsTotal,
    lastCallAt: Math.max(lastCallAt, origin),
    lastDeliveryAt: Math.max(origin, ...sim.simulator.deliveries().map((entry) => entry.at)),
    callWindowMs: MINUTE * scale,
    origin,
    scale,
  });
  const wallMs = performance.now() - wallStart;
  lag.disable();
  const eventLoopDelayMs = {
    p50: lag.percentile(50) / 1e6,
    p99: lag.percentile(99) / 1e6,
    max: lag.max / 1e6,
  };
  await engine.close();
  await client.close();
  await sim.close();
  await closeServer(server);
  receiver.close();
  await store.close();
  if (mode.library && summary.duplicatesEmitted !== 0) {
    throw new Error(
      `EXACTLY-ONCE VIOLATED over loopback: ${mode.id} emitted ${summary.duplicatesEmitted} duplicates`,
    );
  }
  return { ...summary, eventLoopDelayMs, run: { wallMs, timeScale: scale } };
}
