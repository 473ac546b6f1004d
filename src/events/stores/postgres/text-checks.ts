import type { WriteOp } from "../shared/write-ops.js";

/** PostgreSQL text cannot hold NUL characters: refuse them up front, like any other invalid input. @internal */
export function checkNoNul(value: string, what: string): string {
  if (value.includes("\0")) throw new TypeError(`${what} must not contain NUL characters`);
  return value;
}

/** Refuses a write whose text (not its JSON data, where JSON escapes NUL) holds a NUL character. @internal */
export function checkNoNulOf(op: WriteOp): void {
  switch (op.kind) {
    case "append":
      checkNoNul(op.stream, "stream");
      op.events.forEach((event, index) => {
        checkNoNul(event.type, `events[${index}].type`);
        if (event.dedupKey !== null) checkNoNul(event.dedupKey, `events[${index}].dedupKey`);
        for (const tag of event.tags) checkNoNul(tag, `events[${index}].tags`);
      });
      if (op.checkpoint !== undefined) checkNoNul(op.checkpoint.name, "checkpoint name");
      return;
    case "checkpoint":
      checkNoNul(op.name, "checkpoint name");
      return;
    case "tags":
      op.entries.forEach((entry, index) => {
        for (const tag of entry.tags) checkNoNul(tag, `entries[${index}].tags`);
      });
      return;
    case "snapshot":
      checkNoNul(op.snapshot.name, "snapshot name");
  }
}
