// A child process running the engine on a SQLite file, for crash tests: it enriches a fixed job
// and prints one JSON line per result (and "ready" once the batches are submitted).
// argv: storePath baseUrl apiKey timeScale contacts batchSize jobId mode [webhookPort]
import { createServer } from "node:http";
import {
  createNodeListener,
  EnrichmentEngine,
  FullEnrichClient,
  SqliteEventStore,
  WebhookReceiver,
} from "../../dist/index.js";

const [storePath, baseUrl, apiKey, timeScale, count, batchSize, jobId, mode, webhookPort] =
  process.argv.slice(2);
const store = await SqliteEventStore.open(storePath);
const client = new FullEnrichClient({ apiKey, baseUrl, timeScale: Number(timeScale) });
let webhook;
if (mode !== "polling") {
  const receiver = new WebhookReceiver({ store, apiKeys: [apiKey] });
  const server = createServer(createNodeListener(receiver, { path: "/" }));
  await new Promise((resolve) => server.listen(Number(webhookPort), "127.0.0.1", resolve));
  webhook = { url: `http://127.0.0.1:${webhookPort}/`, receiver, contactEvents: true };
}
const engine = await EnrichmentEngine.start({ client, store, mode, ...(webhook ? { webhook } : {}) });
const resumed = await engine.resume();
process.stdout.write(
  `${JSON.stringify({ resumed: resumed.resumed.length, ambiguous: resumed.ambiguous.length })}\n`,
);
const contacts = Array.from({ length: Number(count) }, (_, i) => ({
  first_name: `Kid${i}`,
  last_name: `Crash${i}`,
  domain: `crash${i % 4}.example`,
  custom: { row: String(i) },
}));
const job = engine.enrich(contacts, { jobId, batchSize: Number(batchSize), name: "crash test" });
job.results$.subscribe({
  next: (result) =>
    process.stdout.write(
      `${JSON.stringify({ row: result.custom.row, key: result.contactKey, source: result.source })}\n`,
    ),
  complete: async () => {
    const summary = await job.summary;
    process.stdout.write(
      `${JSON.stringify({ done: true, resolved: summary.resolved, failures: summary.failures.length })}\n`,
    );
    await engine.close();
    await client.close();
    await store.close();
    process.exit(0);
  },
  error: (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
});
