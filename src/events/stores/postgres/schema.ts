import { createHash } from "node:crypto";
import type { PoolClient } from "pg";
import { z } from "zod";
import { StoreUnavailableError } from "../../store.js";

/** The schema version this code writes and understands. @internal */
export const POSTGRES_SCHEMA_VERSION = 3;

/** The default PostgreSQL schema (namespace) of the store's tables. @internal */
export const DEFAULT_POSTGRES_SCHEMA = "fullenrich_rx";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Throws unless `schema` is a plain identifier (letters, digits, `_`; at most 63 characters). @internal */
export function checkSchemaName(schema: unknown): string {
  if (typeof schema !== "string" || !IDENTIFIER.test(schema)) {
    throw new RangeError(
      `schema must be a plain PostgreSQL identifier (letters, digits and _, not starting with a digit, ` +
        `at most 63 characters), got ${JSON.stringify(schema)}`,
    );
  }
  return schema;
}

/** The SQL names of one store's tables and NOTIFY channel. @internal */
export interface PostgresNames {
  schema: string;
  /** `"schema"`, quoted. */
  quotedSchema: string;
  events: string;
  head: string;
  checkpoints: string;
  tags: string;
  snapshots: string;
  schemaVersion: string;
  /** The sequence positions come from (version 3). */
  positions: string;
  /** The last version given out per stream (version 3). */
  streamHeads: string;
  /** `begin_append(...)` and `reserve_positions(n)`, qualified (version 3). */
  beginAppend: string;
  reservePositions: string;
  /** The two keys of the advisory lock under which positions are taken (one per schema). */
  positionsLock: readonly [number, number];
  /** The LISTEN/NOTIFY channel (as a string for `pg_notify`). */
  channel: string;
  /** The channel, quoted for `LISTEN`. */
  quotedChannel: string;
}

/** A 32-bit advisory lock key for `text` (the first four bytes of its SHA-256, signed). */
function lockKey(text: string): number {
  return createHash("sha256").update(text).digest().readInt32BE(0);
}

/** The qualified names used by the store living in `schema`. @internal */
export function namesOf(schema: string): PostgresNames {
  const quotedSchema = `"${schema}"`;
  const plain = `fullenrich_rx:${schema}`;
  // NOTIFY channels are identifiers: at most 63 bytes.
  const channel =
    plain.length <= 63
      ? plain
      : `fullenrich_rx:${createHash("sha256").update(schema).digest("hex").slice(0, 40)}`;
  return {
    schema,
    quotedSchema,
    events: `${quotedSchema}.events`,
    head: `${quotedSchema}.head`,
    checkpoints: `${quotedSchema}.checkpoints`,
    tags: `${quotedSchema}.tags`,
    snapshots: `${quotedSchema}.snapshots`,
    schemaVersion: `${quotedSchema}.schema_version`,
    positions: `${quotedSchema}.event_positions`,
    streamHeads: `${quotedSchema}.stream_heads`,
    beginAppend: `${quotedSchema}.begin_append`,
    reservePositions: `${quotedSchema}.reserve_positions`,
    positionsLock: [lockKey("fullenrich-rx positions"), lockKey(schema)],
    channel,
    quotedChannel: `"${channel}"`,
  };
}

/**
 * Version 1:
 * - `events`: one row per event; `position` is assigned by the store from `head` (see
 *   {@link PostgresEventStore}), `data` is the JSON text exactly as `JSON.stringify` made it
 *   (`json`, not `jsonb`, which would reorder keys), `recorded_at` the ISO-8601 text of the append.
 * - `head`: one row holding the last assigned position. Every appending transaction locks it first,
 *   which serialises writers, so positions are gap-free and commit order is position order.
 * - `checkpoints`: named consumers' positions.
 */
function schemaV1(names: PostgresNames): string {
  return `
CREATE TABLE IF NOT EXISTS ${names.events} (
  position bigint PRIMARY KEY,
  stream text NOT NULL,
  stream_version bigint NOT NULL,
  type text NOT NULL,
  version bigint NOT NULL,
  data json NOT NULL,
  dedup_key text UNIQUE,
  recorded_at text NOT NULL,
  UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS ${names.head} (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position bigint NOT NULL
);
INSERT INTO ${names.head} (singleton, position) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS ${names.checkpoints} (
  name text PRIMARY KEY,
  position bigint NOT NULL
);
`;
}

/**
 * Version 2 adds, beside the version-1 tables (nothing of them is rewritten):
 * - `tags`: the index keys of events (`readByTags`), one row per tag and position;
 * - `snapshots`: projections' saved states by name, `data` as the JSON text the writer gave
 *   (`text`: it is read back whole, never queried).
 */
function schemaV2(names: PostgresNames): string {
  return `
CREATE TABLE IF NOT EXISTS ${names.tags} (
  tag text NOT NULL,
  position bigint NOT NULL,
  PRIMARY KEY (tag, position)
);
CREATE TABLE IF NOT EXISTS ${names.snapshots} (
  name text PRIMARY KEY,
  position bigint NOT NULL,
  version bigint NOT NULL,
  data text NOT NULL,
  saved_at text NOT NULL
);
`;
}

/**
 * Version 3: several writers without a global lock (see {@link PostgresEventStore}). Added beside
 * the earlier tables, nothing rewritten (a column with a constant default is a catalog change):
 * - `event_positions`: the sequence positions come from, started after the highest one stored;
 * - `events.transaction_id`: the id of the transaction that appended the event (0 for older
 *   rows), which readers compare with the oldest transaction still running;
 * - `stream_heads`: the last stream version given out per stream, written outside the appending
 *   transactions so that concurrent appends to one stream take distinct versions;
 * - `begin_append(...)` and `reserve_positions(n)`: the two steps of an append that take locks, as
 *   functions so that each is one round trip (see postgres/commit.ts).
 * `head` (version 1) is no longer written.
 */
