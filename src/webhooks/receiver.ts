import { type Observable, Subject } from "rxjs";
import { streams } from "../events/event-types.js";
import type { AppendResult, EventStore } from "../events/store.js";
import { sha256Hex } from "../internal/crypto.js";
import { type Logger, toLogger } from "../internal/logger.js";
import { defaultScheduler, type Scheduler } from "../internal/time.js";
import { BodyBudget, DEFAULT_MAX_BUFFERED_BYTES } from "./body-budget.js";
import { peekEnrichmentId, storedEvent } from "./delivery-events.js";
import { DeliveryParser, type ParseOutcome } from "./delivery-parser.js";
import { decodeUtf8, parseDeliveryText } from "./delivery-payload.js";
import { answer, type HeaderBag, header, type ReceiveAnswer } from "./http-answer.js";
import {
  announcesBody,
  type DeliveryRoutes,
  decideRequest,
  type RejectionReason,
  type RequestHead,
} from "./http-decision.js";
import { MAX_PROBE_BYTES, probeBody, probeNonce, type WebhookProbe } from "./probe.js";
import { RefusalLog } from "./refusal-log.js";
import { SIGNATURE_HEADER, signBody, verifySignature } from "./signature.js";
import { type HealthOptions, StoreHealth } from "./store-health.js";
import { isTestDelivery } from "./test-delivery.js";

export { type HeaderBag, header, type ReceiveAnswer } from "./http-answer.js";
export type { RejectionReason } from "./http-decision.js";

/**
 * A sweep for stored deliveries not yet parsed runs at most this often (on the next delivery
 * stored after it): it reads the log written since the last one, once.
 */
const SWEEP_INTERVAL_MS = 5 * 60_000;

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
  /**
   * Bytes of bodies the adapters may hold in memory at once, across every request being read or
   * stored; a request whose next bytes would go over it gets 503 (the provider retries a minute
   * later) and its connection is closed. Default {@link DEFAULT_MAX_BUFFERED_BYTES}; at least
   * `maxBodyBytes`.
   */
  maxBufferedBytes?: number;
  /**
   * Where refusals (as a counted summary, at most one line per `refusalLogIntervalMs`), store
   * errors and quarantined deliveries are reported.
   */
  logger?: Logger;
  /** Shortest time between two summary lines of refused requests. Default 60 s. */
  refusalLogIntervalMs?: number;
  /** How the health probe judges the store ({@link WebhookReceiver.health}). */
  health?: HealthOptions;
  /** The clock (`receivedAt`, the refusal summary, the health probe). */
  scheduler?: Scheduler;
  /**
   * Parse stored deliveries (after their answer) in a worker thread, so that JSON parsing and
   * schema validation take none of the time of the thread answering the provider. Default true; it
   * takes effect where the package is compiled (always, for an installed package; from this
   * project's TypeScript sources, deliveries are parsed on the calling thread). The thread starts
   * with the receiver (it keeps no process alive while idle, and {@link WebhookReceiver.close}
   * stops it); until it has loaded its modules, a few hundred milliseconds, deliveries are parsed
   * on the calling thread.
   */
  parseThread?: boolean;
  /**
   * Bytes of acknowledged bodies waiting to be parsed at most (default 64 MiB): when deliveries
   * arrive faster than they are parsed, the others are parsed from the log once the backlog is.
   */
  maxParseBacklogBytes?: number;
}

/** What every adapter hands to {@link WebhookReceiver.receive}. */
export interface IncomingDelivery {
  rawBody: Uint8Array;
  headers: HeaderBag;
  /** Default "POST". */
  method?: string;
}

/**
 * A delivery acknowledged: once parsed (a new one), or at once (a retry of one already stored,
 * which is not parsed again).
 */
