import type { z } from "zod";

/** Base class of every error fullenrich-rx throws on purpose. */
export class FullEnrichError extends Error {
  override name = "FullEnrichError";
}

/** One broken rule of a request, found before anything was sent. */
export interface RequestIssue {
  /** Index of the contact in the request's `data` (0-based), when the issue is about a contact. */
  index?: number;
  /** The field, as a dotted path inside the contact (or the request when `index` is absent). */
  field: string;
  message: string;
}

/** A request broke one of the provider's rules; nothing was sent. */
export class InvalidRequestError extends FullEnrichError {
  override name = "InvalidRequestError";
  constructor(readonly issues: readonly RequestIssue[]) {
    super(`invalid request: ${issues.map(describeIssue).join("; ")}`);
  }
}

/** One issue as a line: `contact 3 (data[3]) last_name: is required…`. */
export function describeIssue(issue: RequestIssue): string {
  const where =
    issue.index === undefined ? issue.field : `contact ${issue.index} (data[${issue.index}]) ${issue.field}`;
  return `${where || "request"}: ${issue.message}`;
}

/** Turns zod issues of a request body into issues naming the contact index and the field. */
export function requestIssuesFrom(error: z.ZodError): RequestIssue[] {
  return error.issues.map((issue) => {
    const path = [...issue.path];
    if (path[0] === "data" && typeof path[1] === "number") {
      const index = path[1];
      const field = path.slice(2).map(String).join(".") || "contact";
      return { index, field, message: issue.message };
    }
    return { field: path.map(String).join(".") || "request", message: issue.message };
  });
}

/** The first few issues of a response body that did not parse, each as `path: message`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join(".") || "body"}: ${issue.message}`)
    .join("; ");
}

/** The provider answered with an HTTP error. `code` and `apiMessage` come from its `{code, message}`. */
export class ApiError extends FullEnrichError {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    readonly apiMessage: string,
    message = `FullEnrich answered ${status}${code ? ` ${code}` : ""}${apiMessage ? `: ${apiMessage}` : ""}`,
  ) {
    super(message);
  }
}

/** 401: the API key is missing, malformed or unknown. */
export class UnauthorizedError extends ApiError {
  override name = "UnauthorizedError";
  constructor(code: string, apiMessage: string) {
    super(
      401,
      code,
      apiMessage,
      `the API key was refused (401${code ? ` ${code}` : ""}): check FULLENRICH_API_KEY or --api-key`,
    );
  }
}

/** 404: the enrichment id is unknown, or older than the provider's 3-month retention. */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}

/** 429: over the account's calls-per-minute budget. */
export class RateLimitedError extends ApiError {
  override name = "RateLimitedError";
}

/** 5xx from the provider. */
export class ServerError extends ApiError {
  override name = "ServerError";
}

/** No HTTP answer: the connection failed. `sent` says whether the request may have reached the provider. */
export class NetworkError extends FullEnrichError {
  override name = "NetworkError";
  constructor(
    message: string,
    readonly sent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The request took longer than the per-request timeout. */
export class RequestTimeoutError extends FullEnrichError {
  override name = "RequestTimeoutError";
  constructor(readonly timeoutMs: number) {
    super(`no answer from FullEnrich within ${timeoutMs} ms`);
  }
}

/**
 * A POST that starts an enrichment may have reached the provider, but no answer says whether it
 * did (timeout, 5xx, connection reset after sending). There is no idempotency key, so it is not
 * retried: retrying could start, and bill, the same batch twice. The engine records it and
 * decides.
 */
export class OutcomeUnknownError extends FullEnrichError {
  override name = "OutcomeUnknownError";
  constructor(
    readonly operation: string,
    options: { cause: unknown },
  ) {
    super(
      `${operation}: the request may have reached FullEnrich but no answer says whether it started (${errorMessage(options.cause)}); not retried, to avoid starting and paying for the batch twice`,
      options,
    );
  }
}

/** The provider's answer did not match what the library needs. */
export class UnexpectedResponseError extends FullEnrichError {
  override name = "UnexpectedResponseError";
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`unexpected answer from FullEnrich (HTTP ${status}): ${detail}`);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
