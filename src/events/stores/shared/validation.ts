import { dataTextProblem, jsonOfText } from "../../data-text.js";
import type {
  AppendOptions,
  DataText,
  ExpectedVersion,
  NewEvent,
  ReadOptions,
  StoredSnapshot,
  TagReadOptions,
} from "../../store.js";

/**
 * An event checked and serialised before it reaches a store: `data` is already JSON text (the
 * caller's `dataJson`, or what `JSON.stringify` made of `data`), which every store keeps and
 * returns as it is. For an event given as {@link DataText}, `json` is built on first access, and a
 * store that can write the text itself reads `text` instead.
 * @internal
 */
export interface PreparedEvent {
  type: string;
  version: number;
  readonly json: string;
  /** The caller's {@link NewEvent.dataText}, checked. */
  text?: DataText;
  dedupKey: string | null;
  /** The event's tags, each once. */
  tags: string[];
}

/** A tag backfill entry, checked. @internal */
export interface PreparedTagEntry {
  position: number;
  tags: string[];
}

/** A snapshot checked and serialised (`data` as JSON text). @internal */
export interface PreparedSnapshot {
  name: string;
  position: number;
  version: number;
  json: string;
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
    const tags = event.tags === undefined ? [] : checkTags(event.tags, `events[${index}].tags`);
    if (event.dataText !== undefined) {
      const text = checkDataText(event.dataText, `events[${index}].dataText`);
      let json: string | undefined;
      return {
        type: event.type,
        version: event.version,
        get json(): string {
          json ??= jsonOfText(text);
          return json;
        },
        text,
        dedupKey: dedupKey ?? null,
        tags,
      };
    }
    const dataJson = event.dataJson;
    if (dataJson !== undefined) {
      if (typeof dataJson !== "string" || dataJson.length === 0) {
        throw new TypeError(`events[${index}].dataJson must be JSON text, got ${describe(dataJson)}`);
      }
      // The caller's promise: it parses to `data`. Not re-checked (that would cost what it saves).
      return { type: event.type, version: event.version, json: dataJson, dedupKey: dedupKey ?? null, tags };
    }
    const json = jsonOf(event.data, `events[${index}].data`);
    return { type: event.type, version: event.version, json, dedupKey: dedupKey ?? null, tags };
  });
}

/** Throws unless `text` is a {@link DataText} whose bytes are UTF-8 without a NUL byte. */
function checkDataText(text: DataText, what: string): DataText {
  const { before, utf8, after } = text;
  if (typeof before !== "string" || typeof after !== "string" || !(utf8 instanceof Uint8Array)) {
    throw new TypeError(`${what} must be { before: string, utf8: Uint8Array, after: string }`);
  }
  const problem = dataTextProblem(utf8);
  if (problem !== undefined) throw new TypeError(`${what}.utf8 ${problem}`);
  return { before, utf8, after };
}

/** `value` as JSON text; throws a TypeError naming `what` when it is not JSON-serialisable. */
function jsonOf(value: unknown, what: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${what} is not JSON-serialisable: ${messageOf(error)}`, { cause: error });
  }
  if (json === undefined) {
    throw new TypeError(`${what} is not JSON-serialisable (got ${describe(value)})`);
  }
  return json;
}

/** Throws unless `tags` is an array of non-empty strings; returns them without repeats. @internal */
export function checkTags(tags: unknown, what: string): string[] {
  if (!Array.isArray(tags)) throw new TypeError(`${what} must be an array of strings, got ${describe(tags)}`);
  tags.forEach((tag: unknown, index) => {
    if (typeof tag !== "string" || tag.length === 0) {
      throw new TypeError(`${what}[${index}] must be a non-empty string, got ${describe(tag)}`);
    }
  });
  return [...new Set(tags as string[])];
}

/** Checks the entries of an `addTags` call. @internal */
export function prepareTagEntries(
  entries: readonly { position: number; tags: readonly string[] }[],
): PreparedTagEntry[] {
  if (!Array.isArray(entries)) {
    throw new TypeError(`entries must be an array, got ${describe(entries)}`);
  }
  return entries.map((entry: { position: number; tags: readonly string[] }, index) => {
    if (typeof entry !== "object" || entry === null) {
      throw new TypeError(`entries[${index}] must be an object, got ${describe(entry)}`);
    }
    return {
      position: checkPosition(entry.position, `entries[${index}].position`),
      tags: checkTags(entry.tags, `entries[${index}].tags`),
    };
  });
}

/** Checks `readByTags`' arguments: `after` defaults to 0, `types` to every type. @internal */
export function prepareTagRead(
  tags: readonly string[],
  options: TagReadOptions | undefined,
): { tags: string[]; after: number; types: string[] | undefined } {
  const checked = checkTags(tags, "tags");
  const after = checkPosition(options?.after ?? 0, "after");
  const types = options?.types === undefined ? undefined : checkTags(options.types, "types");
  return { tags: checked, after, types };
}

/** Throws unless `name` is a non-empty string. @internal */
export function checkSnapshotName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`snapshot name must be a non-empty string, got ${describe(name)}`);
  }
  return name;
}

/** Checks a snapshot to save and serialises its data. @internal */
export function prepareSnapshot(name: string, snapshot: StoredSnapshot): PreparedSnapshot {
  const checkedName = checkSnapshotName(name);
  if (typeof snapshot !== "object" || snapshot === null) {
    throw new TypeError(`snapshot must be an object, got ${describe(snapshot)}`);
  }
  return {
    name: checkedName,
    position: checkPosition(snapshot.position, "snapshot.position"),
    version: checkPosition(snapshot.version, "snapshot.version"),
    json: jsonOf(snapshot.data, "snapshot.data"),
  };
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
