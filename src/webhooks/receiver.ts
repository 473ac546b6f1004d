import { type Observable, Subject } from "rxjs";
import { dedupKeys, type EventData, newEvent, streams } from "../events/event-types.js";
import type { EventStore, NewEvent } from "../events/store.js";
import { sha256Hex } from "../internal/crypto.js";
import { type Logger, silentLogger } from "../internal/logger.js";
import { defaultScheduler, type Scheduler } from "../internal/time.js";
import { decodeUtf8, parseDeliveryText } from "./delivery-payload.js";
import { answer, type HeaderBag, header, type ReceiveAnswer } from "./http-answer.js";
import { SIGNATURE_HEADER, verifySignature } from "./signature.js";

export { type HeaderBag, header, type ReceiveAnswer } from "./http-answer.js";

/** Default largest body accepted: 10 MB. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** What a {@link WebhookReceiver} needs: a store, the key(s) signatures are checked with, limits. */
export interface WebhookReceiverOptions {
  /** Where deliveries are stored before they are acknowledged. */
  store: EventStore;
  /** Keys whose signatures are accepted: the API key, or several during a key rotation. */
  apiKeys?: readonly string[];
  /**
   * Signature checking is on unless this is explicitly `false` (for local experiments only). With
   * it off, a malformed body is refused with 400 instead of being quarantined.
   */
  verifySignatures?: boolean;
  /** Largest body accepted, in bytes; larger ones get 413. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  logger?: Logger;
  /** The clock (`receivedAt`). */
  scheduler?: Scheduler;
}

/** What every adapter hands to {@link WebhookReceiver.receive}. */
export interface IncomingDelivery {
  rawBody: Uint8Array;
  headers: HeaderBag;
  /** Default "POST". */
  method?: string;
}

/** A delivery stored (or recognised as already stored) and acknowledged. */
export interface AcceptedDelivery {
  digest: string;
  /** Null for a quarantined delivery. */
  event: "batch" | "contact" | null;
  enrichmentId: string | null;
  /** A retry of a delivery already stored: nothing was appended. */
  duplicate: boolean;
  quarantined: boolean;
}

/** A correctly signed delivery that got a non-2xx answer: the provider will retry it, at most five times. */
export interface FailedDelivery {
  enrichmentId: string | null;
  reason: string;
  at: number;
}

/** Why a delivery was refused: wrong method, too large, signature missing or wrong, malformed (verification off). */
export type RejectionReason = "method" | "too-large" | "missing-signature" | "bad-signature" | "malformed";

/** Deliveries seen since the receiver started, by outcome. */
export interface ReceiverCounters {
  accepted: number;
  duplicate: number;
  quarantined: number;
  storeErrors: number;
  rejected: Record<RejectionReason, number>;
}

/**
 * The webhook receiver: verifies, stores, and only then acknowledges. Every adapter (node:http,
 * Express-style, fetch) calls {@link receive}.
 *
 * - bad or missing signature: 401, nothing stored;
 * - a signed body that is not JSON or not of the expected shape: stored as quarantined, 200;
 * - a retry of a stored delivery (same body digest): 200, nothing appended;
 * - the store failing: 503, so that the provider retries.
 */
export class WebhookReceiver {
  private readonly store: EventStore;
  private readonly keys: readonly string[];
  private readonly verify: boolean;
  readonly maxBodyBytes: number;
  private readonly logger: Logger;
  private readonly scheduler: Scheduler;
  private readonly accepted = new Subject<AcceptedDelivery>();
  private readonly failed = new Subject<FailedDelivery>();
  private readonly count: ReceiverCounters = {
    accepted: 0,
    duplicate: 0,
    quarantined: 0,
    storeErrors: 0,
    rejected: { method: 0, "too-large": 0, "missing-signature": 0, "bad-signature": 0, malformed: 0 },
  };

  /** Deliveries acknowledged with 2xx. */
  readonly deliveries$: Observable<AcceptedDelivery> = this.accepted.asObservable();
  /** Signed deliveries answered non-2xx (the store failed). */
  readonly failures$: Observable<FailedDelivery> = this.failed.asObservable();

  constructor(options: WebhookReceiverOptions) {
    this.store = options.store;
    this.verify = options.verifySignatures !== false;
    this.keys = (options.apiKeys ?? []).filter((key) => key !== "");
    if (this.verify && this.keys.length === 0) {
      throw new Error(
        "the webhook receiver needs the API key to verify signatures (apiKeys); pass verifySignatures: false to accept unsigned deliveries on purpose",
      );
    }
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.logger = options.logger ?? silentLogger;
    this.scheduler = options.scheduler ?? defaultScheduler;
  }

  /** A copy of the counters: accepted, duplicates, quarantined, store errors, refusals by reason. */
  counters(): ReceiverCounters {
    return { ...this.count, rejected: { ...this.count.rejected } };
  }

  /** A rejection that adapters decide before reading a body (method, size), counted here. */
  reject(reason: "method" | "too-large"): ReceiveAnswer {
    this.count.rejected[reason]++;
    return reason === "method"
      ? answer(405, { error: "method not allowed: deliveries are POSTed" }, { allow: "POST" })
      : answer(413, { error: `body larger than ${this.maxBodyBytes} bytes` });
  }

