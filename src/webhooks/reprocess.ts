import { dedupKeys, parseEvent, streams } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import { receivedEvent } from "./delivery-events.js";
import { decodeUtf8, parseDeliveryText } from "./delivery-payload.js";

/** What {@link reprocessQuarantined} did. */
export interface ReprocessReport {
  /** Quarantined deliveries that parse now: appended as `webhook.received`, so their results count. */
  reprocessed: { digest: string; enrichmentId: string; event: "batch" | "contact" }[];
  /** Quarantined deliveries re-processed by an earlier run (nothing appended again). */
  alreadyReprocessed: number;
  /** Those that still do not parse, and why. */
  stillQuarantined: { digest: string; reason: string; position: number }[];
}

/** Events read per page. */
const PAGE = 1_000;

/**
 * Parses every quarantined webhook delivery in the log again, with this version's parser: one that
 * parses now is appended as the `webhook.received` event it would have been (its original
 * `receivedAt`, plus `reprocessedAt`), under a dedup key of its own, so a second run (or a second
 * process) never appends it twice. The engine then reconciles it like any delivery: contacts
 * already resolved by polling meanwhile are duplicates, the others are resolved now. Run it after
 * upgrading fullenrich-rx when `fullenrich-rx status` lists quarantined deliveries
 * (`fullenrich-rx reprocess` on the command line).
 */
export async function reprocessQuarantined(
  store: EventStore,
  options: { now?: () => number } = {},
): Promise<ReprocessReport> {
  const now = options.now ?? Date.now;
  const report: ReprocessReport = { reprocessed: [], alreadyReprocessed: 0, stillQuarantined: [] };
  for (let after = 0; ; ) {
    const page = await store.read({ after, limit: PAGE });
    if (page.length === 0) break;
    after = page[page.length - 1]?.position ?? after;
    for (const stored of page) {
      if (stored.type !== "webhook.quarantined") continue;
      const event = parseEvent(stored);
      if (event.type !== "webhook.quarantined") continue;
      const { digest, body, encoding, verified, receivedAt } = event.data;
      const text = encoding === "utf8" ? body : decodeUtf8(Buffer.from(body, "base64"));
      const parsed = parseDeliveryText(text);
      if (!parsed.ok) {
        report.stillQuarantined.push({ digest, reason: parsed.reason, position: stored.position });
        continue;
      }
      const received = receivedEvent(
        {
          digest,
          event: parsed.delivery.event,
          enrichmentId: parsed.delivery.enrichmentId,
          verified,
          receivedAt,
          reprocessedAt: now(),
        },
        parsed.delivery.payload,
        text as string,
        dedupKeys.reprocessed(digest),
      );
      const result = await store.append(streams.deliveries, [received]);
      if (result.duplicates.length > 0) {
        report.alreadyReprocessed++;
      } else {
        report.reprocessed.push({
          digest,
          enrichmentId: parsed.delivery.enrichmentId,
          event: parsed.delivery.event,
        });
      }
    }
  }
  return report;
}
