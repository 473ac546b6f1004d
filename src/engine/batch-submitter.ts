import type { FullEnrichClient } from "../api/client.js";
import { errorMessage, NetworkError, OutcomeUnknownError, RateLimitedError } from "../api/errors.js";
import { dedupKeys, type Keying, newEvent, streams } from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import { appendReliably, type ReliableAppendDeps } from "./append-reliably.js";
import type { KeyedBatch } from "./batches.js";
import type { EngineMode, WebhookSettings } from "./engine-options.js";
import { tagsOf } from "./event-tags.js";

/** What a {@link BatchSubmitter} needs. */
export interface BatchSubmitterDeps extends ReliableAppendDeps {
  client: FullEnrichClient;
  mode: EngineMode;
  webhook: WebhookSettings | undefined;
  keying: Keying;
  /** Counts one API call for a job. */
  countCall(jobId: string): void;
}

/** One batch to POST, as its job planned it. */
export interface SendRequest {
  kind: "enrich" | "reverse";
  jobId: string;
  name: string;
  batch: KeyedBatch;
  /** Aborts the POST wherever it is, on the wire included (the engine closing). */
  signal: AbortSignal | undefined;
  /**
   * Aborts the POST only until it leaves (its job stopped): one already on the wire gets its answer
   * recorded, so that its batch is accepted (and a rerun follows it) rather than left ambiguous.
   */
  stopBeforeSend?: AbortSignal;
}

/** How one POST of a batch ended. `position`: of the event that recorded it. */
export type SendOutcome =
  /** The provider started it. */
  | { kind: "accepted"; enrichmentId: string; position: number }
  /**
   * It surely started nothing (refused: a bad key, no credits, an invalid request; or a 429 or a
   * connection that never opened, then `retryable`). Recorded as rejected.
   */
  | { kind: "refused"; retryable: boolean; message: string; position: number }
  /** It left, and no answer says whether it started (timeout, 5xx, reset). Recorded as rejected, outcome unknown. */
  | { kind: "unknown"; message: string; position: number }
  /** It never left (aborted while waiting, or its request could not be recorded): nothing recorded. */
  | { kind: "not-sent"; error: unknown };

const INTERRUPTED =
  "the request was recorded but the process stopped before FullEnrich's answer: the batch may or may not be running; it is not re-sent (check the provider's dashboard; to send it again, rerun with onAmbiguous: \"resubmit\", on the command line --on-ambiguous resubmit)";

/**
 * Sends batches, one POST each, never twice: the request is recorded (`enrichment.requested`) only
 * once the POST holds its rate-limit slot, right before it leaves, and the answer right after. A
 * batch waiting for its turn is in no event, so a crash then leaves nothing ambiguous: a rerun
 * sends it. Knows which batches are on the wire right now (their outcome is not in the log yet).
 */
export class BatchSubmitter {
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: BatchSubmitterDeps) {}

  /** Batches being sent by this process now. */
  get submitting(): ReadonlySet<string> {
    return this.inFlight;
  }

  /** The webhook URLs a new batch asks for, given the engine's mode. */
  webhookUrls(): { webhookUrl: string | null; contactWebhookUrl: string | null } {
    const { mode, webhook } = this.deps;
    if (mode === "polling" || !webhook) return { webhookUrl: null, contactWebhookUrl: null };
    return {
      webhookUrl: webhook.url,
      contactWebhookUrl: webhook.contactEvents ? (webhook.contactUrl ?? webhook.url) : null,
    };
  }

  /** POSTs one batch (a single attempt), recording the request right before it leaves and the answer after. */
  async send(request: SendRequest): Promise<SendOutcome> {
    const { deps } = this;
    const { kind, jobId, name, batch, stopBeforeSend } = request;
    // Until the request leaves, a stop aborts it too; from then on only `request.signal` does.
    const gate = new AbortController();
    const onStop = (): void => gate.abort(stopBeforeSend?.reason);
    if (stopBeforeSend?.aborted) onStop();
    else stopBeforeSend?.addEventListener("abort", onStop, { once: true });
    const signal = request.signal ? AbortSignal.any([request.signal, gate.signal]) : gate.signal;
    const { batchId } = batch;
    const { webhookUrl, contactWebhookUrl } = this.webhookUrls();
    const requested = newEvent(
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
          identity: batch.identities[index] as string,
        })),
        keying: deps.keying,
        webhookUrl,
        contactWebhookUrl,
        mode: deps.mode,
        requestedAt: deps.scheduler.now(),
      },
      dedupKeys.requested(batchId),
    );
    const body = {
      name,
      ...(webhookUrl ? { webhook_url: webhookUrl } : {}),
      ...(contactWebhookUrl ? { webhook_events: { contact_finished: contactWebhookUrl } } : {}),
      data: batch.submitted,
    };
    let sent = false;
    const requestOptions = {
      retries: 0,
      onCall: () => deps.countCall(jobId),
      beforeSend: async () => {
        stopBeforeSend?.removeEventListener("abort", onStop);
        if (gate.signal.aborted) throw gate.signal.reason;
        requested.data.requestedAt = deps.scheduler.now();
        this.inFlight.add(batchId);
        try {
          await deps.store.append(streams.batch(batchId), [{ ...requested, tags: tagsOf(requested) }], {
            expectedVersion: "no-stream",
          });
        } catch (error) {
          this.inFlight.delete(batchId);
          throw error;
        }
        sent = true;
      },
      ...(signal ? { signal } : {}),
    };
    try {
      let enrichmentId: string;
      try {
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
        if (!sent) return { kind: "not-sent", error };
        const outcomeUnknown = error instanceof OutcomeUnknownError || signal?.aborted === true;
        deps.logger.warn("a batch was not accepted", { batchId, outcomeUnknown, error: errorMessage(error) });
        const message = errorMessage(error);
        const position = await appendReliably(deps, streams.batch(batchId), [
          newEvent(
            "enrichment.rejected",
            { batchId, outcomeUnknown, error: describeError(error), rejectedAt: deps.scheduler.now() },
            dedupKeys.rejected(batchId),
          ),
        ]);
        if (outcomeUnknown) return { kind: "unknown", message, position };
        const retryable = error instanceof RateLimitedError || (error instanceof NetworkError && !error.sent);
        return { kind: "refused", retryable, message, position };
      }
      const position = await appendReliably(deps, streams.batch(batchId), [
        newEvent(
          "enrichment.accepted",
          { batchId, enrichmentId, acceptedAt: deps.scheduler.now() },
          dedupKeys.accepted(batchId),
        ),
      ]);
      deps.logger.info("a batch was accepted", { jobId, batchId, enrichmentId, contacts: batch.keys.length });
      return { kind: "accepted", enrichmentId, position };
    } finally {
      this.inFlight.delete(batchId);
      stopBeforeSend?.removeEventListener("abort", onStop);
    }
  }

  /**
   * A batch requested but never answered (its process stopped in between), in polling mode:
   * recorded as ambiguous (once), so that its job can settle. Resolves with the message.
   */
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
