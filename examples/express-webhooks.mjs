// Webhooks in an Express app. The middleware needs the raw body (the signature covers the exact
// bytes): mount it BEFORE express.json(), or give its route express.raw({ type: "*\/*" }).
//
//   FULLENRICH_API_KEY=… PUBLIC_URL=https://your.host/webhooks/fullenrich PORT=3000 node examples/express-webhooks.mjs
import express from "express";
import {
  createExpressMiddleware,
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

const app = express();
app.post("/webhooks/fullenrich", createExpressMiddleware(receiver)); // before any JSON parser
app.use(express.json()); // the rest of your API
app.get("/health", (_req, res) => res.json({ ok: true, webhooks: receiver.counters() }));
const server = app.listen(Number(process.env.PORT ?? 3000));

const engine = await EnrichmentEngine.start({
  client,
  store,
  webhook: { url: process.env.PUBLIC_URL ?? "https://your.host/webhooks/fullenrich", receiver },
});
const job = engine.enrich(
  [
    { first_name: "Grace", last_name: "Hopper", domain: "navy.example", custom: { crm_id: "7" } },
    { first_name: "Edsger", last_name: "Dijkstra", domain: "tue.example", custom: { crm_id: "8" } },
    { first_name: "Barbara", last_name: "Liskov", domain: "mit.example", custom: { crm_id: "9" } },
  ],
  { name: "examples/express" },
);
job.results$.subscribe((result) => console.log(`result ${result.custom.crm_id} by ${result.source}`));

const summary = await job.summary;
console.log(
  `done: ${summary.resolved}/${summary.total} (webhook ${summary.bySource.webhook}, poll ${summary.bySource.poll})`,
);
await engine.close();
server.close();
await client.close();
await store.close();
