import type { FullEnrichClient } from "../api/client.js";
import { errorMessage, OutcomeUnknownError } from "../api/errors.js";
import { dedupKeys, type Keying, newEvent, streams } from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import { abortReason } from "../internal/time.js";
import { appendReliably, type ReliableAppendDeps } from "./append-reliably.js";
import type { KeyedBatch } from "./batches.js";
import type { EngineMode, WebhookSettings } from "./engine-options.js";

/** What a {@link BatchSubmitter} needs. */
export interface BatchSubmitterDeps extends ReliableAppendDeps {
  client: FullEnrichClient;
  mode: EngineMode;
  webhook: WebhookSettings | undefined;
  keying: Keying;
  /** Counts one API call for a job. */
  countCall(jobId: string): void;
}

const INTERRUPTED =
  "the request was recorded but the process stopped before FullEnrich's answer: the batch may or may not be running; it is not re-sent (check the provider's dashboard; to send it again, rerun with onAmbiguous: \"resubmit\", on the command line --on-ambiguous resubmit)";

/**
 * Submits batches: records the request, POSTs it, records the answer — never POSTing one twice —
 * and knows which batches it is submitting right now (their outcome is not in the log yet).
 */
export class BatchSubmitter {
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: BatchSubmitterDeps) {}

  /** Batches being submitted by this process now. */
  get submitting(): ReadonlySet<string> {
    return this.inFlight;
  }

  /** Records the request, POSTs, records the answer (resolving with its position). Never POSTs twice. */
  async submit(
    kind: "enrich" | "reverse",
    jobId: string,
    name: string,
    batch: KeyedBatch,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const { deps } = this;
    const { batchId } = batch;
    const webhookUrl = deps.mode === "polling" ? null : (deps.webhook?.url ?? null);
    const contactWebhookUrl =
      deps.mode !== "polling" && deps.webhook?.contactEvents
        ? (deps.webhook.contactUrl ?? deps.webhook.url)
        : null;
    this.inFlight.add(batchId);
    try {
      await deps.store.append(
        streams.batch(batchId),
        [
          newEvent(
            "enrichment.requested",
            {
              batchId,
              jobId,
              batchIndex: batch.batchIndex,
              contactsDigest: batch.contactsDigest,
              kind,
              name,
              contacts: batch.submitted.map((contact, index) => ({
                key: batch.keys[index] as string,
                contact,
              })),
              keying: deps.keying,
              webhookUrl,
              contactWebhookUrl,
              mode: deps.mode,
              requestedAt: deps.scheduler.now(),
            },
            dedupKeys.requested(batchId),
          ),
        ],
        { expectedVersion: "no-stream" },
      );
      const body = {
        name,
        ...(webhookUrl ? { webhook_url: webhookUrl } : {}),
        ...(contactWebhookUrl ? { webhook_events: { contact_finished: contactWebhookUrl } } : {}),
        data: batch.submitted,
      };
      let enrichmentId: string;
      try {
        if (signal?.aborted) throw abortReason(signal);
        const requestOptions = { onCall: () => deps.countCall(jobId), ...(signal ? { signal } : {}) };
        const response =
          kind === "enrich"
            ? await deps.client.startEnrichment(
                body as Parameters<FullEnrichClient["startEnrichment"]>[0],
                requestOptions,
              )
            : await deps.client.startReverseLookup(
                body as Parameters<FullEnrichClient["startReverseLookup"]>[0],
                requestOptions,
              );
        enrichmentId = response.enrichment_id;
      } catch (error) {
        const outcomeUnknown = error instanceof OutcomeUnknownError;
        deps.logger.warn("a batch was not accepted", { batchId, outcomeUnknown, error: errorMessage(error) });
        return await appendReliably(deps, streams.batch(batchId), [
          newEvent(
            "enrichment.rejected",
            {
              batchId,
              outcomeUnknown,
              error: describeError(error),
              rejectedAt: deps.scheduler.now(),
            },
            dedupKeys.rejected(batchId),
          ),
        ]);
      }
      return await appendReliably(deps, streams.batch(batchId), [
        newEvent(
          "enrichment.accepted",
          { batchId, enrichmentId, acceptedAt: deps.scheduler.now() },
          dedupKeys.accepted(batchId),
        ),
      ]);
    } finally {
      this.inFlight.delete(batchId);
    }
  }

  /** A batch requested but never answered: recorded as ambiguous (once) so that its job can settle. */
  async markAmbiguous(batch: BatchState): Promise<string> {
    const message = batch.rejected?.error.message ?? INTERRUPTED;
    if (batch.rejected === null) {
      await appendReliably(this.deps, streams.batch(batch.batchId), [
        newEvent(
          "enrichment.rejected",
          {
            batchId: batch.batchId,
            outcomeUnknown: true,
            error: { name: "InterruptedSubmission", message },
            rejectedAt: this.deps.scheduler.now(),
          },
          dedupKeys.rejected(batch.batchId),
        ),
      ]);
    }
    return message;
  }
}

function describeError(error: unknown): { name: string; message: string; status?: number; code?: string } {
  const described: { name: string; message: string; status?: number; code?: string } = {
    name: error instanceof Error ? error.name : "Error",
    message: errorMessage(error),
  };
  const { status, code } = error as { status?: unknown; code?: unknown };
  if (typeof status === "number") described.status = status;
  if (typeof code === "string" && code !== "") described.code = code;
  return described;
}
