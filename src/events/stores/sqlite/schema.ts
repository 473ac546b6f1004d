import type Database from "better-sqlite3";
import { StoreUnavailableError } from "../../store.js";
import { type SqliteSettings, synchronousOf, walAutocheckpointOf } from "./settings.js";

/**
 * The schema version this code writes and understands. 2 added `tags` and `snapshots`; a version-1
 * file is migrated in place when opened (the two tables are created, nothing is rewritten).
 */
const SCHEMA_VERSION = 2;

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  stream_version INTEGER NOT NULL,
  type TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  dedup_key TEXT UNIQUE,
  recorded_at TEXT NOT NULL,
  UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
  tag TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (tag, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  saved_at TEXT NOT NULL
);
`;

/**
 * Sets the main connection up (WAL, durability, no autocheckpoint when the worker runs) and creates
 * or migrates the schema.
 * @internal
 */
export function initialize(db: Database.Database, settings: SqliteSettings): void {
  db.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
  const journalMode = String(db.pragma("journal_mode = WAL", { simple: true })).toLowerCase();
  if (journalMode !== "wal") {
    throw new StoreUnavailableError(
      `cannot switch the event store ${settings.path} to WAL mode (it stays in ${journalMode} mode). ` +
        "Put the file on a local disk, and make sure no other program opened it in exclusive mode.",
    );
  }
  db.pragma(`synchronous = ${synchronousOf(settings)}`);
  db.pragma(`wal_autocheckpoint = ${walAutocheckpointOf(settings)}`);
  migrate(db, settings.path);
}

/** Creates the tables that are missing and records the schema version; refuses a newer file. */
function migrate(db: Database.Database, path: string): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(SCHEMA_SQL);
    const row = db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")
      .get();
    if (row === undefined) {
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    } else if (Number(row.value) > SCHEMA_VERSION) {
      throw new StoreUnavailableError(
        `the event store ${path} has schema version ${row.value}, newer than this fullenrich-rx understands ` +
          `(${SCHEMA_VERSION}). Upgrade fullenrich-rx, or use another file.`,
      );
    } else if (Number(row.value) < SCHEMA_VERSION) {
      // The tables a newer version adds were created above; nothing else changes.
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
