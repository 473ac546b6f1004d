import { describe, expect, it } from "vitest";
import type { AppendResult } from "../../src/events/store.js";
import { GroupWriter, type WriteOutcome } from "../../src/events/stores/shared/group-writer.js";
import type { WriteOp } from "../../src/events/stores/shared/write-ops.js";

/** A promise and the functions that settle it. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued microtask (and the ones they queue) run. */
async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** The stream each append of a group went to, for assertions. */
const streamsOf = (group: readonly WriteOp[]): string[] =>
  group.map((op) => (op.kind === "append" ? op.stream : op.kind));

const appended = (position: number): WriteOutcome => ({
  ok: true,
  result: { appended: [{ position, streamVersion: 1 }], duplicates: [] } as unknown as AppendResult,
});

/**
 * A GroupWriter whose gathering and commits the test settles by hand: `gathers` and `commits` hold
 * what it waits on, in order, and `log` what happened.
 */
function harness() {
  const gathers: ReturnType<typeof deferred<void>>[] = [];
  const commits: { group: readonly WriteOp[]; reply: ReturnType<typeof deferred<WriteOutcome[]>> }[] = [];
  const log: string[] = [];
  const writer = new GroupWriter({
    assertOpen: () => {},
    gather: () => {
      const gate = deferred<void>();
      gathers.push(gate);
      log.push("gather");
      return gate.promise;
    },
    commit: (group) => {
      const reply = deferred<WriteOutcome[]>();
      commits.push({ group, reply });
      log.push(`commit ${streamsOf(group).join(",")}`);
      return reply.promise;
    },
    onAppended: (last) => log.push(`appended up to ${last}`),
  });
  const append = (stream: string): Promise<AppendResult> => {
    const result = writer.append(stream, [{ type: "t", version: 1, data: {} }]);
    void result.then(
      () => log.push(`settled ${stream}`),
      () => log.push(`rejected ${stream}`),
    );
    return result;
  };
  return { writer, gathers, commits, log, append };
}

describe("GroupWriter", () => {
  it("groups what is issued until the gathering ends, and sends the writes queued during a commit at once when it returns, before settling it", async () => {
    const { gathers, commits, log, append } = harness();
    const a = append("a");
    const b = append("b");
    await drain();
    expect(log).toEqual(["gather"]);
    gathers[0]?.resolve();
    await drain();
    expect(commits.map((c) => streamsOf(c.group))).toEqual([["a", "b"]]);

    // Issued while the first group commits: the next group, sent as soon as the first returns —
    // before the first group's promises resume their callers.
    const c = append("c");
    const d = append("d");
    commits[0]?.reply.resolve([appended(1), appended(2)]);
    await Promise.all([a, b]);
    await drain();
    expect(log).toEqual(["gather", "commit a,b", "commit c,d", "appended up to 2", "settled a", "settled b"]);
    expect(gathers).toHaveLength(1);

    commits[1]?.reply.resolve([appended(3), appended(4)]);
    await Promise.all([c, d]);
    await drain();
    expect(log.slice(-3)).toEqual(["appended up to 4", "settled c", "settled d"]);
    expect(commits).toHaveLength(2);
  });

  it("writes issued once a group's promises settle (nothing queued during its commit) wait for a new gathering", async () => {
    const { writer, gathers, commits, log, append } = harness();
    const first = append("a");
    gathers[0]?.resolve();
    await drain();
    commits[0]?.reply.resolve([appended(1)]);
    // A caller that appends again when its append resolves.
    const second = first.then(() => append("b"));
    await first;
    await drain();
    expect(log).toEqual(["gather", "commit a", "appended up to 1", "settled a", "gather"]);
    expect(commits).toHaveLength(1);
    gathers[1]?.resolve();
    await drain();
    expect(commits.map((c) => streamsOf(c.group))).toEqual([["a"], ["b"]]);
    commits[1]?.reply.resolve([appended(2)]);
    await second;
    await writer.whenIdle();
  });

  it("a failed commit rejects its group's writes only; the group sent after it is committed", async () => {
    const { writer, gathers, commits, append } = harness();
    const a = append("a");
    gathers[0]?.resolve();
    await drain();
    const b = append("b");
    commits[0]?.reply.reject(new Error("disk full"));
    await expect(a).rejects.toThrow("disk full");
    await drain();
    expect(commits.map((c) => streamsOf(c.group))).toEqual([["a"], ["b"]]);
    commits[1]?.reply.resolve([appended(1)]);
    await expect(b).resolves.toMatchObject({ appended: [{ position: 1 }] });
    await writer.whenIdle();
  });

  it("a write the commit says nothing about is rejected as possibly not stored", async () => {
    const { gathers, commits, append } = harness();
    const a = append("a");
    const b = append("b");
    gathers[0]?.resolve();
    await drain();
    commits[0]?.reply.resolve([appended(1)]);
    await expect(a).resolves.toMatchObject({ appended: [{ position: 1 }] });
    await expect(b).rejects.toThrow("lost track of a write");
  });

  it("whenIdle resolves once nothing is queued nor in flight, across pipelined groups", async () => {
    const { writer, gathers, commits, append } = harness();
    void append("a");
    gathers[0]?.resolve();
    await drain();
    void append("b");
    let idle = false;
    void writer.whenIdle().then(() => {
      idle = true;
    });
    commits[0]?.reply.resolve([appended(1)]);
    await drain();
    expect(idle).toBe(false);
    commits[1]?.reply.resolve([appended(2)]);
    await drain();
    expect(idle).toBe(true);
  });
});
