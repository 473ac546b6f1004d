import type { Pool, PoolClient } from "pg";
import type { WriteOutcome } from "../shared/group-writer.js";
import type { WriteOp } from "../shared/write-ops.js";
import { errorCode, isConnectionError, isDataError, postgresUnavailable } from "./errors.js";
import { freshCounts, type GroupPlan, planGroup } from "./plan.js";
import { type Execute, executeOn } from "./reads.js";
import { allocateStreamVersions, beginAppend, releasePositionsLock, reservePositions } from "./reserve.js";
import type { PostgresSettings } from "./settings.js";
import { writeBackfill, writeEvents, writeSnapshots } from "./write.js";

/** What committing a group needs from the store. @internal */
export interface CommitContext {
  /** Connections for the appending transactions. */
  pool: Pool;
  /** Runs a statement outside any appending transaction, committing at once (stream versions). */
  allocate: Execute;
  settings: PostgresSettings;
  /** Called after each COMMIT with the number of writes it carried. */
  onCommitted(writes: number): void;
}

/** How often a group is planned again after another writer stored one of its dedup keys first. */
const CONFLICT_ATTEMPTS = 5;

type Attempt =
  | { kind: "committed"; outcomes: WriteOutcome[] }
  /** Another writer stored one of the group's dedup keys meanwhile, or a deadlock: plan again. */
  | { kind: "conflict"; error: unknown }
  /** What one write carries was refused (a data or size error): worth trying each write alone. */
  | { kind: "refused"; error: unknown }
  | { kind: "failed"; error: unknown };

/**
 * Commits `ops` in one transaction, without any lock that other writers wait for until this one
 * commits (except on a stream whose version an append checks):
 *
 * 1. `BEGIN`; {@link beginAppend}: the group's stream locks (shared: appends to one stream, e.g.
 *    every webhook receiver's to `deliveries`, do not wait for each other), the stored positions
 *    of its dedup keys and the versions of its checked streams, then the positions lock.
 * 2. Plan once, to count the new events (duplicates and refused appends take nothing).
 * 3. Under the positions lock, held for two round trips: give out the streams' versions
 *    ({@link allocateStreamVersions}) and the positions and this transaction's id
 *    ({@link reservePositions}, which releases the lock). Positions come from a sequence, so they
 *    may have gaps (a failed or retried append leaves its positions unused), but transaction ids,
 *    positions and stream versions of appending transactions are given in one order, which is what
 *    lets readers stop at the transaction horizon without skipping a late commit.
 * 4. Plan again with those numbers, write, `COMMIT` (its wait for the disk overlaps other writers').
 *
 * A dedup key stored by another writer meanwhile (a unique violation) or a deadlock plans the group
 * again (up to 5 times): the key then reads as stored, and the event ends as a duplicate with the
 * stored position. When what one write carries is refused and `isolate` is set, each write is
 * retried in a transaction of its own. Never rejects: failures are outcomes.
 * @internal
 */
export async function commitGroup(
  context: CommitContext,
  ops: readonly WriteOp[],
  isolate: boolean,
): Promise<WriteOutcome[]> {
  for (let attempt = 1; ; attempt += 1) {
    const result = await attemptGroup(context, ops);
    if (result.kind === "committed") return result.outcomes;
    if (result.kind === "conflict" && attempt < CONFLICT_ATTEMPTS) continue;
    if (result.kind === "refused" && isolate && ops.length > 1) {
      const outcomes: WriteOutcome[] = [];
      for (const op of ops) outcomes.push(...(await commitGroup(context, [op], false)));
      return outcomes;
    }
    return ops.map(() => ({ ok: false, error: result.error }));
  }
}

/** One transaction for the group. */
async function attemptGroup(context: CommitContext, ops: readonly WriteOp[]): Promise<Attempt> {
  const { settings } = context;
  let recordedAt: string;
  try {
    recordedAt = new Date(settings.now()).toISOString();
  } catch (error) {
    return { kind: "failed", error };
  }
  let client: PoolClient;
  try {
    client = await context.pool.connect();
  } catch (error) {
    return { kind: "failed", error: postgresUnavailable(error, settings, "write") };
  }
  const execute = executeOn(client);
  const state = { positionsLocked: false, committing: false };
  let destroy = false;
  try {
    await execute("BEGIN");
    const plan = await planAndNumber(context, execute, ops, recordedAt, state);
    await writeBackfill(execute, settings.names, plan);
    await writeSnapshots(execute, settings.names, plan);
    await writeEvents(execute, settings.names, plan);
    state.committing = true;
    await execute("COMMIT");
    context.onCommitted(ops.length);
    return { kind: "committed", outcomes: plan.outcomes };
  } catch (error) {
    // A session that may still hold the positions lock is not given back to the pool: ending it
    // releases the lock (and rolls the transaction back).
    destroy = isConnectionError(error) || state.positionsLocked;
    if (!destroy) {
      await execute("ROLLBACK").catch(() => {
        destroy = true;
      });
    }
    if (!state.committing && !isConnectionError(error)) {
      const code = errorCode(error);
      if (code === "23505" || code === "40P01") return { kind: "conflict", error: failure(error, settings) };
      if (isDataError(error)) return { kind: "refused", error: failure(error, settings) };
    }
    return {
      kind: "failed",
      error: postgresUnavailable(error, settings, state.committing ? "commit" : "write"),
    };
  } finally {
    client.release(destroy);
  }
}

function failure(error: unknown, settings: PostgresSettings): Error {
  return postgresUnavailable(error, settings, "write");
}

/** Steps 1 to 4 before the writes: the locks, the counting plan, the numbers, the final plan. */
async function planAndNumber(
  context: CommitContext,
  execute: Execute,
  ops: readonly WriteOp[],
  recordedAt: string,
  state: { positionsLocked: boolean },
): Promise<GroupPlan> {
  const { names } = context.settings;
  const appends = ops.some((op) => op.kind === "append");
  const start = await beginAppend(execute, names, ops, appends);
  state.positionsLocked = appends;
  const stored = (stream: string): number => start.checkedVersions.get(stream) ?? 0;
  let counter = 0;
  const counting = planGroup(
    ops,
    { storedKeys: start.storedKeys, streamBase: stored, nextPosition: () => ++counter },
    recordedAt,
  );
  const fresh = freshCounts(counting);
  if (fresh.total === 0) {
    if (state.positionsLocked) await releasePositionsLock(execute, names);
    state.positionsLocked = false;
    return counting;
  }
  const bases = await allocateStreamVersions(
    context.allocate,
    names,
    fresh.perStream,
    start.checkedVersions,
    start.checkedStreams,
  );
  const reserved = await reservePositions(execute, names, fresh.total);
  state.positionsLocked = false;
  let next = 0;
  return planGroup(
    ops,
    {
      storedKeys: start.storedKeys,
      streamBase: (stream) => bases.get(stream) ?? stored(stream),
      nextPosition: () => {
        const position = reserved[next];
        next += 1;
        if (position === undefined) throw new Error("the group planned more events than it counted");
        return position;
      },
    },
    recordedAt,
  );
}
