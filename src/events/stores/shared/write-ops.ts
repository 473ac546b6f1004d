import type { AppendOptions, ExpectedVersion, NewEvent, StoredSnapshot } from "../../store.js";
import {
  checkCheckpointName,
  checkPosition,
  checkStream,
  type PreparedEvent,
  type PreparedSnapshot,
  type PreparedTagEntry,
  prepareAppendOptions,
  prepareEvents,
  prepareSnapshot,
  prepareTagEntries,
} from "./validation.js";

/** An append, checked and serialised, as a store's writer works on it. @internal */
export interface AppendOp {
  kind: "append";
  stream: string;
  events: PreparedEvent[];
  expectedVersion: ExpectedVersion;
  checkpoint: { name: string; position: number } | undefined;
}

/** A `setCheckpoint`. @internal */
export interface CheckpointOp {
  kind: "checkpoint";
  name: string;
  position: number;
}

/** An `addTags`. @internal */
export interface TagsOp {
  kind: "tags";
  entries: PreparedTagEntry[];
}

/** A `saveSnapshot`. @internal */
export interface SnapshotOp {
  kind: "snapshot";
  snapshot: PreparedSnapshot;
}

/** Everything a store writes, committed in groups. @internal */
export type WriteOp = AppendOp | CheckpointOp | TagsOp | SnapshotOp;

/** An `append` call, checked (throws a TypeError or RangeError naming what is wrong). @internal */
export function appendOpOf(
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions | undefined,
): AppendOp {
  const checked = prepareAppendOptions(options);
  return {
    kind: "append",
    stream: checkStream(stream),
    events: prepareEvents(events),
    expectedVersion: checked.expectedVersion,
    checkpoint: checked.checkpoint,
  };
}

/** A `setCheckpoint` call, checked. @internal */
export function checkpointOpOf(name: string, position: number): CheckpointOp {
  return {
    kind: "checkpoint",
    name: checkCheckpointName(name),
    position: checkPosition(position, "position"),
  };
}

/** An `addTags` call, checked. @internal */
export function tagsOpOf(entries: readonly { position: number; tags: readonly string[] }[]): TagsOp {
  return { kind: "tags", entries: prepareTagEntries(entries) };
}

/** A `saveSnapshot` call, checked. @internal */
export function snapshotOpOf(name: string, snapshot: StoredSnapshot): SnapshotOp {
  return { kind: "snapshot", snapshot: prepareSnapshot(name, snapshot) };
}
