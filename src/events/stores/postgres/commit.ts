import type { Pool, PoolClient } from "pg";
import type { WriteOutcome } from "../shared/group-writer.js";
import type { WriteOp } from "../shared/write-ops.js";
import { isConnectionError, isDataError, postgresUnavailable } from "./errors.js";
import { planGroup, readStoredState } from "./plan.js";
import { executeOn, lockHead } from "./reads.js";
import type { PostgresSettings } from "./settings.js";
import { writeBackfill, writeEvents, writeSnapshots } from "./write.js";

/** What committing a group needs from the store. @internal */
export interface CommitContext {
  pool: Pool;
  settings: PostgresSettings;
  /** Called after each COMMIT with the number of writes it carried. */
  onCommitted(writes: number): void;
}

/**
 * Commits `ops` in one transaction: locks `head` (when the group appends), plans the group from
 * what is stored, writes it, commits. When that transaction fails because of the data one write
 * carries and `isolate` is set, retries each write in a transaction of its own, so that one bad
 * write cannot fail the others. Never rejects: failures are outcomes.
 * @internal
 */
export async function commitGroup(
  context: CommitContext,
  ops: readonly WriteOp[],
  isolate: boolean,
): Promise<WriteOutcome[]> {
  const { settings } = context;
  const { names } = settings;
  let recordedAt: string;
  try {
    recordedAt = new Date(settings.now()).toISOString();
  } catch (error) {
    return ops.map(() => ({ ok: false, error }));
  }
  let client: PoolClient;
  try {
    client = await context.pool.connect();
  } catch (error) {
    const failure = postgresUnavailable(error, settings, "write");
    return ops.map(() => ({ ok: false, error: failure }));
  }
  const execute = executeOn(client);
  let stage: "before" | "commit" = "before";
  let destroy = false;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    client.release(destroy);
  };
  try {
    const appends = ops.some((op) => op.kind === "append");
    await execute("BEGIN");
    // The write lock: held until COMMIT, it orders every appending transaction.
    const head = appends ? await lockHead(execute, names) : 0;
    const plan = planGroup(ops, head, await readStoredState(execute, names, ops), recordedAt);
    await writeBackfill(execute, names, plan);
    await writeSnapshots(execute, names, plan);
    await writeEvents(execute, names, plan, head);
    stage = "commit";
    await execute("COMMIT");
    context.onCommitted(ops.length);
    return plan.outcomes;
  } catch (error) {
    destroy = isConnectionError(error);
    if (!destroy) {
      await execute("ROLLBACK").catch(() => {
        destroy = true;
      });
    }
    if (stage === "before" && !destroy && isolate && ops.length > 1 && isDataError(error)) {
      release();
      const outcomes: WriteOutcome[] = [];
      for (const op of ops) outcomes.push(...(await commitGroup(context, [op], false)));
      return outcomes;
    }
    const failure = postgresUnavailable(error, settings, stage === "commit" ? "commit" : "write");
    return ops.map(() => ({ ok: false, error: failure }));
  } finally {
    release();
  }
}
