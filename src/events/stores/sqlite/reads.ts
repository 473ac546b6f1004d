import type Database from "better-sqlite3";
import type { StoredEvent } from "../../store.js";
import type { StoreReads } from "../shared/assembled-store.js";
import { type EventRow, storedEventOf } from "../shared/event-row.js";

const EVENT_COLUMNS = "position, stream, stream_version, type, version, data, dedup_key, recorded_at";

/**
 * The events carrying any of the tags: the tags and types come as JSON arrays (`@tags`, `@types`,
 * null for any type), so one statement serves any number of them; each tag is a primary-key search
 * in `tags`, each position a rowid search in `events`.
 * @internal
 */
export const BY_TAGS_SQL = `SELECT ${EVENT_COLUMNS} FROM events
  WHERE position IN (SELECT position FROM tags WHERE tag IN (SELECT value FROM json_each(@tags)))
    AND position > @after
    AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
  ORDER BY position`;

/** How many tags one query looks up (a bigger `readByTags` runs several). */
const TAGS_PER_QUERY = 1000;

/**
 * The SQLite store's reads, on the main thread's connection (every write goes through the writer
 * thread): one prepared statement per query, synchronous, throwing the driver's errors.
 * @internal
 */
export class SqliteReads implements StoreReads {
  private readonly statements;

  constructor(db: Database.Database) {
    this.statements = {
      eventOfKey: db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE dedup_key = ?`),
      page: db.prepare<[number, number], EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
      ),
      stream: db.prepare<[string], EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? ORDER BY stream_version`,
      ),
      head: db.prepare<[], { head: number }>("SELECT COALESCE(MAX(position), 0) AS head FROM events"),
      checkpoint: db.prepare<[string], { position: number }>(
        "SELECT position FROM checkpoints WHERE name = ?",
      ),
      byTags: db.prepare<[{ tags: string; after: number; types: string | null }], EventRow>(BY_TAGS_SQL),
      snapshot: db.prepare<[string], unknown>("SELECT position, version, data FROM snapshots WHERE name = ?"),
    };
  }

  /** The last position (0 when empty). */
  head(): number {
    return this.statements.head.get()?.head ?? 0;
  }

  /** Events after `after` (exclusive), in position order, at most `limit` (undefined: all). */
  page(after: number, limit: number | undefined): StoredEvent[] {
    return this.statements.page.all(after, limit ?? -1).map(storedEventOf);
  }

  /** One stream's events, in stream order. */
  stream(stream: string): StoredEvent[] {
    return this.statements.stream.all(stream).map(storedEventOf);
  }

  /** The events carrying any of `tags`, after `after`, of `types` (undefined: any), in position order. */
  byTags(tags: readonly string[], after: number, types: readonly string[] | undefined): StoredEvent[] {
    const typesJson = types === undefined ? null : JSON.stringify(types);
    const rows = new Map<number, EventRow>();
    for (let from = 0; from < tags.length; from += TAGS_PER_QUERY) {
      const chunk = JSON.stringify(tags.slice(from, from + TAGS_PER_QUERY));
      for (const row of this.statements.byTags.all({ tags: chunk, after, types: typesJson })) {
        rows.set(row.position, row);
      }
    }
    return [...rows.values()].sort((a, b) => a.position - b.position).map(storedEventOf);
  }

  /** The event stored under a dedup key, if any. */
  byDedupKey(dedupKey: string): StoredEvent | undefined {
    const row = this.statements.eventOfKey.get(dedupKey);
    return row === undefined ? undefined : storedEventOf(row);
  }

  /** A named checkpoint (0 when never set). */
  checkpoint(name: string): number {
    return this.statements.checkpoint.get(name)?.position ?? 0;
  }

  /** The row of a saved snapshot (checked by the caller), if any. */
  snapshotRow(name: string): unknown {
    return this.statements.snapshot.get(name);
  }
}
