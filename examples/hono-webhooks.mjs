// Webhooks with Hono, through the fetch-style handler `(request: Request) => Promise<Response>`:
// the same handler serves Next.js route handlers (`export const POST = handler`), Bun and Deno.
//
//   FULLENRICH_API_KEY=… PUBLIC_URL=https://your.host/webhooks/fullenrich PORT=3000 node examples/hono-webhooks.mjs
import { serve } from "@hono/node-server";
import {
  createFetchHandler,
  EnrichmentEngine,
  FullEnrichClient,
  SqliteEventStore,
  WebhookReceiver,
} from "fullenrich-rx";
import { Hono } from "hono";

const apiKey = process.env.FULLENRICH_API_KEY;
const client = new FullEnrichClient({
  apiKey,
  baseUrl: process.env.FULLENRICH_BASE_URL,
  timeScale: Number(process.env.FULLENRICH_TIME_SCALE ?? 1),
});
const store = await SqliteEventStore.open(process.env.STORE_PATH ?? ".fullenrich-rx/examples.db");
const receiver = new WebhookReceiver({ store, apiKeys: [apiKey] });
const handle = createFetchHandler(receiver);

const app = new Hono();
app.post("/webhooks/fullenrich", (c) => handle(c.req.raw));
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) });

const engine = await EnrichmentEngine.start({
  client,
  store,
  webhook: { url: process.env.PUBLIC_URL ?? "https://your.host/webhooks/fullenrich", receiver },
});
const job = engine.reverseLookup(["ada@example.com", "alan@example.org"], { name: "examples/hono" });
job.results$.subscribe((result) =>
  console.log(`result ${result.input?.email}: ${result.found ? "profile found" : "nothing found"}`),
);

const summary = await job.summary;
console.log(
  `done: ${summary.resolved}/${summary.total} (webhook ${summary.bySource.webhook}, poll ${summary.bySource.poll})`,
);
await engine.close();
server.close();
await client.close();
await store.close();
