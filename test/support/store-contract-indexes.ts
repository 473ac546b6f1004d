import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConcurrencyError,
  type EventStore,
  type NewEvent,
  SnapshotError,
  type StoredEvent,
} from "../../src/events/store.js";
import { expectInvalidInputRejected, positions, range, rejection, waitUntil } from "./store-helpers.js";

/** How the index suite reaches a store (the main contract passes its own). */
export interface IndexSuiteHarness {
  /** Runs `run` on a fresh, empty store, then cleans up. */
  withStore(run: (store: EventStore, tools: IndexSuiteTools) => Promise<void>): Promise<void>;
  /** Runs of the property test. */
  propertyRuns: number;
}

/** What a store's fixture offers the index suite beyond the store. */
export interface IndexSuiteTools {
  /** Damages the stored snapshot `name` so that it no longer parses. */
  corruptSnapshot: (name: string) => Promise<void>;
  /** Another handle on the same storage, when the store has shared storage. */
  openAnother?: () => Promise<EventStore>;
}

/** A `NewEvent` (version 1) with `data`, tags, an optional dedup key and type. */
function tagged(data: unknown, tags: readonly string[], dedupKey?: string, type = "test.happened"): NewEvent {
  return dedupKey === undefined
    ? { type, version: 1, data, tags }
    : { type, version: 1, data, tags, dedupKey };
}

function dataOf(events: readonly StoredEvent[]): unknown[] {
  return events.map((event) => event.data);
}

/**
 * The contract of what a store offers besides the log itself: tags (`readByTags`, `addTags`),
 * snapshots and read counters. Run by {@link describeStoreContract} for every store.
 */
