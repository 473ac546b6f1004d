import { ConcurrencyError, StoreUnavailableError } from "../../store.js";
import { messageOf } from "./validation.js";

/** A driver error as a store describes it (see {@link unavailableError}). @internal */
export interface FailureDescription {
  /** The store as messages name it: a file path, or a URL without its password. */
  where: string;
  /** What the store was doing: `open`, `read`, `write`… */
  action: string;
  /** The driver's error code ("" when there is none). */
  code: string;
  /**
   * The message for this code (given `detail`: the driver's message and code), saying what went
   * wrong and what to do; undefined for the generic one.
   */
  explain(detail: string): string | undefined;
}

/**
 * Turns a driver error into a {@link StoreUnavailableError} that says what went wrong and what to
 * do. A StoreUnavailableError, a ConcurrencyError and a RangeError (invalid input) pass through as
 * they are, and so does any error `passThrough` accepts.
 * @internal
 */
export function unavailableError(
  error: unknown,
  description: FailureDescription,
  passThrough: (error: unknown) => boolean = () => false,
): Error {
  if (error instanceof StoreUnavailableError) return error;
  if (error instanceof ConcurrencyError || error instanceof RangeError || passThrough(error)) {
    return error as Error;
  }
  const { where, action, code } = description;
  const detail = `${messageOf(error)}${code ? ` (${code})` : ""}`;
  const message =
    description.explain(detail) ??
    (action === "open"
      ? `cannot open the event store ${where} — ${detail}.`
      : `the event store ${where} failed to ${action} — ${detail}.`);
  return new StoreUnavailableError(message, { cause: error });
}