export interface AcceptedDelivery {
  digest: string;
  /** Null for a quarantined delivery, and for a retry. */
  event: "batch" | "contact" | null;
  /** Null for a quarantined delivery; for a retry, read from the start of its body when it begins with it. */
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

/**
 * Why a server adapter closed a connection without a delivery: a request that did not arrive within
 * its timeouts, bytes that are not HTTP, a connection over the cap.
 */
export type ConnectionRefusal = "timeout" | "malformed-http" | "over-capacity";

/** Deliveries seen since the receiver started, by outcome. */
export interface ReceiverCounters {
  /** Deliveries appended as they arrived (`webhook.stored`) and acknowledged. */
  stored: number;
  /** Of those, parsed into `webhook.received`. */
  accepted: number;
  /** Retries of a stored delivery: acknowledged, nothing appended. */
  duplicate: number;
  /** Stored deliveries that did not parse, kept as `webhook.quarantined`. */
  quarantined: number;
  /** Stored deliveries whose parsed outcome could not be appended (parsed again by a later sweep). */
  unparsed: number;
  /** Deliveries answered 503 because the store failed. */
  storeErrors: number;
  /** Requests refused, by reason. */
  rejected: Record<RejectionReason, number>;
  /** Connections closed by the server adapter ({@link createWebhookServer}), by reason. */
  closed: Record<ConnectionRefusal, number>;
}

/**
 * What an adapter does with a request once its headers arrived ({@link WebhookReceiver.decide}):
 * read its body, answer the health probe, or answer now without reading the body, closing the
 * connection when a body was announced (it stays unread).
 */
export type HttpDecision =
  | { action: "read" }
  | { action: "health" }
  | { action: "answer"; answer: ReceiveAnswer; close: boolean };

/** How each refusal reads in the log summary. */
const REFUSAL_LABELS: Record<RejectionReason | ConnectionRefusal, string> = {
  method: "wrong method",
  "not-found": "wrong path",
  "too-large": "too large",
  busy: "too many bodies in memory at once",
  "missing-signature": "missing signature",
  "bad-signature": "bad signature",
  malformed: "malformed body",
  timeout: "timed out",
  "malformed-http": "not HTTP",
  "over-capacity": "over the connection cap",
};

/**
 * The webhook receiver: verifies, stores the delivery as it arrived, acknowledges, and only then
 * parses it. Every adapter (node:http, Express-style, fetch) calls {@link receive}.
 *
 * - bad or missing signature: 401, nothing stored;
 * - a correctly signed delivery: appended (`webhook.stored`, fsync'd with the others of its turn),
 *   then 200; right after the answer it is parsed into `webhook.received`, or kept as
 *   `webhook.quarantined` when it is not JSON or not of the expected shape;
 * - a retry of a stored delivery (same body digest): 200, nothing appended;
 * - the store failing: 503, so that the provider retries.
 *
 * A delivery stored but not parsed (the process stopped in between) is parsed by the next receiver
 * created on the same log: each receiver looks for them when it starts (see {@link whenParsed}).
 */
export class WebhookReceiver {
  private readonly store: EventStore;
  private readonly keys: readonly string[];
  private readonly verify: boolean;
  readonly maxBodyBytes: number;
  /** The bodies held in memory at once, shared by the adapters reading them. */
  readonly bodyBudget: BodyBudget;
  private readonly logger: Logger;
  private readonly scheduler: Scheduler;
  private readonly refusals: RefusalLog;
  private readonly storeHealth: StoreHealth;
  private closed = false;
  private readonly accepted = new Subject<AcceptedDelivery>();
  private readonly failed = new Subject<FailedDelivery>();
  private readonly parser: DeliveryParser;
  private lastSweep = Number.NEGATIVE_INFINITY;
  /** Probes issued by {@link createProbe} and not arrived yet, by nonce. */
  private readonly probes = new Map<string, () => void>();
  private readonly count: ReceiverCounters = {
    stored: 0,
    accepted: 0,
    duplicate: 0,
    quarantined: 0,
    unparsed: 0,
    storeErrors: 0,
    rejected: {
      method: 0,
      "not-found": 0,
      "too-large": 0,
      busy: 0,
      "missing-signature": 0,
      "bad-signature": 0,
      malformed: 0,
    },
    closed: { timeout: 0, "malformed-http": 0, "over-capacity": 0 },
  };

  /** Deliveries acknowledged with 2xx: each new one once parsed, a retry at once. */
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
    this.bodyBudget = new BodyBudget(
      options.maxBufferedBytes ?? Math.max(DEFAULT_MAX_BUFFERED_BYTES, this.maxBodyBytes),
    );
    if (this.bodyBudget.maxBytes < this.maxBodyBytes) {
      throw new RangeError(
        `maxBufferedBytes (${this.bodyBudget.maxBytes}) must be at least maxBodyBytes (${this.maxBodyBytes}): a body of the largest size could never be read`,
      );
    }
    this.logger = toLogger(options.logger);
    this.scheduler = options.scheduler ?? defaultScheduler;
    const now = (): number => this.scheduler.now();
    this.refusals = new RefusalLog(this.logger, now, options.refusalLogIntervalMs);
    this.storeHealth = new StoreHealth(this.store, now, options.health);
    this.parser = new DeliveryParser(this.store, this.logger, (outcome) => this.parsed(outcome), {
      thread: options.parseThread !== false,
      ...(options.maxParseBacklogBytes === undefined
        ? {}
        : { maxBacklogBytes: options.maxParseBacklogBytes }),
    });
    // Deliveries a stopped process stored but did not parse are parsed now.
    this.sweep();
  }

