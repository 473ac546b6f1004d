import type { Subscription } from "rxjs";
import { hmacSha1Hex, sha256Hex } from "../internal/crypto.js";
import type { Scheduler } from "../internal/time.js";

/** How the simulator POSTs a webhook: a `fetch`-compatible function. */
export type DeliverFn = (url: string, init: RequestInit) => Promise<Response>;

/** Which webhook a delivery is: the batch's `webhook_url`, or a per-contact `contact_finished`. */
export type DeliveryKind = "batch" | "contact";

/** The outcome of one attempt: the receiver's HTTP status, a thrown error, or no answer in time. */
export type DeliveryOutcome = number | "error" | "timeout";

/** One attempt to deliver a webhook, as the simulator logs it. */
export interface DeliveryLogEntry {
  url: string;
  kind: DeliveryKind;
  enrichmentId: string;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  attempt: number;
  outcome: DeliveryOutcome;
  /** When the attempt started, in scheduler time. */
  at: number;
  /** SHA-256 of the body bytes: equal for every attempt of one delivery. */
  bodySha256: string;
  /** True for the extra copy sent by the `duplicateDeliveryRate` fault. */
  duplicate?: boolean;
}

/** Delivery counters kept by {@link WebhookSender}. */
export interface DeliveryCounters {
  /** Every POST started, retries and duplicates included. */
  deliveriesAttempted: number;
  /** Attempts answered 2xx. */
  deliveriesSucceeded: number;
  /** Attempts answered non-2xx, failed or timed out. */
  deliveriesFailed: number;
  /** Attempts that were retries. */
  deliveriesRetried: number;
  /** Deliveries given up after the last retry failed. */
  deliveriesAbandoned: number;
  /** Deliveries dropped by a fault, never sent. */
  deliveriesLost: number;
  /** Extra copies sent by a fault. */
  deliveriesDuplicated: number;
}

/** Settings of a {@link WebhookSender}. */
export interface WebhookSenderOptions {
  scheduler: Scheduler;
  /** Default: the global `fetch`. */
  deliver?: DeliverFn;
  /** An attempt with no answer after this long is aborted and counts as failed. */
  timeoutMs: number;
  /** Wait between a failed attempt and the next one. */
  retryIntervalMs: number;
  /** Retries after the first attempt before giving up. */
  retries: number;
}

/** One webhook to deliver. */
export interface WebhookJob {
  url: string;
  kind: DeliveryKind;
  enrichmentId: string;
  /** The key the signature is computed with: the one that started the enrichment. */
  apiKey: string;
  /** The JSON body; serialised once, so every attempt sends the same bytes. */
  body: unknown;
}

/** Fault decisions and hooks for one {@link WebhookSender.send} call. */
export interface SendControls {
  /** Never send it (counted as lost). */
  lose?: boolean;
  /** After the first successful attempt, send the same bytes once more. */
  duplicate?: boolean;
  /** Called once the first attempt has an outcome (at once when the delivery is lost). */
  onFirstAttemptSettled?: () => void;
}

interface Delivery {
  job: WebhookJob;
  bytes: Buffer;
  headers: Record<string, string>;
  bodySha256: string;
  controls: SendControls;
  attempts: number;
}

const emptyCounters = (): DeliveryCounters => ({
  deliveriesAttempted: 0,
  deliveriesSucceeded: 0,
  deliveriesFailed: 0,
  deliveriesRetried: 0,
  deliveriesAbandoned: 0,
  deliveriesLost: 0,
  deliveriesDuplicated: 0,
});

/**
 * Delivers webhooks the way the provider does: a signed JSON POST
 * (`x-signature-sha1` = HMAC-SHA1 of the body bytes keyed with the API key), a non-2xx answer,
 * an error or a timeout being retried every `retryIntervalMs`, at most `retries` times, always
 * with the same bytes. Every attempt is logged.
 */
export class WebhookSender {
  private readonly deliver: DeliverFn;
  private readonly timers = new Set<Subscription>();
  private readonly inFlight = new Set<AbortController>();
  private readonly entries: DeliveryLogEntry[] = [];
  private readonly stats = emptyCounters();
  private closed = false;

