import type { Subscription } from "rxjs";
import type { FetchLike } from "../api/transport.js";
import type { Scheduler } from "../internal/time.js";
import { unreachableByProvider } from "../webhooks/reachability.js";
import type { WebhookReceiver } from "../webhooks/receiver.js";

/** How long the start-up probe waits for its delivery at the receiver, by default (not scaled: a network wait). */
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

/** What the start-up check of the webhook path found. */
export interface WebhookCheck {
  /** The probe delivery reached the receiver: deliveries can arrive. */
  arrived: boolean;
  /** The URL that was tried (the public URL given to the provider). */
  url: string;
  /** What was tried and what happened, in a sentence. */
  detail: string;
  /** How long it took (scheduler ms). */
  elapsedMs: number;
}

/** What {@link checkWebhookPath} needs. */
export interface WebhookCheckDeps {
  /** The public URL the provider is given. */
  url: string;
  receiver: WebhookReceiver;
  /** The API's base URL: a local webhook URL with a public API cannot be reached by the provider. */
  baseUrl: string;
  fetch: FetchLike;
  timeoutMs: number;
  scheduler: Scheduler;
}

/**
 * Checks, without any API call, that deliveries to the public URL reach the receiver: a loopback or
 * private URL while the API is public cannot (the provider is elsewhere); otherwise one signed
 * probe delivery is POSTed to the URL and awaited at the receiver for `timeoutMs`. A refused
 * connection or a non-2xx answer ends the wait at once; a 2xx answer without the probe arriving
 * (something else answered: a tunnel's error page, another server) waits for it until the timeout.
 */
export async function checkWebhookPath(deps: WebhookCheckDeps): Promise<WebhookCheck> {
  const { url, scheduler } = deps;
  const startedAt = scheduler.now();
  const result = (arrived: boolean, detail: string): WebhookCheck => ({
    arrived,
    url,
    detail,
    elapsedMs: scheduler.now() - startedAt,
  });
  if (unreachableByProvider(url, deps.baseUrl)) {
    return result(
      false,
      `${url} is a loopback or private address while the API is not: the provider cannot reach it`,
    );
  }
  const probe = deps.receiver.createProbe();
  const controller = new AbortController();
  let timer: Subscription | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = scheduler.schedule(() => resolve("timeout"), deps.timeoutMs);
  });
  // Settles only when the POST failed: a 2xx answer leaves the wait to the arrival or the timeout.
  const postFailed = deps
    .fetch(url, { method: "POST", headers: probe.headers, body: probe.body, signal: controller.signal })
    .then(
      async (response) => {
        await response.body?.cancel().catch(() => undefined);
        return response.ok ? never<string>() : `it was answered HTTP ${response.status}`;
      },
      (error: unknown) => `the POST failed: ${networkReason(error)}`,
    );
  try {
    const outcome = await Promise.race([probe.arrived.then(() => "arrived" as const), timedOut, postFailed]);
    if (outcome === "arrived")
      return result(true, `a signed probe delivery POSTed to ${url} reached the receiver`);
    const why =
      outcome === "timeout"
        ? `it did not reach the receiver within ${(deps.timeoutMs / 1000).toFixed(1)} s`
        : `${outcome}, and the receiver got nothing`;
    return result(false, `a signed probe delivery was POSTed to ${url}: ${why}`);
  } finally {
    timer?.unsubscribe();
    controller.abort();
    probe.cancel();
  }
}

/** A promise that never settles. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

/** `ECONNREFUSED`, `ENOTFOUND`… when fetch names a cause, else the error's message. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === "string")
    return `${cause.code}${typeof cause.message === "string" ? ` (${cause.message})` : ""}`;
  return error instanceof Error ? error.message : String(error);
}
