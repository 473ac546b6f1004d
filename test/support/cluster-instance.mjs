// One engine instance of a cluster test: PostgreSQL log, Redis rate limit and poll leases, its own
// webhook receiver. Prints a JSON line per result of its own job ("job") and per result the engine
// emits for any job ("engine"), then {"done":…} when its job settles. Runs until SIGTERM.
// argv: storeUrl redisUrl keyPrefix baseUrl apiKey timeScale receiverPort publicUrl jobId firstRow rows batchSize instanceId
import { createServer } from "node:http";
import { createNodeListener, EnrichmentEngine, FullEnrichClient, WebhookReceiver } from "../../dist/index.js";
import { PostgresEventStore } from "../../dist/postgres.js";
import { createRedisCallLimiter, RedisPollLeases } from "../../dist/redis.js";

const [
  storeUrl,
  redisUrl,
  prefix,
  baseUrl,
  apiKey,
  timeScale,
  port,
  publicUrl,
  jobId,
  firstRow,
  rows,
  batchSize,
  instanceId,
] = process.argv.slice(2);
const scale = Number(timeScale);
const out = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
// Warnings and errors on stderr (the test prints them), so that a run that stalls says why.
const report = (level) => (message, fields) =>
  process.stderr.write(`cluster ${instanceId} ${level}: ${message} ${JSON.stringify(fields ?? {})}\n`);
const logger = { debug: () => {}, info: () => {}, warn: report("warn"), error: report("error") };

const store = await PostgresEventStore.open(storeUrl, { logger });
const limiter = await createRedisCallLimiter({
  url: redisUrl,
  limit: 60,
  windowMs: 60_000 * scale,
  keyPrefix: `${prefix}budget:`,
});
const leases = await RedisPollLeases.connect({ url: redisUrl, keyPrefix: `${prefix}lease:` });
const client = new FullEnrichClient({ apiKey, baseUrl, timeScale: scale, limiter });
const receiver = new WebhookReceiver({ store, apiKeys: [apiKey], logger });
const server = createServer(createNodeListener(receiver, { path: new URL(publicUrl).pathname }));
await new Promise((resolve) => server.listen(Number(port), "127.0.0.1", resolve));
const engine = await EnrichmentEngine.start({
  client,
  store,
  webhook: { url: publicUrl, contactEvents: true, receiver },
  leases,
  instanceId,
  logger,
});
engine.results$.subscribe((r) =>
  out({ engine: r.custom.row, enrichmentId: r.enrichmentId, source: r.source }),
);
const contacts = Array.from({ length: Number(rows) }, (_, i) => ({
  first_name: `Node${Number(firstRow) + i}`,
  last_name: "Cluster",
  domain: `cluster${(Number(firstRow) + i) % 3}.example`,
  custom: { row: String(Number(firstRow) + i) },
}));
const job = engine.enrich(contacts, { jobId, batchSize: Number(batchSize), name: `cluster ${instanceId}` });
out({ ready: instanceId });
job.results$.subscribe((r) => out({ job: r.custom.row, enrichmentId: r.enrichmentId, source: r.source }));
job.summary.then((summary) =>
  out({ done: instanceId, resolved: summary.resolved, failures: summary.failures.length }),
);

process.once("SIGTERM", async () => {
  await engine.close();
  server.closeAllConnections();
  server.close();
  await client.close();
  await leases.close();
  await store.close();
  process.exit(0);
});
