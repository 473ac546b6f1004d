import { type AppendResult, ConcurrencyError, type StoredEvent } from "../store.js";
import { type PreparedAppendOptions, type PreparedEvent, versionMatches } from "./validation.js";

/**
 * What {@link applyAppend} needs from a store, called while the store holds its write lock
 * (inside the transaction for SQL stores). Every call sees the effects of the previous ones.
 * @internal
 */
export interface AppendBackend {
  /** The stream's current version (its last event's `streamVersion`, 0 when empty). */
  streamVersion(stream: string): number;
  /** The position of the stored event with this dedup key, if any. */
  positionOfDedupKey(dedupKey: string): number | undefined;
  /** Stores one event and returns its position (the next global position). */
  insert(stream: string, streamVersion: number, event: PreparedEvent, recordedAt: string): number;
  /** Moves a checkpoint forward (never backwards). */
  saveCheckpoint(name: string, position: number): void;
}

/**
 * The append semantics every store shares, on top of an {@link AppendBackend}:
 *
 * 1. Events whose dedup key is already stored, or appears earlier in the batch, are skipped and
 *    reported in `duplicates` with the stored position.
 * 2. If the batch still has events to write (or is empty), `expectedVersion` is checked against the
 *    stream's version and a mismatch throws {@link ConcurrencyError} before anything is written.
 *    A batch made only of already-stored events is an idempotent retry: it is reported as
 *    duplicates whatever the stream's version, and its checkpoint is still applied.
 * 3. The remaining events get consecutive stream versions and positions; the checkpoint, if any,
 *    is saved.
 *
 * The caller makes this atomic (a transaction, a savepoint, or a single synchronous run).
 * @internal
 */
export function applyAppend(
  backend: AppendBackend,
  stream: string,
  events: readonly PreparedEvent[],
  options: PreparedAppendOptions,
  recordedAt: string,
): AppendResult {
  const duplicates: AppendResult["duplicates"] = [];
  /** Index of the first event in this batch with a given key, for duplicates inside the batch. */
  const firstIndexOfKey = new Map<string, number>();
  /** For every event: "new", the position of a stored duplicate, or the index of the batch event it repeats. */
  const plan: ({ kind: "new" } | { kind: "stored"; position: number } | { kind: "repeat"; of: number })[] =
    [];
  let fresh = 0;
  events.forEach((event, index) => {
    const key = event.dedupKey;
    if (key !== null) {
      const earlier = firstIndexOfKey.get(key);
      if (earlier !== undefined) {
        plan.push({ kind: "repeat", of: earlier });
        return;
      }
      firstIndexOfKey.set(key, index);
      const position = backend.positionOfDedupKey(key);
      if (position !== undefined) {
        plan.push({ kind: "stored", position });
        return;
      }
    }
    plan.push({ kind: "new" });
    fresh += 1;
  });

  const current = backend.streamVersion(stream);
  const idempotentRetry = events.length > 0 && fresh === 0;
  if (!idempotentRetry && !versionMatches(options.expectedVersion, current)) {
    throw new ConcurrencyError(stream, options.expectedVersion, current);
  }

  const appended: StoredEvent[] = [];
  const positions: number[] = [];
  let streamVersion = current;
  events.forEach((event, index) => {
    const step = plan[index];
    if (step === undefined) return;
    if (step.kind === "new") {
      streamVersion += 1;
      const position = backend.insert(stream, streamVersion, event, recordedAt);
      positions[index] = position;
      appended.push(
        withLazyData(
          {
            position,
            stream,
            streamVersion,
            type: event.type,
            version: event.version,
            dedupKey: event.dedupKey,
            recordedAt,
          },
          event.json,
        ),
      );
      return;
    }
    const position = step.kind === "stored" ? step.position : (positions[step.of] ?? 0);
    positions[index] = position;
    duplicates.push({ index, dedupKey: event.dedupKey ?? "", position });
  });

  if (options.checkpoint !== undefined) {
    backend.saveCheckpoint(options.checkpoint.name, options.checkpoint.position);
  }
  return { appended, duplicates };
}

/**
 * A stored event whose `data` is parsed from its JSON on first access only: most callers of
 * `append` look at positions, and parsing a large payload back costs as much as storing it.
 */
function withLazyData(fields: Omit<StoredEvent, "data">, json: string): StoredEvent {
  let parsed: { value: unknown } | undefined;
  const event = { ...fields } as StoredEvent;
  Object.defineProperty(event, "data", {
    enumerable: true,
    configurable: true,
    get: () => {
      parsed ??= { value: JSON.parse(json) as unknown };
      return parsed.value;
    },
  });
  return event;
}
