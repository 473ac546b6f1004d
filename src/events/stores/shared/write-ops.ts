import type { ExpectedVersion } from "../../store.js";
import type { PreparedEvent, PreparedSnapshot, PreparedTagEntry } from "./validation.js";

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
