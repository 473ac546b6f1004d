// Exactly-once processing across restarts, with a checkpoint kept in the same store.
// The consumer reads results after its stored checkpoint, processes each one, then commits the
// result's log position. After a crash, the next run starts after the last commit: nothing is
// processed twice, nothing is skipped. (Make the processing idempotent by `contactKey` to also
// cover a crash between processing and commit, as here with a keyed file.)
//
//   FULLENRICH_API_KEY=… node examples/exactly-once.mjs [--crash-after N]
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { EnrichmentEngine, FullEnrichClient, SqliteEventStore } from "fullenrich-rx";
import { concatMap } from "rxjs";

const crashAfter = process.argv.includes("--crash-after") ? Number(process.argv.at(-1)) : Infinity;
const outFile = process.env.OUT_FILE ?? "crm-updates.json";
const client = new FullEnrichClient({
  apiKey: process.env.FULLENRICH_API_KEY,
  baseUrl: process.env.FULLENRICH_BASE_URL,
  timeScale: Number(process.env.FULLENRICH_TIME_SCALE ?? 1),
});
const store = await SqliteEventStore.open(process.env.STORE_PATH ?? ".fullenrich-rx/examples.db");
const engine = await EnrichmentEngine.start({ client, store });
await engine.resume(); // a restart: follow what the last run left unfinished

// The "CRM": one entry per contact key; processing the same key twice would be a bug to see.
const crm = existsSync(outFile) ? JSON.parse(readFileSync(outFile, "utf8")) : { updates: [] };

// The same job id every run: the rerun submits nothing already submitted.
const contacts = Array.from({ length: 6 }, (_, i) => ({
  first_name: `Customer${i}`,
  last_name: "Example",
  domain: "example.com",
  custom: { crm_id: `cust-${i}` },
}));
const job = engine.enrich(contacts, { jobId: "examples-exactly-once", name: "examples/exactly-once" });

const consumer = engine.consumer("crm-sync");
let processed = 0;
/** The processing: idempotent by contact key, then the checkpoint. */
async function processResult(result) {
  if (result.jobId === job.id && !crm.updates.some((update) => update.key === result.contactKey)) {
    crm.updates.push({ key: result.contactKey, crm_id: result.custom.crm_id, found: result.found });
    writeFileSync(outFile, JSON.stringify(crm));
  }
  await consumer.commit(result.position);
  processed++;
  if (processed >= crashAfter) {
    console.log(`crashing on purpose after ${processed} results`);
    process.exit(3);
  }
}
await new Promise((resolve, reject) => {
  const subscription = consumer.results$
    .pipe(concatMap((result) => processResult(result))) // one at a time, in log order
    .subscribe({
      next: () => {
        if (crm.updates.length === contacts.length) {
          subscription.unsubscribe();
          resolve();
        }
      },
      error: reject,
    });
});
await job.summary;
console.log(
  `processed ${processed} this run, ${crm.updates.length} in total, checkpoint ${await consumer.checkpoint()}`,
);
await engine.close();
await client.close();
await store.close();
