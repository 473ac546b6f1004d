// A job on a machine with no public URL (a laptop, a CI runner, a cron job): results come by
// polling, paced inside the account's budget, with progress as they come.
//
//   FULLENRICH_API_KEY=… node examples/polling-only.mjs
import { EnrichmentEngine, FullEnrichClient, SqliteEventStore } from "fullenrich-rx";

const client = new FullEnrichClient({
  apiKey: process.env.FULLENRICH_API_KEY,
  baseUrl: process.env.FULLENRICH_BASE_URL,
  timeScale: Number(process.env.FULLENRICH_TIME_SCALE ?? 1),
  rateLimit: 30, // leave half of the 60 calls per minute to the rest of your stack
});
const store = await SqliteEventStore.open(process.env.STORE_PATH ?? ".fullenrich-rx/examples.db");
const engine = await EnrichmentEngine.start({ client, store, mode: "polling" });

const contacts = Array.from({ length: 12 }, (_, i) => ({
  first_name: `Person${i}`,
  last_name: "Example",
  domain: "example.com",
  custom: { crm_id: String(100 + i) },
}));
const job = engine.enrich(contacts, { name: "examples/polling-only", batchSize: 5 });

job.progress$.subscribe((p) => console.log(`progress ${p.resolved}/${p.total}, ${p.apiCalls} API calls`));
job.results$.subscribe((result) =>
  console.log(`result ${result.custom.crm_id} ${result.found ? "found" : "nothing found"}`),
);

const summary = await job.summary;
console.log(`done: ${summary.resolved}/${summary.total} by polling ${summary.bySource.poll}`);
await engine.close();
await client.close();
await store.close();
