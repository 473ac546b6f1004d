import type { AppendOptions, ExpectedVersion, NewEvent, ReadOptions } from "../store.js";

/**
 * An event checked and serialised before it reaches a store: `data` is already JSON text (the
 * caller's `dataJson`, or what `JSON.stringify` made of `data`), which every store keeps and
 * returns as it is.
 * @internal
 */
export interface PreparedEvent {
  type: string;
  version: number;
  json: string;
  dedupKey: string | null;
}

/** The options of one append, checked. @internal */
export interface PreparedAppendOptions {
  expectedVersion: ExpectedVersion;
  checkpoint: { name: string; position: number } | undefined;
}

/** Throws unless `stream` is a non-empty string. @internal */
export function checkStream(stream: unknown): string {
  if (typeof stream !== "string" || stream.length === 0) {
    throw new TypeError(`stream must be a non-empty string, got ${describe(stream)}`);
  }
  return stream;
}

/** Throws unless `value` is a non-negative safe integer. @internal */
export function checkPosition(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `name` is a non-empty string. @internal */
export function checkCheckpointName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`checkpoint name must be a non-empty string, got ${describe(name)}`);
  }
  return name;
}

/** Checks a batch and serialises each event's data (unless it comes with `dataJson`). Throws a TypeError/RangeError naming the event. @internal */
export function prepareEvents(events: readonly NewEvent[]): PreparedEvent[] {
  if (!Array.isArray(events)) {
    throw new TypeError(`events must be an array, got ${describe(events)}`);
  }
  return events.map((event: NewEvent, index): PreparedEvent => {
    if (typeof event !== "object" || event === null) {
      throw new TypeError(`events[${index}] must be an object, got ${describe(event)}`);
    }
    if (typeof event.type !== "string" || event.type.length === 0) {
      throw new TypeError(`events[${index}].type must be a non-empty string, got ${describe(event.type)}`);
    }
    if (typeof event.version !== "number" || !Number.isSafeInteger(event.version) || event.version < 0) {
      throw new RangeError(
        `events[${index}].version must be a non-negative integer, got ${describe(event.version)}`,
      );
    }
    const dedupKey = event.dedupKey;
    if (dedupKey !== undefined && (typeof dedupKey !== "string" || dedupKey.length === 0)) {
      throw new TypeError(`events[${index}].dedupKey must be a non-empty string, got ${describe(dedupKey)}`);
    }
    const dataJson = event.dataJson;
    if (dataJson !== undefined) {
      if (typeof dataJson !== "string" || dataJson.length === 0) {
        throw new TypeError(`events[${index}].dataJson must be JSON text, got ${describe(dataJson)}`);
      }
      // The caller's promise: it parses to `data`. Not re-checked (that would cost what it saves).
      return { type: event.type, version: event.version, json: dataJson, dedupKey: dedupKey ?? null };
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(event.data);
    } catch (error) {
      throw new TypeError(`events[${index}].data is not JSON-serialisable: ${messageOf(error)}`, {
        cause: error,
      });
    }
    if (json === undefined) {
      throw new TypeError(`events[${index}].data is not JSON-serialisable (got ${describe(event.data)})`);
    }
    return { type: event.type, version: event.version, json, dedupKey: dedupKey ?? null };
  });
}

/** Checks an append's options and fills in the defaults. @internal */
export function prepareAppendOptions(options: AppendOptions | undefined): PreparedAppendOptions {
  const expectedVersion = options?.expectedVersion ?? "any";
  if (
    expectedVersion !== "any" &&
    expectedVersion !== "no-stream" &&
    (typeof expectedVersion !== "number" || !Number.isSafeInteger(expectedVersion) || expectedVersion < 0)
  ) {
    throw new RangeError(
      `expectedVersion must be "any", "no-stream" or a non-negative integer, got ${describe(expectedVersion)}`,
    );
  }
  const checkpoint = options?.checkpoint;
  if (checkpoint === undefined) return { expectedVersion, checkpoint: undefined };
  return {
    expectedVersion,
    checkpoint: {
      name: checkCheckpointName(checkpoint.name),
      position: checkPosition(checkpoint.position, "checkpoint.position"),
    },
  };
}

/** Checks read options: `after` defaults to 0, `limit` to unlimited. @internal */
export function prepareReadOptions(options: ReadOptions | undefined): {
  after: number;
  limit: number | undefined;
} {
  const after = checkPosition(options?.after ?? 0, "after");
  const limit = options?.limit;
  if (limit === undefined) return { after, limit: undefined };
  return { after, limit: checkPosition(limit, "limit") };
}

/** Whether a stream at `actual` satisfies `expected`. @internal */
export function versionMatches(expected: ExpectedVersion, actual: number): boolean {
  if (expected === "any") return true;
  if (expected === "no-stream") return actual === 0;
  return expected === actual;
}

/** The message of an unknown thrown value. @internal */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}