  /** A copy of the counters: accepted, duplicates, quarantined, store errors, refusals by reason. */
  counters(): ReceiverCounters {
    return { ...this.count, rejected: { ...this.count.rejected }, closed: { ...this.count.closed } };
  }

  /**
   * Decides what to do with a request from its head alone (see {@link decideRequest}): read the
   * body, answer the health probe, or refuse now (counted, and summarised in the log). `routes`
   * is for adapters that route themselves; without it, the framework routed the request.
   */
  decide(head: RequestHead, routes?: DeliveryRoutes): HttpDecision {
    const verdict = decideRequest(head, {
      verifySignatures: this.verify,
      maxBodyBytes: this.maxBodyBytes,
      routes,
    });
    if (verdict.action !== "refuse") return verdict;
    return {
      action: "answer",
      answer: this.refuse(verdict.reason, verdict.status, verdict.message, verdict.headers),
      close: announcesBody(head.headers),
    };
  }

  /**
   * The answer to a body refused while it streamed, counted here: over `maxBodyBytes` (413), or over
   * the budget of bodies held at once (`busy`: 503, retried by the provider a minute later).
   */
  reject(reason: "too-large" | "busy"): ReceiveAnswer {
    return reason === "too-large"
      ? this.refuse(reason, 413, `body larger than ${this.maxBodyBytes} bytes`)
      : this.refuse(reason, 503, "too many deliveries being received at once; retry later", {
          "retry-after": "60",
        });
  }

  /** Counts (and summarises in the log) a connection a server adapter closed without a delivery. */
  noteClosedConnection(reason: ConnectionRefusal): void {
    this.count.closed[reason]++;
    this.refusals.note(REFUSAL_LABELS[reason]);
  }

  /**
   * The health probe's answer: 200 with the store's state when deliveries can be stored, 503 when
   * the last append failed (until one succeeds, for at most a minute), the store cannot be read
   * within 2 s, or the receiver is closed. Nothing is written to the store to find out.
   */
  health(): Promise<ReceiveAnswer> {
    return this.storeHealth.check(this.closed);
  }

  /**
   * A signed test delivery to POST to this receiver's public URL, to find out whether deliveries
   * reach it (a dead tunnel, a wrong path, a firewall). Signed like the provider's (with the first
   * API key), so that it takes the same path; when it arrives it is answered 200 and `arrived`
   * resolves, and nothing is stored: it never becomes a result nor a quarantined payload. A probe
   * this receiver did not issue (another instance's, a replay) is answered 200 and ignored.
   */
  createProbe(): WebhookProbe {
    const { nonce, text } = probeBody();
    const body = Buffer.from(text, "utf8");
    const headers: Record<string, string> = { "content-type": "application/json" };
    const key = this.keys[0];
    if (key !== undefined) headers[SIGNATURE_HEADER] = signBody(key, body);
    const arrived = new Promise<void>((resolve) => this.probes.set(nonce, resolve));
    return { nonce, body, headers, arrived, cancel: () => this.probes.delete(nonce) };
  }

