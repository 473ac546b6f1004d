import { createHash } from "node:crypto";
import type { PoolClient } from "pg";
import { z } from "zod";
import { StoreUnavailableError } from "../../store.js";

/** The schema version this code writes and understands. @internal */
export const POSTGRES_SCHEMA_VERSION = 2;

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
  /** The LISTEN/NOTIFY channel (as a string for `pg_notify`). */
  channel: string;
  /** The channel, quoted for `LISTEN`. */
  quotedChannel: string;
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

const VersionRowSchema = z.object({ version: z.coerce.number().int() });
const ExistsRowSchema = z.object({ present: z.boolean() });

/**
 * Creates the schema and its tables, or checks an existing one and migrates it in place to
 * {@link POSTGRES_SCHEMA_VERSION} (each version only adds tables), in one transaction under a transaction-level advisory lock keyed on the schema's name: several
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
