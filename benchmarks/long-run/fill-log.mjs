// Fills an event log with N settled contacts, as fullenrich-rx itself would have written them over
// months (the compiled modules: run `npm run build` first):
//
//   node benchmarks/long-run/fill-log.mjs --contacts 100000 --store /tmp/log.db [--batch 100]
//
// Per batch of 100 contacts: the API calls, the request (with each contact's identity), the
// answer, the batch webhook (100 records), each contact's result (tagged by identity and job) and
// the completion; a job plan every 100 batches. The reconciler's checkpoint and the tags checkpoint
// are set to the head, as an engine that wrote the log would have left them. Prints one JSON line.
import { performance } from "node:perf_hooks";
import { tagsOf } from "../../dist/engine/event-tags.js";
import { contactIdentity } from "../../dist/events/contact-identity.js";
import { dedupKeys, newEvent, streams } from "../../dist/events/event-types.js";
import { openStore } from "../../dist/events/stores/index.js";

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : process.argv[index + 1];
}

const total = Number(option("--contacts", 100_000));
const batchSize = Number(option("--batch", 100));
const location = option("--store", "/tmp/fxr-long-run.db");
const keying = { correlationKey: "_fxr", idField: null };
const fields = ["contact.work_emails"];

function contact(n, batchId, index) {
  return {
    first_name: `First${n}`,
    last_name: `Last${n}`,
    domain: `company${n % 5000}.example`,
    enrich_fields: fields,
    custom: { crm_id: `crm-${n}`, _fxr: `${batchId}.${index}` },
  };
}

function record(person, found) {
  return {
    input: { first_name: person.first_name, last_name: person.last_name, company_domain: person.domain },
    custom: person.custom,
    contact_info: found
      ? {
          most_probable_work_email: {
            email: `${person.first_name.toLowerCase()}@${person.domain}`,
            status: "DELIVERABLE",
          },
          work_emails: [
            { email: `${person.first_name.toLowerCase()}@${person.domain}`, status: "DELIVERABLE" },
          ],
        }
      : {},
  };
}

const tagged = (event) => ({ ...event, tags: tagsOf(event) });

const store = await openStore(location);
const started = performance.now();
let at = Date.UTC(2026, 0, 1);
const appends = [];
for (let first = 0, b = 0; first < total; first += batchSize, b++) {
  const jobId = `history-${Math.floor(b / 100)}`;
  const batchId = `b${b}`;
  const enrichmentId = `e${b}`;
  const people = [];
  for (let i = 0; i < Math.min(batchSize, total - first); i++) people.push(contact(first + i, batchId, i));
  const keys = people.map((_, i) => `c:${batchId}.${i}`);
  at += 60_000;
  if (b % 100 === 0) {
    const planned = newEvent("job.planned", {
      jobId,
      kind: "enrich",
      name: "history",
      rows: 100 * batchSize,
      contacts: 100 * batchSize,
      reused: 0,
      following: 0,
      ambiguous: 0,
      toSend: 100 * batchSize,
      refresh: false,
      plannedAt: at,
    });
    appends.push(store.append(streams.job(jobId), [tagged(planned)]));
  }
  appends.push(store.append(streams.calls, [newEvent("api.called", { calledAt: at, priority: "submit" })]));
  const requested = newEvent(
    "enrichment.requested",
    {
      batchId,
      jobId,
      batchIndex: b % 100,
      contactsDigest: "x",
      kind: "enrich",
      name: "history",
      contacts: people.map((person, i) => ({
        key: keys[i],
        contact: person,
        identity: contactIdentity("enrich", person, "_fxr"),
      })),
      keying,
      webhookUrl: "https://hooks.example/fullenrich",
      contactWebhookUrl: null,
      mode: "webhook",
      requestedAt: at,
    },
    dedupKeys.requested(batchId),
  );
  appends.push(
    store.append(streams.batch(batchId), [
      tagged(requested),
      newEvent(
        "enrichment.accepted",
        { batchId, enrichmentId, acceptedAt: at + 200 },
        dedupKeys.accepted(batchId),
      ),
    ]),
  );
  const records = people.map((person, i) => record(person, (first + i) % 3 !== 0));
  const digest = `d${b}`;
  const payload = {
    id: enrichmentId,
    name: "history",
    status: "FINISHED",
    cost: { credits: batchSize },
    data: records,
  };
  const delivered = await store.append(streams.deliveries, [
    newEvent(
      "webhook.received",
      { digest, event: "batch", enrichmentId, verified: true, payload, receivedAt: at + 90_000 },
      dedupKeys.delivery(digest),
    ),
  ]);
  const observation = delivered.appended[0]?.position ?? 0;
  const resolved = people.map((_person, i) =>
    tagged(
      newEvent(
        "contact.resolved",
        {
          enrichmentId,
          contactKey: keys[i],
          kind: "enrich",
          batchId,
          jobId,
          source: "webhook",
          via: "batch-event",
          status: "FINISHED",
          record: records[i],
          input: requested.data.contacts[i].contact,
          identity: requested.data.contacts[i].identity,
          observation,
          resolvedAt: at + 90_000,
        },
        dedupKeys.resolved(enrichmentId, keys[i]),
      ),
    ),
  );
  appends.push(
    store.append(streams.enrichment(enrichmentId), [
      ...resolved,
      newEvent(
        "enrichment.completed",
        {
          enrichmentId,
          batchId,
          status: "FINISHED",
          credits: batchSize,
          source: "webhook",
          contacts: people.length,
          completedAt: at + 90_000,
        },
        dedupKeys.completed(enrichmentId),
      ),
    ]),
  );
  if (appends.length >= 64) await Promise.all(appends.splice(0));
}
await Promise.all(appends);
const head = await store.head();
await store.setCheckpoint("fullenrich-rx.reconciler", head);
await store.setCheckpoint("fullenrich-rx.tagged", head);
await store.close();
console.log(JSON.stringify({ contacts: total, events: head, seconds: (performance.now() - started) / 1000 }));
