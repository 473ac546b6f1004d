import type { z } from "zod";
import {
  ApiError,
  describeIssues,
  NotFoundError,
  RateLimitedError,
  ServerError,
  UnauthorizedError,
  UnexpectedResponseError,
} from "./errors.js";
import {
  ApiErrorBodySchema,
  type EnrichmentResult,
  EnrichmentResultSchema,
  type FinalStatus,
  isFinalStatus,
} from "./response-schemas.js";
import type { HttpAnswer } from "./transport.js";

/**
 * Reading the provider's answers: JSON bodies checked with their schema, `{code, message}` errors
 * turned into the error classes, and result reads into a {@link ResultOutcome}.
 */

/**
 * The answer of a get-result call. `raw` is the body as the provider sent it (unknown keys, entries
 * that do not parse and `datas` included); `result` is what fullenrich-rx reads from it.
 */
export type ResultOutcome =
  /**
   * Not yet: a 400 whose code ends in `.in_progress` (`error.enrichment.in_progress`, or a reverse
   * lookup's own code), or a 200 with a status that is not final (`CREATED` or `IN_PROGRESS`, usually
   * with `data: null`; `RATE_LIMIT`, `UNKNOWN` or an undocumented value too).
   */
  | { state: "pending"; status: string; httpStatus: number }
  /** `forceResults` asked, and the batch is not finished: what was found so far. Never final. */
  | { state: "partial"; result: EnrichmentResult; raw: Record<string, unknown>; httpStatus: number }
  /** Finished (200), or stopped for lack of credits (402, whose body is a full result). */
  | {
      state: "done";
      result: EnrichmentResult & { status: FinalStatus };
      raw: Record<string, unknown>;
      httpStatus: number;
    };

/**
 * Error codes that mean "still running": `error.enrichment.in_progress` is documented; reverse
 * lookups may answer with a code of their own, so any code ending in `.in_progress` counts.
 */
export function isInProgressCode(code: string): boolean {
  return code.endsWith(".in_progress");
}

function parseJson(answer: HttpAnswer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch {
    throw new UnexpectedResponseError(
      answer.status,
      `the body is not JSON (${answer.text.length} characters)`,
    );
  }
}

export function parseAnswer<S extends z.ZodType>(schema: S, answer: HttpAnswer): z.output<S> {
  const parsed = schema.safeParse(parseJson(answer));
  if (!parsed.success) throw new UnexpectedResponseError(answer.status, describeIssues(parsed.error));
  return parsed.data;
}

export function apiError(answer: HttpAnswer): ApiError {
  let code = "";
  let message = "";
  try {
    const parsed = ApiErrorBodySchema.safeParse(JSON.parse(answer.text));
    if (parsed.success) ({ code, message } = parsed.data);
  } catch {
    // Not the error envelope: keep the status alone.
  }
  const { status } = answer;
  if (status === 401) return new UnauthorizedError(code, message);
  if (status === 404) return new NotFoundError(status, code, message);
  if (status === 429) return new RateLimitedError(status, code, message);
  if (status >= 500) return new ServerError(status, code, message);
  return new ApiError(status, code, message);
}

export function expectOk(answer: HttpAnswer): HttpAnswer {
  if (answer.status >= 200 && answer.status < 300) return answer;
  throw apiError(answer);
}

export function readResult(answer: HttpAnswer, forceResults: boolean): ResultOutcome {
  if (answer.status === 400) {
    const error = apiError(answer);
    if (isInProgressCode(error.code)) return { state: "pending", status: "IN_PROGRESS", httpStatus: 400 };
    throw error;
  }
  if (answer.status !== 200 && answer.status !== 402) throw apiError(answer);
  const json = parseJson(answer);
  const parsed = EnrichmentResultSchema.safeParse(json);
  if (!parsed.success) {
    if (answer.status === 402) throw apiError(answer);
    throw new UnexpectedResponseError(answer.status, describeIssues(parsed.error));
  }
  const result = parsed.data;
  const raw = json as Record<string, unknown>;
  if (isFinalStatus(result.status)) {
    return {
      state: "done",
      result: result as EnrichmentResult & { status: FinalStatus },
      raw,
      httpStatus: answer.status,
    };
  }
  if (forceResults) return { state: "partial", result, raw, httpStatus: answer.status };
  return { state: "pending", status: result.status, httpStatus: answer.status };
}