  constructor(private readonly options: WebhookSenderOptions) {
    this.deliver = options.deliver ?? ((url, init) => fetch(url, init));
  }

  /** Starts delivering `job` (the first attempt starts at once). */
  send(job: WebhookJob, controls: SendControls = {}): void {
    if (this.closed) return;
    if (controls.lose === true) {
      this.stats.deliveriesLost++;
      controls.onFirstAttemptSettled?.();
      return;
    }
    const bytes = Buffer.from(JSON.stringify(job.body), "utf8");
    const delivery: Delivery = {
      job,
      bytes,
      headers: {
        "content-type": "application/json",
        "x-signature-sha1": hmacSha1Hex(job.apiKey, bytes),
      },
      bodySha256: sha256Hex(bytes),
      controls,
      attempts: 0,
    };
    this.attempt(delivery, false);
  }

  /** The log of every attempt whose outcome is known, in the order outcomes arrived. */
  log(): DeliveryLogEntry[] {
    return this.entries.map((entry) => ({ ...entry }));
  }

  /** A copy of the counters. */
  counters(): DeliveryCounters {
    return { ...this.stats };
  }

  /** Cancels every pending retry and aborts every attempt in flight; nothing is sent afterwards. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) timer.unsubscribe();
    this.timers.clear();
    for (const controller of this.inFlight) controller.abort();
    this.inFlight.clear();
  }

  private later(work: () => void, delayMs: number): void {
    const subscription = this.options.scheduler.schedule(
      () => {
        this.timers.delete(subscription);
        work();
      },
      Math.max(0, delayMs),
    );
    // A scheduler may run zero-delay work synchronously: only keep timers that are still pending.
    if (!subscription.closed) this.timers.add(subscription);
  }

  private attempt(delivery: Delivery, duplicate: boolean): void {
    if (this.closed) return;
    delivery.attempts++;
    const attempt = delivery.attempts;
    const at = this.options.scheduler.now();
    this.stats.deliveriesAttempted++;
    if (duplicate) this.stats.deliveriesDuplicated++;
    else if (attempt > 1) this.stats.deliveriesRetried++;

    const controller = new AbortController();
    this.inFlight.add(controller);
    let settled = false;
    const timeout = this.options.scheduler.schedule(() => {
      this.timers.delete(timeout);
      controller.abort();
      settle("timeout");
    }, this.options.timeoutMs);
    this.timers.add(timeout);

    const settle = (outcome: DeliveryOutcome): void => {
      if (settled) return;
      settled = true;
      timeout.unsubscribe();
      this.timers.delete(timeout);
      this.inFlight.delete(controller);
      if (this.closed) return;
      const entry: DeliveryLogEntry = {
        url: delivery.job.url,
        kind: delivery.job.kind,
        enrichmentId: delivery.job.enrichmentId,
        attempt,
        outcome,
        at,
        bodySha256: delivery.bodySha256,
      };
      if (duplicate) entry.duplicate = true;
      this.entries.push(entry);
      this.afterAttempt(delivery, outcome, attempt, duplicate);
    };

    let answer: Promise<Response>;
    try {
      answer = this.deliver(delivery.job.url, {
        method: "POST",
        headers: delivery.headers,
        body: delivery.bytes,
        signal: controller.signal,
      });
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (response) => {
        // The body is not needed; release the connection.
        response.body?.cancel().catch(() => undefined);
        settle(response.status);
      },
      () => settle("error"),
    );
  }

  private afterAttempt(
    delivery: Delivery,
    outcome: DeliveryOutcome,
    attempt: number,
    duplicate: boolean,
  ): void {
    const ok = typeof outcome === "number" && outcome >= 200 && outcome < 300;
    if (ok) this.stats.deliveriesSucceeded++;
    else this.stats.deliveriesFailed++;
    if (duplicate) return;
    if (attempt === 1) delivery.controls.onFirstAttemptSettled?.();
    if (this.closed) return;
    if (ok) {
      if (delivery.controls.duplicate === true) this.attempt(delivery, true);
      return;
    }
    if (attempt - 1 < this.options.retries) {
      this.later(() => this.attempt(delivery, false), this.options.retryIntervalMs);
    } else {
      this.stats.deliveriesAbandoned++;
    }
  }
}