function schemaV3(names: PostgresNames): string {
  const [positionsKey1, positionsKey2] = names.positionsLock;
  const streamsKey = lockKey(`fullenrich-rx streams:${names.schema}`);
  return `
CREATE SEQUENCE IF NOT EXISTS ${names.positions} AS bigint;
SELECT setval('${names.positions}',
  GREATEST((SELECT COALESCE(MAX(position), 0) FROM ${names.events}), (SELECT COALESCE(MAX(position), 0) FROM ${names.head}), 1),
  EXISTS (SELECT 1 FROM ${names.events}) OR (SELECT COALESCE(MAX(position), 0) FROM ${names.head}) > 0);
ALTER TABLE ${names.events} ADD COLUMN IF NOT EXISTS transaction_id xid8 NOT NULL DEFAULT '0';
ALTER TABLE ${names.events} ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();
CREATE TABLE IF NOT EXISTS ${names.streamHeads} (
  stream text PRIMARY KEY,
  version bigint NOT NULL,
  allocated bigint NOT NULL
);
CREATE OR REPLACE FUNCTION ${names.beginAppend}(
  lock_streams text[], lock_exclusive boolean[], version_streams text[], dedup_keys text[], take_positions_lock boolean
) RETURNS TABLE (kind text, key text, value bigint) LANGUAGE plpgsql AS $fn$
DECLARE
  lock record;
BEGIN
  -- Per-stream locks until the end of the transaction, in key order (so that two groups cannot
  -- deadlock): shared for appends that expect nothing of the stream, exclusive for those that
  -- check its version (they wait for the appends in flight on it, then read its true version).
  FOR lock IN
    SELECT hashtext(s) AS k, bool_or(x) AS x FROM unnest(lock_streams, lock_exclusive) AS t(s, x)
    GROUP BY 1 ORDER BY 1
  LOOP
    IF lock.x THEN PERFORM pg_advisory_xact_lock(${streamsKey}, lock.k);
    ELSE PERFORM pg_advisory_xact_lock_shared(${streamsKey}, lock.k);
    END IF;
  END LOOP;
  RETURN QUERY
    SELECT 'stream', e.stream, MAX(e.stream_version) FROM ${names.events} e
      WHERE e.stream = ANY(version_streams) GROUP BY e.stream
    UNION ALL
    SELECT 'key', e.dedup_key, e.position FROM ${names.events} e WHERE e.dedup_key = ANY(dedup_keys);
  -- Taken last, released by reserve_positions: the short section in which positions are given.
  IF take_positions_lock THEN PERFORM pg_advisory_lock(${positionsKey1}, ${positionsKey2}); END IF;
END
$fn$;
CREATE OR REPLACE FUNCTION ${names.reservePositions}(n integer) RETURNS bigint[] LANGUAGE plpgsql AS $fn$
DECLARE
  reserved bigint[];
BEGIN
  -- This transaction's id is assigned now, under the lock, before its positions: transaction ids
  -- and positions of appending transactions are given in the same order.
  PERFORM pg_current_xact_id();
  reserved := ARRAY(SELECT nextval('${names.positions}') FROM generate_series(1, n));
  PERFORM pg_advisory_unlock(${positionsKey1}, ${positionsKey2});
  RETURN reserved;
END
$fn$;
`;
}

const VersionRowSchema = z.object({ version: z.coerce.number().int() });
const ExistsRowSchema = z.object({ present: z.boolean() });

/**
 * Creates the schema and its tables, or checks an existing one and migrates it in place to
 * {@link POSTGRES_SCHEMA_VERSION} (each version only adds tables, a column, a sequence, functions), in one transaction under a transaction-level advisory lock keyed on the schema's name: several
 * processes opening the store at once wait for each other, and the first one creates everything.
 * @internal
 */
export async function migrate(client: PoolClient, names: PostgresNames, location: string): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('fullenrich-rx schema'), hashtext($1))", [
      names.schema,
    ]);
    // CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database: only ask when
    // the schema is missing, so that a user who may only use an existing schema can open it.
    const exists = ExistsRowSchema.parse(
      (
        await client.query("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present", [
          names.schema,
        ])
      ).rows[0],
    );
    if (!exists.present) await client.query(`CREATE SCHEMA IF NOT EXISTS ${names.quotedSchema}`);
    await client.query(`
CREATE TABLE IF NOT EXISTS ${names.schemaVersion} (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version integer NOT NULL
)`);
    const row = (await client.query(`SELECT version FROM ${names.schemaVersion}`)).rows[0];
    const current = row === undefined ? 0 : VersionRowSchema.parse(row).version;
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new StoreUnavailableError(
        `the event store ${location} (schema ${names.schema}) has schema version ${current}, newer than ` +
          `this fullenrich-rx understands (${POSTGRES_SCHEMA_VERSION}). Upgrade fullenrich-rx, or use ` +
          "another schema.",
      );
    }
    if (current < POSTGRES_SCHEMA_VERSION) {
      if (current < 1) await client.query(schemaV1(names));
      if (current < 2) await client.query(schemaV2(names));
      if (current < 3) await client.query(schemaV3(names));
      await client.query(
        `INSERT INTO ${names.schemaVersion} (singleton, version) VALUES (true, $1)
         ON CONFLICT (singleton) DO UPDATE SET version = excluded.version`,
        [POSTGRES_SCHEMA_VERSION],
      );
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