  /**
   * The whole acknowledgement path, framework-free: checks the method, size and signature, stores
   * the delivery (or recognises a retry), and says what to answer. Never throws.
   */
  async receive(delivery: IncomingDelivery): Promise<ReceiveAnswer> {
    if ((delivery.method ?? "POST").toUpperCase() !== "POST") return this.reject("method");
    const { rawBody } = delivery;
    if (rawBody.byteLength > this.maxBodyBytes) return this.reject("too-large");
    if (this.verify) {
      const signature = header(delivery.headers, SIGNATURE_HEADER);
      if (signature === undefined)
        return this.refuse("missing-signature", `missing ${SIGNATURE_HEADER} header`);
      if (!verifySignature(rawBody, signature, this.keys))
        return this.refuse("bad-signature", "invalid signature");
    }
    const digest = sha256Hex(rawBody);
    const receivedAt = this.scheduler.now();
    const text = decodeUtf8(rawBody);
    const parsed = parseDeliveryText(text);
    if (!parsed.ok && !this.verify) return this.refuse("malformed", `malformed delivery: ${parsed.reason}`);

    const event: NewEvent = parsed.ok
      ? receivedEvent(
          {
            digest,
            event: parsed.delivery.event,
            enrichmentId: parsed.delivery.enrichmentId,
            verified: this.verify,
            receivedAt,
          },
          parsed.delivery.payload,
          // parsed.ok: `text` is the UTF-8 body JSON.parse accepted.
          text as string,
        )
      : newEvent(
          "webhook.quarantined",
          {
            digest,
            reason: parsed.reason,
            body: text ?? Buffer.from(rawBody).toString("base64"),
            encoding: text === undefined ? "base64" : "utf8",
            verified: this.verify,
            receivedAt,
          },
          dedupKeys.delivery(digest),
        );
    const enrichmentId = parsed.ok ? parsed.delivery.enrichmentId : null;

    let duplicate: boolean;
    try {
      // One append per delivery: the store commits all the appends of this turn of the event loop
      // together (group commit), so concurrent deliveries share one fsync.
      const result = await this.store.append(streams.deliveries, [event]);
      duplicate = result.duplicates.length > 0;
    } catch (error) {
      this.count.storeErrors++;
      this.logger.error("could not store a webhook delivery; answering 503 so that the provider retries", {
        enrichmentId,
        digest,
        error: (error as Error).message,
      });
      this.failed.next({ enrichmentId, reason: (error as Error).message, at: receivedAt });
      return answer(
        503,
        { error: "temporarily unable to store the delivery; retry later" },
        { "retry-after": "60" },
      );
    }

    if (duplicate) this.count.duplicate++;
    else if (parsed.ok) this.count.accepted++;
    else this.count.quarantined++;
    if (!parsed.ok && !duplicate) {
      this.logger.warn(
        "quarantined a signed delivery that could not be parsed; run `fullenrich-rx status` to see it",
        {
          digest,
          reason: parsed.reason,
        },
      );
    } else {
      this.logger.debug("stored a webhook delivery", { enrichmentId, digest, duplicate });
    }
    this.accepted.next({
      digest,
      event: parsed.ok ? parsed.delivery.event : null,
      enrichmentId,
      duplicate,
      quarantined: !parsed.ok,
    });
    const status = duplicate ? "duplicate" : parsed.ok ? "accepted" : "quarantined";
    return answer(200, { status });
  }

  /** Completes the observables. */
  close(): void {
    this.accepted.complete();
    this.failed.complete();
  }

  private refuse(reason: RejectionReason, message: string): ReceiveAnswer {
    this.count.rejected[reason]++;
    this.logger.warn(`refused a webhook delivery: ${message}`);
    return answer(reason === "malformed" ? 400 : 401, { error: message });
  }
}

/**
 * The `webhook.received` event of a parsed delivery, with its data's JSON text made by splicing the
 * body's text (which JSON.parse accepted, so it is JSON) in as `payload`, instead of serialising
 * the parsed payload again: for a large body that costs as much as parsing it. The text parses to
 * `{...fields, payload: JSON.parse(text)}`, which is `data`. Whitespace around the body's JSON is
 * JSON whitespace, valid where it lands; a byte order mark is not, and is dropped (the UTF-8
 * decoder already removes one; a second would have failed JSON.parse).
 */
export function receivedEvent(
  fields: Omit<EventData<"webhook.received">, "payload">,
  payload: EventData<"webhook.received">["payload"],
  text: string,
  dedupKey: string = dedupKeys.delivery(fields.digest),
): NewEvent {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const head = JSON.stringify({
    digest: fields.digest,
    event: fields.event,
    enrichmentId: fields.enrichmentId,
    verified: fields.verified,
    receivedAt: fields.receivedAt,
    ...(fields.reprocessedAt === undefined ? {} : { reprocessedAt: fields.reprocessedAt }),
  });
  const event: NewEvent = newEvent("webhook.received", { ...fields, payload }, dedupKey);
  event.dataJson = `${head.slice(0, -1)},"payload":${body}}`;
  return event;
}
