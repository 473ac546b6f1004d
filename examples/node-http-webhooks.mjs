// Webhooks on a plain node:http server: the provider POSTs results to PUBLIC_URL; the receiver
// verifies each delivery's signature, stores it, and only then answers 2xx. Polling only takes
// over for a batch whose webhook is overdue.
//
//   FULLENRICH_API_KEY=… PUBLIC_URL=https://your.host/webhooks/fullenrich PORT=3000 node examples/node-http-webhooks.mjs
import { createServer } from "node:http";
import {
  createNodeListener,
  EnrichmentEngine,
  FullEnrichClient,
  SqliteEventStore,
  WebhookReceiver,
} from "fullenrich-rx";

const apiKey = process.env.FULLENRICH_API_KEY;
const client = new FullEnrichClient({
  apiKey,
  baseUrl: process.env.FULLENRICH_BASE_URL,
  timeScale: Number(process.env.FULLENRICH_TIME_SCALE ?? 1),
});
const store = await SqliteEventStore.open(process.env.STORE_PATH ?? ".fullenrich-rx/examples.db");
const receiver = new WebhookReceiver({ store, apiKeys: [apiKey] });

// Deliveries are taken on PUBLIC_URL's path only (404 elsewhere); GET /healthz answers probes.
const server = createServer(createNodeListener(receiver, { path: new URL(process.env.PUBLIC_URL).pathname }));
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 3000), resolve));

const engine = await EnrichmentEngine.start({
  client,
  store,
  webhook: { url: process.env.PUBLIC_URL, contactEvents: true, receiver },
});
const job = engine.enrich(
  [
    { first_name: "Ada", last_name: "Lovelace", domain: "example.com", custom: { crm_id: "1" } },
    { first_name: "Alan", last_name: "Turing", domain: "example.org", custom: { crm_id: "2" } },
  ],
  { name: "examples/node-http" },
);
job.results$.subscribe((result) =>
  console.log(`result ${result.custom.crm_id} by ${result.source} (${result.via})`),
);

const summary = await job.summary;
console.log(
  `done: ${summary.resolved}/${summary.total}, deliveries accepted ${receiver.counters().accepted}`,
);
await engine.close();
server.close();
await client.close();
await store.close();
