import { createHash } from "node:crypto";
import { z } from "zod";
import type { StoredEvent } from "../../store.js";
import type { StoreReads } from "../shared/assembled-store.js";
import { EventRowSchema, storedEventOf } from "../shared/event-row.js";
import type { PostgresNames } from "./schema.js";

/*
 * The PostgreSQL store's reads, one function per query, each taking what runs a statement
 * (`execute`: the pool, or a connection inside a transaction) and the store's table names. Rows are
 * checked with zod as they come back.
 *
 * Reads by position (and the head) only see events below the transaction horizon
 * ({@link BELOW_HORIZON}): appended by a transaction older than the oldest one still running.
 * Lookups (a stream, tags, a dedup key) see every committed event: they follow no order that a
 * late commit could break, and they must see what was just appended.
 * Positions come from a sequence, so a transaction can commit after one that took higher positions;
 * as transaction ids and positions of appending transactions are given in the same order (see
 * postgres/commit.ts), an event hidden now has a higher position than every event shown, and a
 * reader following positions never skips one that commits late.
 */

/**
 * The condition for an event to be readable: its transaction is older than every transaction
 * still running (`pg_snapshot_xmin` of the statement's snapshot), so nothing below it can still
 * appear.
 * @internal
 */
export const BELOW_HORIZON = "transaction_id < pg_snapshot_xmin(pg_current_snapshot())";

/** Runs one statement and returns its rows, unchecked. @internal */
export type Execute = (text: string, values?: unknown[]) => Promise<unknown[]>;

/**
 * An {@link Execute} on a pool or a connection. A statement with parameters runs as a named
 * prepared statement (its name derived from its text), so that each connection parses it once.
 * @internal
 */
export function executeOn(queryable: {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: unknown[] }>;
}): Execute {
  return async (text, values) => {
    if (values === undefined) return (await queryable.query({ text })).rows;
    return (await queryable.query({ name: statementName(text), text, values })).rows;
  };
}

const statementNames = new Map<string, string>();

/** A prepared statement's name for `text`: the same text gets the same name. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `fxrx_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

const PositionRowSchema = z.object({ position: z.coerce.number().int().nonnegative() });

const EVENT_COLUMNS =
  "position, stream, stream_version, type, version, data::text AS data, dedup_key, recorded_at";

/** The longest an ordered read waits for the store's own appends to become readable. */
const OWN_WRITES_WAIT_MS = 2_000;
/** The real timer, also under fake timers: this waits on the database, not on the engine's clock. */
const realSetTimeout = globalThis.setTimeout;

/** How many tags one query looks up (a bigger `readByTags` runs several). */
const TAGS_PER_QUERY = 1000;

function eventsOf(rows: readonly unknown[]): StoredEvent[] {
  return rows.map((row) => storedEventOf(EventRowSchema.parse(row)));
}

/** The last readable position (0 when none). @internal */
export async function readHead(execute: Execute, names: PostgresNames): Promise<number> {
  const [row] = await execute(
    `SELECT COALESCE(MAX(position), 0) AS position FROM ${names.events} WHERE ${BELOW_HORIZON}`,
  );
  return PositionRowSchema.parse(row).position;
}

/** Events after `after` (exclusive), in position order, at most `limit`. @internal */
export async function readPage(
  execute: Execute,
  names: PostgresNames,
  after: number,
  limit: number | undefined,
): Promise<StoredEvent[]> {
  const rows = await execute(
    `SELECT ${EVENT_COLUMNS} FROM ${names.events} WHERE position > $1 AND ${BELOW_HORIZON} ORDER BY position${
      limit === undefined ? "" : " LIMIT $2"
    }`,
    limit === undefined ? [after] : [after, limit],
  );
  return eventsOf(rows);
}

/** One stream's events, in stream order. @internal */
export async function readStream(
  execute: Execute,
  names: PostgresNames,
  stream: string,
): Promise<StoredEvent[]> {
  return eventsOf(
    await execute(`SELECT ${EVENT_COLUMNS} FROM ${names.events} WHERE stream = $1 ORDER BY stream_version`, [
      stream,
    ]),
  );
}

