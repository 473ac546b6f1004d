import { type AppendResult, ConcurrencyError, type ExpectedVersion, type StoredEvent } from "../../store.js";
import type { PreparedAppendOptions, PreparedEvent } from "./validation.js";

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
 * What {@link applyAppendCore} did with one batch: plain data (numbers only), so that it crosses a
 * thread boundary as it is.
 * @internal
 */
export interface AppendOutcome {
  /**
   * The stream's version when `expectedVersion` did not match (nothing was written, not even the
   * checkpoint), or -1 when the batch was applied.
   */
  conflict: number;
  /** For every event of the batch: its position, new or (for a duplicate) the stored one. */
  positions: number[];
  /** For every event of the batch: its new stream version, or 0 when it was skipped as a duplicate. */
  streamVersions: number[];
}

/**
 * The append semantics every store shares, on top of an {@link AppendBackend}:
 *
 * 1. Events whose dedup key is already stored, or appears earlier in the batch, are skipped and
 *    reported with the stored position.
 * 2. If the batch still has events to write (or is empty), `expectedVersion` is checked against the
 *    stream's version; a mismatch returns `conflict` (the actual version) before anything is written.
 *    A batch made only of already-stored events is an idempotent retry: it is reported as
 *    duplicates whatever the stream's version, and its checkpoint is still applied.
 * 3. The remaining events get consecutive stream versions and positions; the checkpoint, if any,
 *    is saved.
 *
 * The caller makes this atomic (a transaction, a savepoint, or a single synchronous run).
 *
 * SELF-CONTAINED on purpose: no imports, no free variables, no helpers a compiler would add. The
 * SQLite store's writer thread runs this very function from its source text
 * (`applyAppendCore.toString()`), so that both threads share one implementation.
 * @internal
 */
export function applyAppendCore(
  backend: AppendBackend,
  stream: string,
  events: readonly PreparedEvent[],
  expectedVersion: ExpectedVersion,
  checkpoint: { name: string; position: number } | undefined,
  recordedAt: string,
): AppendOutcome {
  /** Index of the first event in this batch with a given key, for duplicates inside the batch. */
  const firstIndexOfKey = new Map<string, number>();
  /** For every event: -1 when new, else the stored position (> 0) or -(2 + index of the batch event it repeats). */
  const plan: number[] = [];
  let fresh = 0;
  for (let index = 0; index < events.length; index += 1) {
    const key = (events[index] as PreparedEvent).dedupKey;
    if (key !== null) {
      const earlier = firstIndexOfKey.get(key);
      if (earlier !== undefined) {
        plan.push(-2 - earlier);
        continue;
      }
      firstIndexOfKey.set(key, index);
      const position = backend.positionOfDedupKey(key);
      if (position !== undefined) {
        plan.push(position);
        continue;
      }
    }
    plan.push(-1);
    fresh += 1;
  }

  const current = backend.streamVersion(stream);
  const idempotentRetry = events.length > 0 && fresh === 0;
  const matches =
    expectedVersion === "any" ||
    (expectedVersion === "no-stream" ? current === 0 : expectedVersion === current);
  if (!idempotentRetry && !matches) {
    return { conflict: current, positions: [], streamVersions: [] };
  }

  const positions: number[] = [];
  const streamVersions: number[] = [];
  let streamVersion = current;
  for (let index = 0; index < events.length; index += 1) {
    const step = plan[index] as number;
    if (step === -1) {
      streamVersion += 1;
      positions.push(backend.insert(stream, streamVersion, events[index] as PreparedEvent, recordedAt));
      streamVersions.push(streamVersion);
    } else {
      positions.push(step > 0 ? step : (positions[-2 - step] as number));
      streamVersions.push(0);
    }
  }

  if (checkpoint !== undefined) {
    backend.saveCheckpoint(checkpoint.name, checkpoint.position);
  }
  return { conflict: -1, positions, streamVersions };
}

/**
 * {@link applyAppendCore} for a store that runs it on the calling thread: throws
 * {@link ConcurrencyError} on a version mismatch (nothing written), else returns the {@link AppendResult}.
 * @internal
 */
export function applyAppend(
  backend: AppendBackend,
  stream: string,
  events: readonly PreparedEvent[],
  options: PreparedAppendOptions,
  recordedAt: string,
): AppendResult {
  const outcome = applyAppendCore(
    backend,
    stream,
    events,
    options.expectedVersion,
    options.checkpoint,
    recordedAt,
  );
  if (outcome.conflict >= 0) throw new ConcurrencyError(stream, options.expectedVersion, outcome.conflict);
  return appendResultOf(stream, events, outcome, recordedAt);
}

/**
 * The {@link AppendResult} of an applied batch, from its prepared events and its outcome.
 * @internal
 */
export function appendResultOf(
  stream: string,
  events: readonly PreparedEvent[],
  outcome: { positions: ArrayLike<number>; streamVersions: ArrayLike<number> },
  recordedAt: string,
): AppendResult {
  const appended: StoredEvent[] = [];
  const duplicates: AppendResult["duplicates"] = [];
  events.forEach((event, index) => {
    const position = outcome.positions[index] ?? 0;
    const streamVersion = outcome.streamVersions[index] ?? 0;
    if (streamVersion > 0) {
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
    } else {
      duplicates.push({ index, dedupKey: event.dedupKey ?? "", position });
    }
  });
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
