import { ProjectionKeeper } from "../../engine/projection-keeper.js";
import { awaitsAdoption, isAmbiguous, isSettled } from "../../events/projections/enrichment-state.js";
import { silentLogger } from "../../internal/logger.js";
import { parseFlags } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { openExistingStore, storeLocation } from "../runtime.js";
import { DEFAULT_STORE } from "./lookup.js";

export const STATUS_USAGE = `fullenrich-rx status [--store PATH|URL] [--json]

What the event log holds: every batch still open and where it stands (sent and awaiting a
delivery, waiting on webhooks, polling, ambiguous), the latest settled ones (completed or failed),
totals (contacts sent, reused from the log, resolved by webhook or by polling, credits spent), and
webhook deliveries quarantined because they could not be parsed (kept: \`reprocess\` parses them
again after an upgrade). Reads the projection's latest snapshot and only the log after it.`;

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
    // The latest snapshot, then only what came after it: proportional to open work, not history.
    const keeper = await ProjectionKeeper.load({ store, logger: silentLogger, readOnly: true });
    await keeper.catchUp();
    const { projection } = keeper;
    const head = await store.head();
    const open: BatchLine[] = [...projection.batches()].map((batch) => {
      const enrichment = batch.enrichmentId ? projection.enrichment(batch.enrichmentId) : undefined;
      let state: string;
      let detail: string | null = null;
      if (batch.enrichmentId === null) {
        state = awaitsAdoption(batch)
          ? "sent, awaiting a delivery"
          : isAmbiguous(batch)
            ? "ambiguous"
            : "rejected";
        detail = batch.abandoned?.reason ?? batch.rejected?.error.message ?? "requested; no answer recorded";
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
    const settled: BatchLine[] = projection.settledBatches().map((batch) => ({
      job: batch.jobId,
      batch: batch.batchId,
      name: batch.name,
      enrichmentId: batch.enrichmentId,
      state: batch.state,
      resolved: batch.resolved,
      contacts: batch.contacts,
      mode: batch.mode,
      detail: batch.detail,
    }));
    const lines = [...settled, ...open];
    const totals = projection.totals();
    const quarantined = projection.quarantined();
    const foreign = [...projection.enrichments()].filter((enrichment) => enrichment.batchId === null);
    const unfinished = open.filter(
      (line) => line.state === "polling" || line.state === "waiting for webhooks",
    ).length;
    const settledCount = totals.completed + totals.failed;
    const earlier = settledCount - settled.filter((line) => !line.state.startsWith("rejected")).length;

    if (values.json) {
      print(
        io.stdout,
        JSON.stringify({
          store: path,
          events: head,
          batches: lines,
          unfinished,
          settled: settledCount,
          contacts: { sent: totals.contactsSent, reused: totals.reused },
          credits: totals.credits,
          resolvedBySource: totals.resolved,
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
      `event log ${path}: ${head} events, ${totals.batches} batches (${settledCount} settled, ${unfinished} unfinished)`,
    );
    if (earlier > 0) print(io.stdout, `  … ${earlier} earlier settled batches not listed`);
    for (const line of lines) {
      print(
        io.stdout,
        `  ${line.name} [job ${line.job}, batch ${line.batch}] ${line.enrichmentId ?? "-"}: ${line.state}, ${line.resolved}/${line.contacts} contacts${line.detail ? ` — ${line.detail}` : ""}`,
      );
    }
    print(io.stdout, `results by webhook ${totals.resolved.webhook}, by polling ${totals.resolved.poll}`);
    print(
      io.stdout,
      `contacts sent ${totals.contactsSent}, reused from the log ${totals.reused} (no call, no wait); credits spent ${totals.credits}`,
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