  /**
   * The whole acknowledgement path, framework-free: checks the method, size and signature, appends
   * the delivery as it arrived (`webhook.stored`, or recognises a retry of one), and says what to
   * answer. Nothing is parsed before the answer: right after it, the delivery is parsed into
   * `webhook.received` or `webhook.quarantined` ({@link whenParsed}). Never throws.
   */
  async receive(delivery: IncomingDelivery): Promise<ReceiveAnswer> {
    const early = this.decide({ method: delivery.method ?? "POST", headers: delivery.headers });
    if (early.action === "answer") return early.answer;
    const { rawBody } = delivery;
    if (rawBody.byteLength > this.maxBodyBytes) return this.reject("too-large");
    if (this.verify && !verifySignature(rawBody, header(delivery.headers, SIGNATURE_HEADER), this.keys)) {
      return this.refuse("bad-signature", 401, "invalid signature");
    }
    if (!this.verify) {
      // Unsigned deliveries (local experiments only) are refused when they do not parse, instead of
      // being quarantined: anyone could send them.
      const parsed = parseDeliveryText(decodeUtf8(rawBody));
      if (!parsed.ok) return this.refuse("malformed", 400, `malformed delivery: ${parsed.reason}`);
    }
    // A start-up probe (a short body): answered, never stored nor parsed as a delivery.
    const nonce = rawBody.byteLength <= MAX_PROBE_BYTES ? probeNonce(decodeUtf8(rawBody)) : null;
    if (nonce !== null) {
      this.probes.get(nonce)?.();
      this.probes.delete(nonce);
      this.logger.debug("a start-up probe delivery arrived (nothing stored)");
      return answer(200, { status: "probe" });
    }
    // The enrichment id read from the start of the body, unparsed: for logs, and to tell
    // `fullenrich-rx test-webhook`'s sample (verified and answered, never stored).
    const enrichmentId = peekEnrichmentId(rawBody);
    if (isTestDelivery(enrichmentId)) return answer(200, { status: "test", stored: false });
    const digest = sha256Hex(rawBody);
    const receivedAt = this.scheduler.now();
    const stored = storedEvent(rawBody, { digest, verified: this.verify, receivedAt });

    let result: AppendResult;
    try {
      // One append per delivery: the store commits all the appends of this turn of the event loop
      // together (group commit), so concurrent deliveries share one fsync.
      result = await this.store.append(streams.deliveries, [stored.event]);
      this.storeHealth.record(true);
    } catch (error) {
      this.storeHealth.record(false);
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

    const appended = result.appended[0];
    if (appended === undefined) {
      this.count.duplicate++;
      this.logger.debug("a retry of a stored webhook delivery", { enrichmentId, digest });
      this.accepted.next({ digest, event: null, enrichmentId, duplicate: true, quarantined: false });
      return answer(200, { status: "duplicate" });
    }
    this.count.stored++;
    // Parsed once this turn's answers are written: parsing is no part of the acknowledgement.
    this.parser.parse({ position: appended.position, data: stored.data, bytes: rawBody });
    if (receivedAt - this.lastSweep >= SWEEP_INTERVAL_MS) this.sweep();
    return answer(200, { status: "accepted" });
  }

  /**
   * Resolves once every delivery acknowledged so far has its parsed outcome appended (or its append
   * failed: it is then parsed again by the next sweep), and the sweep started with the receiver (or
   * a later one) ended. For tests, and before closing the store.
   */
  whenParsed(): Promise<void> {
    return this.parser.whenIdle();
  }

  /** Counts and reports a parsed delivery (or the failure to append its outcome). */
  private parsed(outcome: ParseOutcome): void {
    if (outcome.kind === "failed") {
      this.count.unparsed++;
      return;
    }
    const { delivery, parsed, duplicate } = outcome;
    // A sweep and the parser may both have parsed it: the second outcome was not appended.
    if (duplicate) return;
    const { digest } = delivery.data;
    if (parsed.ok) {
      this.count.accepted++;
      this.logger.debug("parsed a stored webhook delivery", { enrichmentId: parsed.enrichmentId, digest });
    } else {
      this.count.quarantined++;
      this.logger.warn(
        "quarantined a signed delivery that could not be parsed; run `fullenrich-rx status` to see it",
        { digest, reason: parsed.reason },
      );
    }
    this.accepted.next({
      digest,
      event: parsed.ok ? parsed.event : null,
      enrichmentId: parsed.ok ? parsed.enrichmentId : null,
      duplicate: false,
      quarantined: !parsed.ok,
    });
  }

  /**
   * Parses the deliveries of the log that were stored but never parsed (a process stopped between
   * its answer and the parse, or the outcome's append failed), from the parser's checkpoint on. Run
   * when the receiver is created, then at most every 5 minutes while deliveries arrive; a failure
   * is logged, and the next sweep starts again from the same checkpoint.
   */
  private sweep(): void {
    this.lastSweep = this.scheduler.now();
    this.parser
      .sweep()
      .then(({ parsed }) => {
        if (parsed > 0) this.logger.info("parsed deliveries stored earlier but not parsed then", { parsed });
      })
      .catch((error: unknown) => {
        this.logger.error("could not look for stored deliveries not yet parsed", {
          error: (error as Error).message,
        });
      });
  }

  /**
   * Completes the observables, writes the refusals not yet summarised, stops the parse thread; the
   * health probe turns 503. Await {@link whenParsed} first to have every delivery acknowledged so
   * far parsed (one that is not is parsed by the next receiver on the log).
   */
  close(): void {
    this.closed = true;
    this.parser.close();
    this.refusals.flush();
    this.accepted.complete();
    this.failed.complete();
  }

  private refuse(
    reason: RejectionReason,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ): ReceiveAnswer {
    this.count.rejected[reason]++;
    this.refusals.note(REFUSAL_LABELS[reason]);
    this.logger.debug(`refused a webhook request: ${message}`);
    return answer(status, { error: message }, headers);
  }
}
