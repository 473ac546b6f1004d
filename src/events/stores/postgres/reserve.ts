import { z } from "zod";
import type { WriteOp } from "../shared/write-ops.js";
import type { Execute } from "./reads.js";
import type { PostgresNames } from "./schema.js";

/*
 * The steps of a PostgreSQL append that take locks or give out numbers (see postgres/commit.ts for
 * how they fit together, and postgres/schema.ts for the two functions they call).
 */

const int = z.coerce.number().int().nonnegative();
const StateRowSchema = z.object({ kind: z.enum(["stream", "key"]), key: z.string(), value: int });
const HeadRowSchema = z.object({ stream: z.string(), version: int });
const PositionsRowSchema = z.object({ positions: z.array(int) });

/** What {@link beginAppend} found, under the group's locks. @internal */
export interface AppendStart {
  /** Positions of the group's dedup keys that are stored. */
  storedKeys: Map<string, number>;
  /** The version of each stream the group checks (every stream with an expected version). */
  checkedVersions: Map<string, number>;
  /** The streams the group checks: their appends hold the stream's lock exclusively. */
  checkedStreams: Set<string>;
}

/**
 * The first step of an append inside its transaction: locks the group's streams (shared, or
 * exclusive for a stream an append checks the version of, until the transaction ends), then reads
 * the stored positions of its dedup keys and the versions of the checked streams, then, when
 * `lockPositions`, takes the positions lock that {@link reservePositions} releases. One round trip.
 * @internal
 */
export async function beginAppend(
  execute: Execute,
  names: PostgresNames,
  ops: readonly WriteOp[],
  lockPositions: boolean,
): Promise<AppendStart> {
  const exclusive = new Map<string, boolean>();
  const keys = new Set<string>();
  for (const op of ops) {
    if (op.kind !== "append") continue;
    exclusive.set(op.stream, (exclusive.get(op.stream) ?? false) || op.expectedVersion !== "any");
    for (const event of op.events) if (event.dedupKey !== null) keys.add(event.dedupKey);
  }
  const checkedStreams = new Set([...exclusive].filter(([, checked]) => checked).map(([stream]) => stream));
  const rows = await execute(`SELECT kind, key, value FROM ${names.beginAppend}($1, $2, $3, $4, $5)`, [
    [...exclusive.keys()],
    [...exclusive.values()],
    [...checkedStreams],
    [...keys],
    lockPositions,
  ]);
  const start: AppendStart = { storedKeys: new Map(), checkedVersions: new Map(), checkedStreams };
  for (const raw of rows) {
    const row = StateRowSchema.parse(raw);
    (row.kind === "stream" ? start.checkedVersions : start.storedKeys).set(row.key, row.value);
  }
  return start;
}

/**
 * Gives out `counts` new versions per stream, on `allocate` (a connection outside the appending
 * transaction, committing at once without waiting for the disk), and returns the version each
 * stream's new events follow. A checked stream, whose lock the caller holds exclusively, restarts
 * from its stored version (`checkedVersions`: what versions a failed append had taken are reused);
 * the others go on from the last version given out (or their stored one, the first time), so that
 * appends in flight on one stream at once take distinct versions without waiting for each other.
 *
 * Why outside the transaction: the next appender must see these versions before this transaction
 * commits. Why without waiting for the disk: this append's own commit, later in the write-ahead
 * log, makes them durable with it; if the server stops before, neither is kept.
 * @internal
 */
export async function allocateStreamVersions(
  allocate: Execute,
  names: PostgresNames,
  counts: ReadonlyMap<string, number>,
  checkedVersions: ReadonlyMap<string, number>,
  checkedStreams: ReadonlySet<string>,
): Promise<Map<string, number>> {
  const streams = [...counts.keys()];
  const rows = await allocate(
    `WITH wanted AS (
       SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::boolean[]) AS w(stream, n, stored, checked)
     ), checked AS (
       INSERT INTO ${names.streamHeads} AS h (stream, version, allocated)
       SELECT stream, stored + n, n FROM wanted WHERE checked
       ON CONFLICT (stream) DO UPDATE SET version = excluded.version, allocated = excluded.allocated
       RETURNING stream, version
     ), continued AS (
       INSERT INTO ${names.streamHeads} AS h (stream, version, allocated)
       SELECT w.stream, COALESCE((SELECT MAX(e.stream_version) FROM ${names.events} e WHERE e.stream = w.stream), 0) + w.n, w.n
       FROM wanted w WHERE NOT w.checked
       ON CONFLICT (stream) DO UPDATE SET version = h.version + excluded.allocated, allocated = excluded.allocated
       RETURNING stream, version
     )
     SELECT stream, version FROM checked UNION ALL SELECT stream, version FROM continued`,
    [
      streams,
      streams.map((stream) => counts.get(stream) ?? 0),
      streams.map((stream) => checkedVersions.get(stream) ?? 0),
      streams.map((stream) => checkedStreams.has(stream)),
    ],
  );
  const bases = new Map<string, number>();
  for (const raw of rows) {
    const row = HeadRowSchema.parse(raw);
    bases.set(row.stream, row.version - (counts.get(row.stream) ?? 0));
  }
  return bases;
}

/**
 * Takes `n` positions and this transaction's id, in that order under the positions lock, and
 * releases the lock. One round trip.
 * @internal
 */
export async function reservePositions(execute: Execute, names: PostgresNames, n: number): Promise<number[]> {
  const [row] = await execute(`SELECT ${names.reservePositions}($1) AS positions`, [n]);
  return PositionsRowSchema.parse(row).positions;
}

/** Releases the positions lock taken by {@link beginAppend} (when no position is needed after all). @internal */
export async function releasePositionsLock(execute: Execute, names: PostgresNames): Promise<void> {
  const [key1, key2] = names.positionsLock;
  await execute("SELECT pg_advisory_unlock($1, $2)", [key1, key2]);
}
