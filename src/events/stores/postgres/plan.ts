import type { AppendBackend } from "../shared/append-core.js";
import { applyAppend } from "../shared/append-result.js";
import { type EventRecord, recordOf } from "../shared/event-row.js";
import type { WriteOutcome } from "../shared/group-writer.js";
import type { PreparedSnapshot } from "../shared/validation.js";
import type { WriteOp } from "../shared/write-ops.js";

/** An event to insert, planned in memory. @internal */
export interface PlannedRow extends EventRecord {
  position: number;
  tags: string[];
}

/** What one group's planning decided to write, and what became of each of its writes. @internal */
export interface GroupPlan {
  outcomes: WriteOutcome[];
  rows: PlannedRow[];
  checkpoints: Map<string, number>;
  /** Tags for events already stored (`addTags`): tag and position. */
  backfill: { tags: string[]; positions: number[] };
  /** The snapshots to save, by name (the last save of a name wins). */
  snapshots: Map<string, PreparedSnapshot>;
  recordedAt: string;
  /** The highest position the group appends (0 when it appends nothing). */
  head: number;
}

/**
 * What the planning works from: the stored positions of the group's dedup keys, each stream's
 * version to count on from, and where the group's positions come from.
 * @internal
 */
export interface PlanBasis {
  /** Positions of the group's dedup keys that are stored. */
  storedKeys: ReadonlyMap<string, number>;
  /** The version each stream's new events follow (0 when unknown yet, see {@link freshCounts}). */
  streamBase(stream: string): number;
  /** The next position for a new event. */
  nextPosition(): number;
}

/** How many new events a plan appends to each stream, and in all. @internal */
export function freshCounts(plan: GroupPlan): { perStream: Map<string, number>; total: number } {
  const perStream = new Map<string, number>();
  for (const row of plan.rows) perStream.set(row.stream, (perStream.get(row.stream) ?? 0) + 1);
  return { perStream, total: plan.rows.length };
}

function keepHighest(target: Map<string, number>, name: string, position: number): void {
  target.set(name, Math.max(position, target.get(name) ?? 0));
}

/**
 * Decides, in memory, what the group writes: runs the shared append semantics ({@link applyAppend})
 * over each write in turn, each seeing the effects of the previous ones. An append whose expected
 * version fails is dropped before anything of it is planned, so it takes no position. Which
 * events are new, duplicates or refused depends only on the stored keys and the bases of the
 * streams that have an expected version: the store plans once to count the new events, takes that
 * many positions and stream versions, and plans again with them (see postgres/commit.ts).
 * @internal
 */
export function planGroup(ops: readonly WriteOp[], basis: PlanBasis, recordedAt: string): GroupPlan {
  const versions = new Map<string, number>();
  const positions = new Map(basis.storedKeys);
  const rows: PlannedRow[] = [];
  const checkpoints = new Map<string, number>();
  const backfill: GroupPlan["backfill"] = { tags: [], positions: [] };
  const snapshots = new Map<string, PreparedSnapshot>();
  const outcomes = ops.map((op): WriteOutcome => {
    if (op.kind === "checkpoint") {
      keepHighest(checkpoints, op.name, op.position);
      return { ok: true };
    }
    if (op.kind === "tags") {
      for (const entry of op.entries) {
        for (const tag of entry.tags) {
          backfill.tags.push(tag);
          backfill.positions.push(entry.position);
        }
      }
      return { ok: true };
    }
    if (op.kind === "snapshot") {
      snapshots.set(op.snapshot.name, op.snapshot);
      return { ok: true };
    }
    // This append's effects, kept apart until it succeeded.
    const staged = {
      rows: [] as PlannedRow[],
      versions: new Map<string, number>(),
      positions: new Map<string, number>(),
      checkpoints: new Map<string, number>(),
    };
    const backend: AppendBackend = {
      streamVersion: (stream) =>
        staged.versions.get(stream) ?? versions.get(stream) ?? basis.streamBase(stream),
      positionOfDedupKey: (key) => staged.positions.get(key) ?? positions.get(key),
      insert: (stream, streamVersion, event) => {
        const position = basis.nextPosition();
        staged.rows.push({ ...recordOf(stream, streamVersion, event), position, tags: event.tags });
        staged.versions.set(stream, streamVersion);
        if (event.dedupKey !== null) staged.positions.set(event.dedupKey, position);
        return position;
      },
      saveCheckpoint: (name, position) => keepHighest(staged.checkpoints, name, position),
    };
    try {
      const result = applyAppend(backend, op.stream, op.events, op, recordedAt);
      rows.push(...staged.rows);
      for (const [stream, version] of staged.versions) versions.set(stream, version);
      for (const [key, position] of staged.positions) positions.set(key, position);
      for (const [name, position] of staged.checkpoints) keepHighest(checkpoints, name, position);
      return { ok: true, result };
    } catch (error) {
      return { ok: false, error };
    }
  });
  const head = rows.reduce((highest, row) => Math.max(highest, row.position), 0);
  return { outcomes, rows, checkpoints, backfill, snapshots, recordedAt, head };
}
