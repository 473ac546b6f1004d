import { abortReason, defaultScheduler, type Scheduler } from "../internal/time.js";
import { NetworkError, RequestTimeoutError } from "./errors.js";

/** The `fetch` the client uses; any WHATWG-compatible implementation (or an in-process handler). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** An HTTP answer, its body already read. */
export interface HttpAnswer {
  status: number;
  text: string;
}

/** Error codes meaning the connection never opened, so the request cannot have been sent. */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_INVALID_URL",
]);

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

/**
 * Sends one request and reads its body, within `timeoutMs`. Turns failures into
 * {@link RequestTimeoutError}, {@link NetworkError} (saying whether the request may have been
 * sent), or the caller's abort reason.
 */
export async function sendRequest(
  fetchImpl: FetchLike,
  url: string,
  init: RequestInit,
  options: { timeoutMs: number; signal?: AbortSignal; scheduler?: Scheduler },
): Promise<HttpAnswer> {
  const scheduler = options.scheduler ?? defaultScheduler;
  const controller = new AbortController();
  let timedOut = false;
  const timer = scheduler.schedule(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const response = await fetchImpl(url, { ...init, signal: controller.signal });
    const text = await response.text();
    return { status: response.status, text };
  } catch (error) {
    if (options.signal?.aborted) throw abortReason(options.signal);
    if (timedOut) throw new RequestTimeoutError(options.timeoutMs);
    const code = causeCode(error);
    const sent = code === undefined || !NOT_SENT_CODES.has(code);
    throw new NetworkError(`could not reach FullEnrich (${code ?? "network error"})`, sent, { cause: error });
  } finally {
    timer.unsubscribe();
    options.signal?.removeEventListener("abort", onAbort);
  }
}
