// Subscribe and go: a plain Node script that enriches a few contacts and prints each result as it
// arrives. No public URL here, so the engine polls (within the shared 60-calls-per-minute budget).
//
//   FULLENRICH_API_KEY=… node examples/subscribe.mjs
import { EnrichmentEngine, FullEnrichClient, SqliteEventStore } from "fullenrich-rx";

const client = new FullEnrichClient({
  apiKey: process.env.FULLENRICH_API_KEY,
  baseUrl: process.env.FULLENRICH_BASE_URL, // unset: the public API
  timeScale: Number(process.env.FULLENRICH_TIME_SCALE ?? 1), // < 1 only against the simulator
});
const store = await SqliteEventStore.open(process.env.STORE_PATH ?? ".fullenrich-rx/examples.db");
const engine = await EnrichmentEngine.start({ client, store });

// Every contact resolved by this engine, whichever job asked for it.
engine.results$.subscribe((result) => {
  const email = result.contactInfo?.most_probable_work_email?.email ?? "no email found";
  console.log(`result ${result.custom.crm_id}: ${email} (${result.status}, by ${result.source})`);
});

const job = engine.enrich(
  [
    { first_name: "Ada", last_name: "Lovelace", domain: "example.com", custom: { crm_id: "1" } },
    { first_name: "Alan", last_name: "Turing", company_name: "Bletchley Park", custom: { crm_id: "2" } },
    { linkedin_url: "https://www.linkedin.com/in/grace-hopper", custom: { crm_id: "3" } },
  ],
  { name: "examples/subscribe", enrichFields: ["contact.work_emails"] },
);

const summary = await job.summary;
console.log(`done: ${summary.resolved}/${summary.total} contacts, ${summary.apiCalls} API calls`);
await engine.close();
await client.close();
await store.close();