/** The events carrying any of `tags`, after `after`, of `types` (null: any), in position order. @internal */
export async function readByTags(
  execute: Execute,
  names: PostgresNames,
  tags: readonly string[],
  after: number,
  types: readonly string[] | null,
): Promise<StoredEvent[]> {
  const byPosition = new Map<number, StoredEvent>();
  for (let from = 0; from < tags.length; from += TAGS_PER_QUERY) {
    const rows = await execute(
      // A join with the unnested list, so that each tag is an index lookup (`tag = ANY(...)`
      // lets the planner scan the whole table for a long list).
      `SELECT ${EVENT_COLUMNS} FROM ${names.events}
       WHERE position IN (
           SELECT t.position FROM unnest($1::text[]) AS wanted(tag) JOIN ${names.tags} t ON t.tag = wanted.tag)
         AND position > $2 AND ($3::text[] IS NULL OR type = ANY($3::text[]))`,
      [tags.slice(from, from + TAGS_PER_QUERY), after, types],
    );
    for (const event of eventsOf(rows)) byPosition.set(event.position, event);
  }
  return [...byPosition.values()].sort((a, b) => a.position - b.position);
}

/** The event stored under a dedup key, if any. @internal */
export async function readByDedupKey(
  execute: Execute,
  names: PostgresNames,
  dedupKey: string,
): Promise<StoredEvent | undefined> {
  const [row] = await execute(`SELECT ${EVENT_COLUMNS} FROM ${names.events} WHERE dedup_key = $1`, [
    dedupKey,
  ]);
  return row === undefined ? undefined : eventsOf([row])[0];
}

/** A named checkpoint (0 when never set). @internal */
export async function readCheckpoint(execute: Execute, names: PostgresNames, name: string): Promise<number> {
  const [row] = await execute(`SELECT position FROM ${names.checkpoints} WHERE name = $1`, [name]);
  return row === undefined ? 0 : PositionRowSchema.parse(row).position;
}

/** The row of a saved snapshot (checked by the caller), if any. @internal */
export async function readSnapshotRow(
  execute: Execute,
  names: PostgresNames,
  name: string,
): Promise<unknown | undefined> {
  const [row] = await execute(`SELECT position, version, data FROM ${names.snapshots} WHERE name = $1`, [
    name,
  ]);
  return row;
}

/**
 * The reads of one PostgreSQL store, as its {@link AssembledEventStore} calls them. PostgreSQL text
 * cannot hold NUL characters, so a name or tag with one matches nothing stored: it is answered
 * without a query.
 * @internal
 */
export class PostgresReads implements StoreReads {
  /** The highest position this store appended, and the highest it has seen readable. */
  private written = 0;
  private visible = 0;

  constructor(
    private readonly execute: Execute,
    private readonly names: PostgresNames,
  ) {}

  /** This store appended an event at `position` (committed). */
  wrote(position: number): void {
    if (position > this.written) this.written = position;
  }

  async head(): Promise<number> {
    await this.ownWritesVisible();
    return readHead(this.execute, this.names);
  }

  async page(after: number, limit: number | undefined): Promise<StoredEvent[]> {
    if (limit === 0) return [];
    await this.ownWritesVisible();
    return readPage(this.execute, this.names, after, limit);
  }

  /**
   * Read your writes: an ordered read waits (briefly, up to {@link OWN_WRITES_WAIT_MS}) until this
   * store's own committed appends are below the transaction horizon, which another transaction
   * still running may hold back for a moment. After the wait, it reads what is readable.
   */
  private async ownWritesVisible(): Promise<void> {
    if (this.written <= this.visible) return;
    const deadline = Date.now() + OWN_WRITES_WAIT_MS;
    for (;;) {
      this.visible = Math.max(this.visible, await readHead(this.execute, this.names));
      if (this.written <= this.visible || Date.now() >= deadline) return;
      await new Promise((resolve) => realSetTimeout(resolve, 2));
    }
  }

  async stream(stream: string): Promise<StoredEvent[]> {
    return stream.includes("\0") ? [] : readStream(this.execute, this.names, stream);
  }

  byTags(
    tags: readonly string[],
    after: number,
    types: readonly string[] | undefined,
  ): Promise<StoredEvent[]> {
    const wanted = tags.filter((tag) => !tag.includes("\0"));
    const wantedTypes = types?.filter((type) => !type.includes("\0")) ?? null;
    return readByTags(this.execute, this.names, wanted, after, wantedTypes);
  }

  async byDedupKey(dedupKey: string): Promise<StoredEvent | undefined> {
    if (typeof dedupKey !== "string" || dedupKey.includes("\0")) return undefined;
    return readByDedupKey(this.execute, this.names, dedupKey);
  }

  async checkpoint(name: string): Promise<number> {
    return name.includes("\0") ? 0 : readCheckpoint(this.execute, this.names, name);
  }

  async snapshotRow(name: string): Promise<unknown> {
    return name.includes("\0") ? undefined : readSnapshotRow(this.execute, this.names, name);
  }
}
