import { z } from "zod";
import type { AppendBackend } from "../shared/append-core.js";
import { applyAppend } from "../shared/append-result.js";
import { type EventRecord, recordOf } from "../shared/event-row.js";
import type { WriteOutcome } from "../shared/group-writer.js";
import type { PreparedSnapshot } from "../shared/validation.js";
import type { WriteOp } from "../shared/write-ops.js";
import type { Execute } from "./reads.js";
import type { PostgresNames } from "./schema.js";

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
  /** The last position once the group is committed. */
  head: number;
}

/** What the planning needs from the stored log: versions of the group's streams, positions of its keys. @internal */
export interface StoredState {
  versions: Map<string, number>;
  positions: Map<string, number>;
}

const PlanRowSchema = z.object({
  kind: z.enum(["stream", "key"]),
  key: z.string(),
  value: z.coerce.number().int().nonnegative(),
});

/**
 * Reads, in one query, the stored versions of the group's streams and the stored positions of its
 * dedup keys (inside the group's transaction).
 * @internal
 */
export async function readStoredState(
  execute: Execute,
  names: PostgresNames,
  ops: readonly WriteOp[],
): Promise<StoredState> {
  const streams = new Set<string>();
  const keys = new Set<string>();
  for (const op of ops) {
    if (op.kind !== "append") continue;
    streams.add(op.stream);
    for (const event of op.events) if (event.dedupKey !== null) keys.add(event.dedupKey);
  }
  const state: StoredState = { versions: new Map(), positions: new Map() };
  if (streams.size === 0) return state;
  const rows = await execute(
    `SELECT 'stream' AS kind, stream AS key, MAX(stream_version) AS value FROM ${names.events}
       WHERE stream = ANY($1::text[]) GROUP BY stream
     UNION ALL
     SELECT 'key', dedup_key, position FROM ${names.events} WHERE dedup_key = ANY($2::text[])`,
    [[...streams], [...keys]],
  );
  for (const raw of rows) {
    const row = PlanRowSchema.parse(raw);
    (row.kind === "stream" ? state.versions : state.positions).set(row.key, row.value);
  }
  return state;
}

function keepHighest(target: Map<string, number>, name: string, position: number): void {
  target.set(name, Math.max(position, target.get(name) ?? 0));
}

/**
 * Decides, in memory, what the group writes: runs the shared append semantics ({@link applyAppend})
 * over each write in turn, each seeing the effects of the previous ones, from `head` (the last
 * position) and the stored state. An append whose expected version fails is dropped before
 * anything of it is planned.
 * @internal
 */
export function planGroup(
  ops: readonly WriteOp[],
  head: number,
  stored: StoredState,
  recordedAt: string,
): GroupPlan {
  const { versions, positions } = stored;
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
      streamVersion: (stream) => staged.versions.get(stream) ?? versions.get(stream) ?? 0,
      positionOfDedupKey: (key) => staged.positions.get(key) ?? positions.get(key),
      insert: (stream, streamVersion, event) => {
        const position = head + rows.length + staged.rows.length + 1;
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
  return { outcomes, rows, checkpoints, backfill, snapshots, recordedAt, head: head + rows.length };
}
