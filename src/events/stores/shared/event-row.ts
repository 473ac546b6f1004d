import { z } from "zod";
import type { StoredEvent } from "../../store.js";
import type { PreparedEvent } from "./validation.js";

/** An event as the SQL stores keep it: one row of `events`, `data` as JSON text. @internal */
export interface EventRow {
  position: number;
  stream: string;
  stream_version: number;
  type: string;
  version: number;
  data: string;
  dedup_key: string | null;
  recorded_at: string;
}

/** An event's own fields, as a store keeps them before it has a position (data as JSON text). @internal */
export interface EventRecord {
  stream: string;
  streamVersion: number;
  type: string;
  version: number;
  json: string;
  dedupKey: string | null;
}

/** The record of `event`, appended to `stream` at `streamVersion`. @internal */
export function recordOf(stream: string, streamVersion: number, event: PreparedEvent): EventRecord {
  return {
    stream,
    streamVersion,
    type: event.type,
    version: event.version,
    json: event.json,
    dedupKey: event.dedupKey,
  };
}

const int = z.coerce.number().int().nonnegative();

/** An {@link EventRow} as a driver returns it untyped (PostgreSQL's bigint columns come as text). @internal */
export const EventRowSchema = z.object({
  position: int,
  stream: z.string(),
  stream_version: int,
  type: z.string(),
  version: int,
  data: z.string(),
  dedup_key: z.string().nullable(),
  recorded_at: z.string(),
});

/** The {@link StoredEvent} of a row: `data` parsed from its JSON text (a fresh copy every time). @internal */
export function storedEventOf(row: EventRow): StoredEvent {
  return {
    position: row.position,
    stream: row.stream,
    streamVersion: row.stream_version,
    type: row.type,
    version: row.version,
    data: JSON.parse(row.data) as unknown,
    dedupKey: row.dedup_key,
    recordedAt: row.recorded_at,
  };
}
