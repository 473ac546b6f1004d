import type { GroupPlan } from "./plan.js";
import type { Execute } from "./reads.js";
import type { PostgresNames } from "./schema.js";

/*
 * The PostgreSQL store's writes of one planned group, inside its transaction.
 */

/**
 * Writes a group's events (`transaction_id` by default this transaction's), their tags and its
 * checkpoints in one statement, and notifies the store's channel with the highest position when
 * events were appended.
 * @internal
 */
export async function writeEvents(execute: Execute, names: PostgresNames, plan: GroupPlan): Promise<void> {
  const { rows } = plan;
  if (rows.length === 0 && plan.checkpoints.size === 0) return;
  const tagged = rows.flatMap((row) => row.tags.map((tag) => [tag, row.position] as const));
  await execute(
    `WITH inserted AS (
       INSERT INTO ${names.events} (position, stream, stream_version, type, version, data, dedup_key, recorded_at)
       SELECT u.position, u.stream, u.stream_version, u.type, u.version, u.data::json, u.dedup_key, $8
       FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[], $7::text[])
         AS u(position, stream, stream_version, type, version, data, dedup_key)
     ), tagged AS (
       INSERT INTO ${names.tags} (tag, position)
       SELECT * FROM unnest($12::text[], $13::int8[]) ON CONFLICT DO NOTHING
     ), saved AS (
       INSERT INTO ${names.checkpoints} (name, position)
       SELECT * FROM unnest($9::text[], $10::int8[])
       ON CONFLICT (name) DO UPDATE SET position = GREATEST(${names.checkpoints}.position, excluded.position)
     )
     SELECT pg_notify($11, $14::text) WHERE $14::int8 > 0`,
    [
      rows.map((row) => row.position),
      rows.map((row) => row.stream),
      rows.map((row) => row.streamVersion),
      rows.map((row) => row.type),
      rows.map((row) => row.version),
      rows.map((row) => row.json),
      rows.map((row) => row.dedupKey),
      plan.recordedAt,
      [...plan.checkpoints.keys()],
      [...plan.checkpoints.values()],
      names.channel,
      tagged.map(([tag]) => tag),
      tagged.map(([, position]) => position),
      plan.head,
    ],
  );
}

/** Writes a group's tag backfill, for events already stored only (other positions are ignored). @internal */
export async function writeBackfill(execute: Execute, names: PostgresNames, plan: GroupPlan): Promise<void> {
  if (plan.backfill.tags.length === 0) return;
  await execute(
    `INSERT INTO ${names.tags} (tag, position)
     SELECT u.tag, u.position FROM unnest($1::text[], $2::int8[]) AS u(tag, position)
     WHERE EXISTS (SELECT 1 FROM ${names.events} e WHERE e.position = u.position)
     ON CONFLICT DO NOTHING`,
    [plan.backfill.tags, plan.backfill.positions],
  );
}

/** Saves (replaces) a group's snapshots. @internal */
export async function writeSnapshots(execute: Execute, names: PostgresNames, plan: GroupPlan): Promise<void> {
  if (plan.snapshots.size === 0) return;
  const snapshots = [...plan.snapshots.values()];
  await execute(
    `INSERT INTO ${names.snapshots} (name, position, version, data, saved_at)
     SELECT u.name, u.position, u.version, u.data, $5 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[])
       AS u(name, position, version, data)
     ON CONFLICT (name) DO UPDATE SET position = excluded.position, version = excluded.version,
       data = excluded.data, saved_at = excluded.saved_at`,
    [
      snapshots.map((snapshot) => snapshot.name),
      snapshots.map((snapshot) => snapshot.position),
      snapshots.map((snapshot) => snapshot.version),
      snapshots.map((snapshot) => snapshot.json),
      plan.recordedAt,
    ],
  );
}
