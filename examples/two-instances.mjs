// Two (or more) instances of an app, one event log and one rate limit: start this script twice.
// The log is in PostgreSQL, the 60-calls-per-minute budget and the polling leases in Redis, so the
// instances together stay inside the budget, each contact is emitted once, and when one instance
// dies the others take over its enrichments.
//
// It needs pg and ioredis (optional peer dependencies): npm install pg ioredis
//   DATABASE_URL=postgres://… REDIS_URL=redis://… INSTANCE=a FULLENRICH_API_KEY=… node examples/two-instances.mjs
//   DATABASE_URL=postgres://… REDIS_URL=redis://… INSTANCE=b FULLENRICH_API_KEY=… node examples/two-instances.mjs
import { EnrichmentEngine, FullEnrichClient } from "fullenrich-rx";
import { PostgresEventStore } from "fullenrich-rx/postgres";
import { createRedisCallLimiter, RedisPollLeases } from "fullenrich-rx/redis";

const instance = process.env.INSTANCE ?? "a";
const timeScale = Number(process.env.FULLENRICH_TIME_SCALE ?? 1);
const prefix = process.env.REDIS_PREFIX ?? "fullenrich-rx:example:"; // one per FullEnrich account

const store = await PostgresEventStore.open(process.env.DATABASE_URL);
const limiter = await createRedisCallLimiter({
  url: process.env.REDIS_URL,
  limit: 60,
  windowMs: 60_000 * timeScale,
  keyPrefix: `${prefix}budget:`,
});
const leases = await RedisPollLeases.connect({ url: process.env.REDIS_URL, keyPrefix: `${prefix}lease:` });
const client = new FullEnrichClient({
  apiKey: process.env.FULLENRICH_API_KEY,
  baseUrl: process.env.FULLENRICH_BASE_URL,
  timeScale,
  limiter, // every instance draws on the one budget
});
const engine = await EnrichmentEngine.start({ client, store, mode: "polling", leases, instanceId: instance });

const contacts = Array.from({ length: 20 }, (_, i) => ({
  first_name: `Member${i}`,
  last_name: `Team${instance.toUpperCase()}`,
  domain: "example.com",
  custom: { crm_id: `${instance}-${i}` },
}));
const job = engine.enrich(contacts, { name: `examples/two-instances ${instance}`, batchSize: 5 });
job.results$.subscribe((result) => console.log(`result ${result.custom.crm_id} by ${result.source}`));

const summary = await job.summary;
console.log(`instance ${instance} done: ${summary.resolved}/${summary.total}, ${summary.apiCalls} API calls`);
await engine.close();
await client.close(); // its limiter is shared: stop it ourselves
await limiter.stop();
await leases.close();
await store.close();
