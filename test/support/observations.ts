import { type ContactResult, toContactResult } from "../../src/engine/contact-result.js";
import { keyBatch } from "../../src/events/contact-key.js";
import type { Keying } from "../../src/events/event-types.js";
import { LogBuilder, testKeying } from "./log-builder.js";

/** One answer of the provider about an enrichment: a poll's body, or a webhook delivery's. */
export interface Observation {
  via: "poll" | "batch-event" | "contact-event";
  body: Record<string, unknown>;
}

/**
 * Reconciles observations of one enrichment into the results the engine would emit, through the
 * projection and the reconciler: a batch of `contacts` (keyed with `keying`) requested and accepted
 * as `enrichmentId`, then each observation in turn. Without `contacts`, the enrichment is one this
 * process never started.
 */
export function resultsOf(options: {
  kind: "enrich" | "reverse";
  observations: readonly Observation[];
  contacts?: Record<string, unknown>[];
  keying?: Keying;
  enrichmentId?: string;
}): { results: ContactResult[]; completed: boolean; log: LogBuilder } {
  const log = new LogBuilder();
  const enrichmentId = options.enrichmentId ?? "e-observed";
  const keying = options.keying ?? testKeying;
  if (options.contacts) {
    const keys = keyBatch(keying, options.contacts, "request");
    log.append("enrichment.requested", {
      batchId: "b-observed",
      jobId: "j-observed",
      batchIndex: 0,
      contactsDigest: "d",
      kind: options.kind,
      name: "observed",
      contacts: options.contacts.map((contact, index) => ({ key: keys[index] as string, contact })),
      keying,
      webhookUrl: null,
      contactWebhookUrl: null,
      mode: "both",
      requestedAt: 0,
    });
    log.append("enrichment.accepted", { batchId: "b-observed", enrichmentId, acceptedAt: 0 });
  }
  options.observations.forEach((observation, index) => {
    const status = String(observation.body.status);
    if (observation.via === "poll") {
      log.append("poll.observed", {
        enrichmentId,
        kind: options.kind,
        outcome: "done",
        status,
        httpStatus: 200,
        payload: observation.body,
        observedAt: index,
      });
    } else {
      log.append("webhook.received", {
        digest: `digest-${index}`,
        event: observation.via === "batch-event" ? "batch" : "contact",
        enrichmentId,
        verified: true,
        payload: observation.body,
        receivedAt: index,
      });
    }
  });
  return {
    results: log.ofType("contact.resolved").map((event) => toContactResult(event, keying.correlationKey)),
    completed: log.ofType("enrichment.completed").length > 0,
    log,
  };
}
