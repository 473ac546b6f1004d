// One measurement in a fresh process (so that its memory is its own), printing one JSON line:
//   node benchmarks/long-run/measure.mjs start  <store>   an engine start (and a clean close)
//   node benchmarks/long-run/measure.mjs lookup <store> <n>   n identities looked up by tag
import { performance } from "node:perf_hooks";
import { KnownContacts } from "../../dist/engine/known-contacts.js";
import { contactIdentity } from "../../dist/events/contact-identity.js";
import { openStore } from "../../dist/events/stores/index.js";
import { EnrichmentEngine, FullEnrichClient } from "../../dist/index.js";

const [what, location, count] = process.argv.slice(2);
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20);

const store = await openStore(location);
const started = performance.now();
let result;
if (what === "start") {
  const client = new FullEnrichClient({ apiKey: "bench", baseUrl: "http://127.0.0.1:9/api/v2" });
  const engine = await EnrichmentEngine.start({ client, store });
  const startMs = performance.now() - started;
  peak = Math.max(peak, process.memoryUsage().rss);
  const closing = performance.now();
  await engine.close();
  await client.close();
  result = { startMs, closeMs: performance.now() - closing, read: store.readCounters() };
} else {
  const n = Number(count);
  const identities = Array.from({ length: n }, (_, i) =>
    contactIdentity(
      "enrich",
      {
        first_name: `First${i * 7}`,
        last_name: `Last${i * 7}`,
        domain: `company${(i * 7) % 5000}.example`,
        enrich_fields: ["contact.work_emails"],
        custom: { crm_id: `crm-${i * 7}` },
      },
      "_fxr",
    ),
  );
  const found = await new KnownContacts(store).latest(identities, () => true);
  result = { lookupMs: performance.now() - started, asked: n, found: found.size };
}
await store.close();
clearInterval(sampler);
console.log(JSON.stringify({ ...result, peakRssMb: Math.round(peak / 1e6) }));
