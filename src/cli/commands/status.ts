import { type DomainEvent, parseEvent } from "../../events/event-types.js";
import { isAmbiguous, isCleanlyRejected, isSettled } from "../../events/projections/enrichment-state.js";
import { EnrichmentsProjection } from "../../events/projections/enrichments-projection.js";
import { parseFlags } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { openExistingStore, storeLocation } from "../runtime.js";
import { DEFAULT_STORE } from "./lookup.js";

export const STATUS_USAGE = `fullenrich-rx status [--store PATH|URL] [--json]

The enrichments in the event log and where each stands: submitted, waiting on webhooks, polling,
completed or failed, contacts resolved, by webhook or by polling; ambiguous submissions; webhook
deliveries quarantined because they could not be parsed (kept: \`reprocess\` parses them again
after an upgrade).`;

interface BatchLine {
  job: string;
  batch: string;
  name: string;
  enrichmentId: string | null;
  state: string;
  resolved: number;
  contacts: number;
  mode: string;
  detail: string | null;
}

export async function statusCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, { store: { type: "string" }, json: { type: "boolean" } });
  const path = storeLocation(io.cwd, values.store ?? DEFAULT_STORE);
  const store = await openExistingStore(path);
  try {
    const projection = new EnrichmentsProjection();
    const seenQuarantined: { position: number; digest: string; reason: string }[] = [];
    const events: DomainEvent[] = (await store.read()).map(parseEvent);
    const reprocessed = new Set<string>();
    for (const event of events) {
      projection.evolve(event);
      if (event.type === "webhook.quarantined") {
        seenQuarantined.push({
          position: event.position,
          digest: event.data.digest,
          reason: event.data.reason,
        });
      } else if (event.type === "webhook.received" && event.data.reprocessedAt !== undefined) {
        reprocessed.add(event.data.digest);
      }
    }
    // Those parsed again since (`reprocess`) are no longer waiting for anyone.
    const quarantined = seenQuarantined.filter((item) => !reprocessed.has(item.digest));
    const lines: BatchLine[] = [...projection.batches()].map((batch) => {
      const enrichment = batch.enrichmentId ? projection.enrichment(batch.enrichmentId) : undefined;
      let state: string;
      let detail: string | null = null;
      if (batch.enrichmentId === null) {
        state = isAmbiguous(batch) ? "ambiguous" : "rejected";
        detail = batch.rejected?.error.message ?? "requested; no answer recorded";
      } else if (enrichment?.completed) {
        state = `completed ${enrichment.completed.status}`;
      } else if (enrichment?.failed) {
        state = `failed (${enrichment.failed.reason})`;
        detail = enrichment.failed.message;
      } else if (enrichment?.fallback || batch.mode !== "webhook") {
        state = "polling";
        detail = enrichment?.fallback ? `fallback: ${enrichment.fallback.reason}` : null;
      } else {
        state = "waiting for webhooks";
      }
      return {
        job: batch.jobId,
        batch: batch.batchId,
        name: batch.name,
        enrichmentId: batch.enrichmentId,
        state,
        resolved: enrichment?.resolved.size ?? 0,
        contacts: batch.keys.length,
        mode: batch.mode,
        detail,
      };
    });
    const foreign = [...projection.enrichments()].filter((enrichment) => enrichment.batchId === null);
    const bySource = { webhook: 0, poll: 0 };
    let reused = 0;
    let credits = 0;
    for (const event of events) {
      if (event.type === "contact.resolved") bySource[event.data.source]++;
      else if (event.type === "job.planned") reused += event.data.reused;
      else if (event.type === "enrichment.completed") credits += event.data.credits ?? 0;
    }
    // Contacts POSTed in a batch that was not refused outright (it may have been billed).
    const sent = [...projection.batches()]
      .filter((batch) => !isCleanlyRejected(batch))
      .reduce((sum, batch) => sum + batch.keys.length, 0);
    const unfinished = lines.filter(
      (line) => line.state === "polling" || line.state === "waiting for webhooks",
    ).length;

    if (values.json) {
      print(
        io.stdout,
        JSON.stringify({
          store: path,
          events: events.length,
          batches: lines,
          unfinished,
          contacts: { sent, reused },
          credits,
          resolvedBySource: bySource,
          otherEnrichments: foreign.map((e) => ({
            enrichmentId: e.enrichmentId,
            resolved: e.resolved.size,
            settled: isSettled(e),
          })),
          quarantined,
        }),
      );
      return 0;
    }
    print(
      io.stdout,
      `event log ${path}: ${events.length} events, ${lines.length} batches (${unfinished} unfinished)`,
    );
    for (const line of lines) {
      print(
        io.stdout,
        `  ${line.name} [job ${line.job}, batch ${line.batch}] ${line.enrichmentId ?? "-"}: ${line.state}, ${line.resolved}/${line.contacts} contacts${line.detail ? ` — ${line.detail}` : ""}`,
      );
    }
    print(io.stdout, `results by webhook ${bySource.webhook}, by polling ${bySource.poll}`);
    print(
      io.stdout,
      `contacts sent ${sent}, reused from the log ${reused} (no call, no wait); credits spent ${credits}`,
    );
    if (foreign.length > 0) {
      print(
        io.stdout,
        `${foreign.length} enrichments started elsewhere (deliveries received): ${foreign.map((e) => `${e.enrichmentId} (${e.resolved.size} resolved)`).join(", ")}`,
      );
    }
    if (quarantined.length > 0) {
      print(
        io.stdout,
        `${quarantined.length} webhook deliveries QUARANTINED (signed, stored, but not parseable; after upgrading, \`fullenrich-rx reprocess\` parses them again):`,
      );
      for (const item of quarantined)
        print(io.stdout, `  position ${item.position}, sha256 ${item.digest.slice(0, 12)}…: ${item.reason}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