export function describeIndexContract(harness: IndexSuiteHarness): void {
  const { withStore } = harness;

  describe("tags", () => {
    it("finds the events carrying any of the tags, in position order, each once", () =>
      withStore(async (store) => {
        await store.append("a", [tagged(1, ["job:1", "identity:x"]), tagged(2, ["job:2"])]);
        await store.append("b", [tagged(3, [])]);
        await store.append("c", [tagged(4, ["identity:x", "identity:x", "job:1"]), tagged(5, ["job:3"])]);
        await store.append("a", [{ type: "t", version: 1, data: 6 }]);
        expect(dataOf(await store.readByTags(["job:1"]))).toEqual([1, 4]);
        expect(dataOf(await store.readByTags(["identity:x", "job:1"]))).toEqual([1, 4]);
        expect(dataOf(await store.readByTags(["job:3", "job:2", "job:2"]))).toEqual([2, 5]);
        expect(await store.readByTags(["nobody"])).toEqual([]);
        expect(await store.readByTags([])).toEqual([]);
        const all = await store.read();
        expect(await store.readByTags(["job:1", "job:2", "job:3"])).toEqual(
          all.filter((event) => [1, 2, 4, 5].includes(event.data as number)),
        );
      }));

    it("honours `after` (exclusive) and `types`", () =>
      withStore(async (store) => {
        await store.append("s", [
          tagged(1, ["t"], undefined, "kept"),
          tagged(2, ["t"], undefined, "other"),
          tagged(3, ["t", "u"], undefined, "kept"),
          tagged(4, ["u"], undefined, "third"),
        ]);
        expect(positions(await store.readByTags(["t"], { after: 1 }))).toEqual([2, 3]);
        expect(positions(await store.readByTags(["t", "u"], { after: 3 }))).toEqual([4]);
        expect(positions(await store.readByTags(["t", "u"], { types: ["kept"] }))).toEqual([1, 3]);
        expect(positions(await store.readByTags(["t", "u"], { types: ["kept", "third"], after: 1 }))).toEqual(
          [3, 4],
        );
        expect(await store.readByTags(["t"], { types: [] })).toEqual([]);
        expect(await store.readByTags(["t"], { after: 4 })).toEqual([]);
      }));

    it("stores tags with their event only: not for a duplicate, nor for an append that failed", () =>
      withStore(async (store) => {
        await store.append("s", [tagged("first", ["a"], "key")]);
        const duplicate = await store.append("s", [tagged("again", ["b"], "key")]);
        expect(duplicate.appended).toEqual([]);
        const conflict = await rejection(
          store.append("s", [tagged("late", ["c"])], { expectedVersion: "no-stream" }),
        );
        expect(conflict).toBeInstanceOf(ConcurrencyError);
        expect(dataOf(await store.readByTags(["a", "b", "c"]))).toEqual(["first"]);
      }));

    it("looks up thousands of tags at once (past any one query's limit)", () =>
      withStore(async (store) => {
        const count = 2_600;
        for (let from = 0; from < count; from += 500) {
          await store.append(
            `s-${from}`,
            range(from, Math.min(count, from + 500) - 1).map((n) =>
              // Every event has its own tag; every 7th from 1300 on also carries the tag of an even
              // event about 1300 before (so that some are found by two tags far apart in the list).
              tagged(n, n % 7 === 0 && n >= 1300 ? [`tag-${n}`, `tag-${n - 1300 - (n % 2)}`] : [`tag-${n}`]),
            ),
          );
        }
        const wanted = range(0, count - 1)
          .filter((n) => n % 2 === 0)
          .map((n) => `tag-${n}`);
        const found = await store.readByTags(wanted);
        const expected = range(0, count - 1).filter((n) => n % 2 === 0 || (n % 7 === 0 && n >= 1300));
        expect(dataOf(found)).toEqual(expected);
        expect(positions(found)).toEqual(expected.map((n) => n + 1));
      }));

    it("addTags tags stored events: idempotent, unknown positions ignored, in the same index", () =>
      withStore(async (store) => {
        await store.append("s", [tagged(1, ["old"]), tagged(2, []), tagged(3, [])]);
        await store.addTags([
          { position: 2, tags: ["job:9", "job:9"] },
          { position: 3, tags: ["job:9", "old"] },
          { position: 99, tags: ["job:9"] },
          { position: 0, tags: ["job:9"] },
        ]);
        await store.addTags([{ position: 2, tags: ["job:9"] }]);
        await store.addTags([]);
        expect(positions(await store.readByTags(["job:9"]))).toEqual([2, 3]);
        expect(positions(await store.readByTags(["old"]))).toEqual([1, 3]);
        // An event appended later at position 99's place is not tagged by the ignored entry.
        expect(await store.head()).toBe(3);
        await store.append("s", [tagged(4, [])]);
        expect(positions(await store.readByTags(["job:9"]))).toEqual([2, 3]);
      }));

    it("rejects invalid tags asynchronously, with TypeError or RangeError, writing nothing", () =>
      withStore(async (store) => {
        const attempts: (() => Promise<unknown>)[] = [
          () => store.append("s", [tagged(1, [""])]),
          () => store.append("s", [tagged(1, [5 as unknown as string])]),
          () => store.append("s", [{ type: "t", version: 1, data: 1, tags: "job:1" as unknown as string[] }]),
          () => store.readByTags("job:1" as unknown as string[]),
          () => store.readByTags([""]),
          () => store.readByTags(["t"], { after: -1 }),
          () => store.readByTags(["t"], { types: [""] }),
          () => store.addTags([{ position: -1, tags: ["t"] }]),
          () => store.addTags([{ position: 1, tags: [""] }]),
          () => store.addTags({} as unknown as []),
        ];
        await expectInvalidInputRejected(attempts);
        expect(await store.head()).toBe(0);
      }));

    it("agrees with a model of random appends, tags and backfills", async () => {
      const step = fc.record({
        events: fc.array(
          fc.record({
            tags: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
            type: fc.integer({ min: 0, max: 1 }),
            key: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
          }),
          { maxLength: 4 },
        ),
        backfill: fc.array(
          fc.record({
            position: fc.nat(20),
            tags: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }),
          }),
          { maxLength: 3 },
        ),
      });
      const query = fc.record({
        tags: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 4 }),
        after: fc.nat(20),
        type: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { maxLength: 6 }),
          fc.array(query, { maxLength: 5 }),
          (steps, queries) =>
            withStore(async (store) => {
              const model: { type: string; tags: Set<string> }[] = [];
              const keys = new Set<number>();
              for (const { events, backfill } of steps) {
                const batch = events.map((event, index) => ({
                  type: `type-${event.type}`,
                  version: 1,
                  data: { step: model.length, index },
                  tags: event.tags.map((tag) => `tag-${tag}`),
                  ...(event.key === undefined ? {} : { dedupKey: `key-${event.key}` }),
                }));
                await store.append("s", batch);
                for (const event of events) {
                  if (event.key !== undefined) {
                    if (keys.has(event.key)) continue;
                    keys.add(event.key);
                  }
                  model.push({
                    type: `type-${event.type}`,
                    tags: new Set(event.tags.map((tag) => `tag-${tag}`)),
                  });
                }
                await store.addTags(
                  backfill.map((entry) => ({
                    position: entry.position,
                    tags: entry.tags.map((tag) => `tag-${tag}`),
                  })),
                );
                for (const entry of backfill) {
                  const row = model[entry.position - 1];
                  if (entry.position >= 1 && row !== undefined)
                    for (const tag of entry.tags) row.tags.add(`tag-${tag}`);
                }
              }
              for (const { tags, after, type } of queries) {
                const wanted = tags.map((tag) => `tag-${tag}`);
                const expected = model
                  .map((row, index) => ({ ...row, position: index + 1 }))
                  .filter(
                    (row) =>
                      row.position > after &&
                      (type === undefined || row.type === `type-${type}`) &&
                      wanted.some((tag) => row.tags.has(tag)),
                  )
                  .map((row) => row.position);
                const found = await store.readByTags(wanted, {
                  after,
                  ...(type === undefined ? {} : { types: [`type-${type}`] }),
                });
                expect(positions(found)).toEqual(expected);
              }
            }),
        ),
        { numRuns: harness.propertyRuns },
      );
    });
  });

  describe("snapshots", () => {
    it("loads null when none was saved, and what was saved last otherwise, as a copy", () =>
      withStore(async (store) => {
        expect(await store.loadSnapshot("projection")).toBeNull();
        const data = { batches: [{ id: "b1", open: true }], text: "Zoë ✓", n: 1.5, none: null };
        await store.saveSnapshot("projection", { position: 0, version: 1, data });
        expect(await store.loadSnapshot("projection")).toEqual({ position: 0, version: 1, data });
        await store.append("s", [tagged(1, [])]);
        await store.saveSnapshot("projection", { position: 1, version: 2, data: { replaced: true } });
        await store.saveSnapshot("other", { position: 1, version: 7, data: [1, 2] });
        const loaded = await store.loadSnapshot("projection");
        expect(loaded).toEqual({ position: 1, version: 2, data: { replaced: true } });
        (loaded?.data as { replaced: boolean }).replaced = false;
        expect((await store.loadSnapshot("projection"))?.data).toEqual({ replaced: true });
        expect(await store.loadSnapshot("other")).toEqual({ position: 1, version: 7, data: [1, 2] });
        // A snapshot is not an event.
        expect(await store.head()).toBe(1);
      }));

    it("saves the last of several saves issued together", () =>
      withStore(async (store) => {
        await Promise.all(
          range(1, 10).map((n) => store.saveSnapshot("together", { position: n, version: 1, data: { n } })),
        );
        expect(await store.loadSnapshot("together")).toEqual({ position: 10, version: 1, data: { n: 10 } });
      }));

    it("rejects invalid snapshots asynchronously, with TypeError or RangeError, saving nothing", () =>
      withStore(async (store) => {
        const attempts: (() => Promise<unknown>)[] = [
          () => store.saveSnapshot("", { position: 0, version: 1, data: {} }),
          () => store.saveSnapshot("s", { position: -1, version: 1, data: {} }),
          () => store.saveSnapshot("s", { position: 0, version: 1.5, data: {} }),
          () => store.saveSnapshot("s", { position: 0, version: 1, data: { big: 1n } }),
          () => store.saveSnapshot("s", { position: 0, version: 1, data: undefined }),
          () =>
            store.saveSnapshot("s", null as unknown as { position: number; version: number; data: unknown }),
          () => store.loadSnapshot(""),
        ];
        await expectInvalidInputRejected(attempts);
        expect(await store.loadSnapshot("s")).toBeNull();
      }));

    it("a snapshot that cannot be parsed rejects with SnapshotError; the store stays usable", () =>
      withStore(async (store, tools) => {
        await store.saveSnapshot("broken", { position: 0, version: 1, data: { fine: true } });
        await store.saveSnapshot("intact", { position: 0, version: 1, data: { fine: true } });
        await tools.corruptSnapshot("broken");
        const error = await rejection(store.loadSnapshot("broken"));
        expect(error).toBeInstanceOf(SnapshotError);
        expect(error).toMatchObject({ snapshot: "broken" });
        expect(String(error)).toMatch(/snapshot "broken"/);
        expect(await store.loadSnapshot("intact")).toEqual({ position: 0, version: 1, data: { fine: true } });
        expect((await store.append("s", [tagged(1, [])])).appended).toHaveLength(1);
        await store.saveSnapshot("broken", { position: 1, version: 1, data: { again: true } });
        expect(await store.loadSnapshot("broken")).toEqual({
          position: 1,
          version: 1,
          data: { again: true },
        });
      }));
  });

  describe("read counters", () => {
    it("count the read queries and the events they returned, subscriptions included", () =>
      withStore(async (store) => {
        expect(store.readCounters()).toEqual({ queries: 0, events: 0 });
        await store.append("a", [tagged(1, ["t"], "k1"), tagged(2, ["t"]), tagged(3, [])]);
        await store.append("b", [tagged(4, [])]);
        // Writes, head, checkpoints and snapshots are not reads of events.
        await store.head();
        await store.getCheckpoint("c");
        await store.setCheckpoint("c", 1);
        await store.saveSnapshot("p", { position: 1, version: 1, data: {} });
        await store.loadSnapshot("p");
        await store.addTags([{ position: 4, tags: ["t"] }]);
        expect(store.readCounters()).toEqual({ queries: 0, events: 0 });

        await store.read();
        expect(store.readCounters()).toEqual({ queries: 1, events: 4 });
        await store.read({ after: 1, limit: 2 });
        await store.readStream("a");
        expect(store.readCounters()).toEqual({ queries: 3, events: 9 });
        await store.readByTags(["t"]);
        expect(store.readCounters()).toEqual({ queries: 4, events: 12 });
        await store.findByDedupKey("k1");
        await store.findByDedupKey("absent");
        expect(store.readCounters()).toEqual({ queries: 6, events: 13 });

        const events: StoredEvent[] = [];
        const subscription = store.subscribe(2).subscribe((event) => events.push(event));
        await waitUntil(() => events.length === 2, "the catch-up");
        expect(store.readCounters()).toEqual({ queries: 7, events: 15 });
        await store.append("c", [tagged(5, [])]);
        await waitUntil(() => events.length === 3, "the live event");
        subscription.unsubscribe();
        expect(store.readCounters()).toEqual({ queries: 7, events: 16 });
        // A copy, not a live view.
        const counters = store.readCounters();
        await store.read();
        expect(counters).toEqual({ queries: 7, events: 16 });
      }));
  });
}

/** The calls of this suite's methods that must reject once the store is closed. */
export function indexCallsAfterClose(store: EventStore): (() => Promise<unknown>)[] {
  return [
    () => store.readByTags(["t"]),
    () => store.addTags([{ position: 1, tags: ["t"] }]),
    () => store.loadSnapshot("p"),
    () => store.saveSnapshot("p", { position: 0, version: 1, data: {} }),
  ];
}
