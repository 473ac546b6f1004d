import { type AppendResult, ConcurrencyError, type StoredEvent } from "../../store.js";
import { type AppendBackend, applyAppendCore } from "./append-core.js";
import type { PreparedAppendOptions, PreparedEvent } from "./validation.js";

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
          event,
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
function withLazyData(fields: Omit<StoredEvent, "data">, prepared: PreparedEvent): StoredEvent {
  let parsed: { value: unknown } | undefined;
  const event = { ...fields } as StoredEvent;
  Object.defineProperty(event, "data", {
    enumerable: true,
    configurable: true,
    get: () => {
      parsed ??= { value: JSON.parse(prepared.json) as unknown };
      return parsed.value;
    },
  });
  return event;
}
