import { ConcurrencyError, StoreUnavailableError } from "../../store.js";
import { appendResultOf } from "../shared/append-result.js";
import type { WriteOutcome } from "../shared/group-writer.js";
import type { WriteOp } from "../shared/write-ops.js";
import { errorOfFailure, sqliteUnavailable } from "./errors.js";
import type { SqliteSettings } from "./settings.js";
import type { GroupReply } from "./writer-thread.js";

/**
 * What became of each write of a group, from the writer thread's answer: a committed group's
 * outcomes one by one (an append's positions, a conflict, a refusal), else the group's failure for
 * every write.
 * @internal
 */
export function outcomesOfReply(
  ops: readonly WriteOp[],
  reply: GroupReply,
  recordedAt: string,
  settings: SqliteSettings,
): WriteOutcome[] {
  if (reply.kind !== "committed") {
    const error = groupFailure(reply, settings);
    return ops.map(() => ({ ok: false, error }));
  }
  return ops.map((op, index): WriteOutcome => {
    const outcome = reply.outcomes[index];
    if (outcome === undefined) {
      return {
        ok: false,
        error: new StoreUnavailableError(`the event store ${settings.path} lost track of an append`),
      };
    }
    if (outcome.status === "conflict") {
      return {
        ok: false,
        error:
          op.kind === "append"
            ? new ConcurrencyError(op.stream, op.expectedVersion, outcome.actual)
            : new StoreUnavailableError(
                `the event store ${settings.path} reported a conflict for a checkpoint`,
              ),
      };
    }
    if (outcome.status === "refused") {
      return { ok: false, error: sqliteUnavailable(errorOfFailure(outcome.failure), settings, "write") };
    }
    if (op.kind !== "append") return { ok: true };
    return { ok: true, result: appendResultOf(op.stream, op.events, outcome, recordedAt) };
  });
}

/** The error every write of a group that was not committed rejects with. */
function groupFailure(reply: Exclude<GroupReply, { kind: "committed" }>, settings: SqliteSettings): Error {
  const { path } = settings;
  switch (reply.kind) {
    case "failed":
      return sqliteUnavailable(errorOfFailure(reply.failure), settings, "write");
    case "lost":
      return new StoreUnavailableError(
        `the event store ${path} lost its writer thread (${reply.reason}) while committing: these ` +
          "appends may or may not be stored. Close the store, open it again and retry them " +
          "(retrying is safe for events with a dedup key).",
      );
    case "stopped":
      return new StoreUnavailableError(
        `the event store ${path} cannot write: its writer thread has stopped (${reply.reason}). ` +
          "Nothing of these appends was stored; close the store and open it again.",
      );
  }
}
