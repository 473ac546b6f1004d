import { unavailableError } from "../shared/errors.js";
import { messageOf } from "../shared/validation.js";

/** The SQLSTATE (or Node's code) of a driver error, "" when it has none. @internal */
export function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return "";
}

/**
 * Whether the statement failed because of what one append carried (a data exception, a constraint,
 * a size limit): then the group is retried one append at a time. Not for lock timeouts or
 * connection failures, which would only fail again.
 * @internal
 */
export function isDataError(error: unknown): boolean {
  const code = errorCode(error);
  return code.startsWith("22") || code.startsWith("23") || code.startsWith("54");
}

/** Whether the connection itself failed (the server is gone, or the session was terminated). @internal */
export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  if (code.startsWith("08") || code.startsWith("57P") || code.startsWith("E")) return true;
  const message = messageOf(error);
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

/** What the PostgreSQL store's error messages need to know. @internal */
export interface PostgresErrorContext {
  /** The URL without its password. */
  location: string;
  lockTimeoutMs: number;
}

/**
 * Turns a driver error into a {@link StoreUnavailableError} that says what went wrong and what to
 * do (a TypeError, invalid input, passes through). `commit`: the connection failed while committing,
 * so the write may or may not be stored.
 * @internal
 */
export function postgresUnavailable(
  error: unknown,
  context: PostgresErrorContext,
  action: "open" | "read" | "write" | "commit",
): Error {
  const where = context.location;
  const code = errorCode(error);
  return unavailableError(
    error,
    {
      where,
      action,
      code,
      explain: (detail) => {
        if (action === "commit") {
          return (
            `the connection to the event store ${where} failed while committing — ${detail}. The append may or ` +
            "may not be stored: retry it (events with dedup keys are stored once whatever happens)."
          );
        }
        if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ETIMEDOUT") {
          return (
            `cannot reach the PostgreSQL server of the event store ${where} — ${detail}. Check that it runs ` +
            "and that the host and port in the URL are right."
          );
        }
        if (code === "28P01" || code === "28000") {
          return (
            `PostgreSQL refused the credentials for the event store ${where} — ${detail}. Check the user ` +
            "and password in the URL (or PGPASSWORD)."
          );
        }
        if (code === "3D000") {
          return `the database of the event store ${where} does not exist — ${detail}. Create it, or fix the URL.`;
        }
        if (code === "42501") {
          return (
            `the PostgreSQL user of the event store ${where} lacks a privilege — ${detail}. Grant it CREATE on ` +
            "the database (to create the schema) or USAGE and CREATE on the schema."
          );
        }
        if (code === "55P03") {
          return (
            `the event store ${where} is locked: another connection held its write lock for longer than ` +
            `lockTimeoutMs (${context.lockTimeoutMs} ms) — ${detail}. Find the transaction that keeps it ` +
            "(pg_stat_activity), or raise lockTimeoutMs, then retry."
          );
        }
        if (code === "53300") {
          return `the PostgreSQL server of the event store ${where} has too many connections — ${detail}.`;
        }
        if (isConnectionError(error)) {
          return `lost the connection to the event store ${where} — ${detail}. Retry once the server is back.`;
        }
        return undefined;
      },
    },
    (passing) => passing instanceof TypeError,
  );
}
