import * as fc from "fast-check";
import { firstValueFrom, take, toArray } from "rxjs";
import { describe, expect, it, vi } from "vitest";
import {
  type AppendResult,
  ConcurrencyError,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type StoredEvent,
  StoreUnavailableError,
} from "../../src/events/store.js";
import { describeIndexContract, indexCallsAfterClose } from "./store-contract-indexes.js";
import {
  collect,
  ev,
  expectInvalidInputRejected,
  positions,
  type Recorder,
  range,
  realDelay,
  record,
  rejection,
  waitUntil,
} from "./store-helpers.js";

export { collect, ev, type Recorder, realDelay, record, waitUntil } from "./store-helpers.js";

/** What a contract run needs from a store implementation. */
export interface StoreFixture {
  store: EventStore;
  /** Closes every handle the fixture opened (closing twice must be harmless) and removes its files. */
  cleanup: () => Promise<void>;
  /** Opens another, independent handle on the same storage (needs `capabilities.sharedStorage`). */
  openAnother?: () => Promise<EventStore>;
  /** Damages the stored snapshot `name` so that it no longer parses (behind the store's back). */
  corruptSnapshot: (name: string) => Promise<void>;
}

/** Optional features a store may have; the matching contract tests run only when set. */
export interface StoreContractCapabilities {
  /**
   * Several handles (connections, processes) may use the same storage: the fixture provides
   * `openAnother`, and dedup keys, expected versions and subscriptions must work across handles.
   */
  sharedStorage?: boolean;
  /** How long a handle may take to notice another handle's appends (polling). Default 5000 ms. */
  crossHandleTimeoutMs?: number;
  /** Runs of the model-based property test. Default 25. */
  propertyRuns?: number;
  /**
   * For a store that groups concurrent appends into one transaction (group commit): its count of
   * committed transactions. The group-commit tests run only with it.
   */
  transactions?: (store: EventStore) => number;
}

/**
 * The contract every {@link EventStore} implementation must meet. Call it once per store from a
 * test file; `makeStore` must return a fresh, empty store (and its cleanup) on every call.
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Promise<StoreFixture>,
  capabilities: StoreContractCapabilities = {},
): void {
  async function withStore(run: (store: EventStore, fixture: StoreFixture) => Promise<void>): Promise<void> {
    const fixture = await makeStore();
    try {
      await run(fixture.store, fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`EventStore contract: ${name}`, () => {
    describeIndexContract({
      withStore: (run) =>
        withStore((store, fixture) =>
          run(store, {
            corruptSnapshot: fixture.corruptSnapshot,
            ...(fixture.openAnother === undefined ? {} : { openAnother: fixture.openAnother }),
          }),
        ),
      propertyRuns: capabilities.propertyRuns ?? 25,
    });

    describe("data given as UTF-8 text (dataText)", () => {
      /** A body as a webhook brings it: quotes, escapes, control characters, non-ASCII, a BOM. */
      const texts = [
        '{"id":"a1","note":"say \\"hi\\"\\n","city":"Zoë — 東京 🚀"}',
        '\ufeff{"bom":true}',
        "tab\there, newline\nthere, \u0001 and \u007f and \u2028",
        "",
      ];
      const withText = (text: string, n: number): NewEvent => ({
        type: "webhook.stored",
        version: 1,
        data: undefined,
        dataText: {
          before: `{"n":${n},"body":`,
          utf8: new TextEncoder().encode(text),
          after: ',"tail":[1,2]}',
        },
        dedupKey: `text-${n}`,
      });

      it("stores the JSON the three parts stand for, and reads back the text as it was", () =>
        withStore(async (store) => {
          const { appended } = await store.append(
            "texts",
            texts.map((text, n) => withText(text, n)),
          );
          const expected = texts.map((body, n) => ({ n, body, tail: [1, 2] }));
          expect(appended.map((event) => event.data)).toStrictEqual(expected);
          expect((await store.readStream("texts")).map((event) => event.data)).toStrictEqual(expected);
          expect((await store.findByDedupKey("text-1"))?.data).toStrictEqual(expected[1]);
        }));

      it("refuses bytes that are not UTF-8 or hold a NUL byte, appending nothing of the batch", () =>
        withStore(async (store) => {
          const bad = (utf8: Uint8Array): NewEvent => ({
            type: "t",
            version: 1,
            data: undefined,
            dataText: { before: '{"b":', utf8, after: "}" },
          });
          await expect(
            store.append("s", [ev({ ok: true }), bad(Uint8Array.of(0x7b, 0xff, 0x7d))]),
          ).rejects.toThrow(/events\[1\]\.dataText\.utf8 is not valid UTF-8/);
          await expect(store.append("s", [bad(Uint8Array.of(0x61, 0x00, 0x62))])).rejects.toThrow(
            /events\[0\]\.dataText\.utf8 holds a NUL byte/,
          );
          expect(await store.head()).toBe(0);
        }));
    });

    describe("positions and reads", () => {
      it("starts empty", () =>
        withStore(async (store) => {
          expect(await store.head()).toBe(0);
          expect(await store.read()).toEqual([]);
          expect(await store.readStream("nothing")).toEqual([]);
          expect(await store.findByDedupKey("nothing")).toBeUndefined();
          expect(await store.getCheckpoint("nobody")).toBe(0);
        }));

      it("assigns global positions 1..n in commit order, and 1-based versions per stream", () =>
        withStore(async (store) => {
          const first = await store.append("a", [ev({ n: 1 }), ev({ n: 2 })]);
          const second = await store.append("b", [ev({ n: 3 })]);
          const third = await store.append("a", [ev({ n: 4 }, undefined, "other.type")]);
          const appended = [...first.appended, ...second.appended, ...third.appended];
          expect(positions(appended)).toEqual([1, 2, 3, 4]);
          expect(appended.map((event) => [event.stream, event.streamVersion])).toEqual([
            ["a", 1],
            ["a", 2],
            ["b", 1],
            ["a", 3],
          ]);
          expect(appended.map((event) => event.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
          expect(appended[3]?.type).toBe("other.type");
          expect(appended[3]?.version).toBe(1);
          expect(appended[0]?.dedupKey).toBeNull();
          for (const event of appended) {
            expect(new Date(event.recordedAt).toISOString()).toBe(event.recordedAt);
          }
          expect(await store.read()).toEqual(appended);
          expect(await store.head()).toBe(4);
        }));

      it("round-trips JSON data the way JSON.stringify shapes it, and hands out copies", () =>
        withStore(async (store) => {
          const data = {
            text: 'Zoë ✓ \u{1F600} "quoted" \n newline',
            nested: { list: [1, 2.5, -3, null, true, { deep: ["x"] }], empty: {} },
            nothing: null,
            dropped: undefined,
            when: new Date("2024-05-06T07:08:09.010Z"),
          };
          const { appended } = await store.append("json", [ev(data), ev([1, "two"]), ev("plain"), ev(42)]);
          const expected = JSON.parse(JSON.stringify(data)) as unknown;
          expect(appended[0]?.data).toEqual(expected);
          const [stored] = await store.read({ limit: 1 });
          expect(stored?.data).toEqual(expected);
          expect(Object.hasOwn(stored?.data as object, "dropped")).toBe(false);
          (stored?.data as { text: string }).text = "mutated";
          const [again] = await store.read({ limit: 1 });
          expect(again?.data).toEqual(expected);
          expect((await store.read()).slice(1).map((event) => event.data)).toEqual([[1, "two"], "plain", 42]);
        }));

      it("read honours `after` (exclusive) and `limit`", () =>
        withStore(async (store) => {
          await store.append(
            "s",
            range(1, 10).map((n) => ev({ n })),
          );
          expect(positions(await store.read({ after: 0 }))).toEqual(range(1, 10));
          expect(positions(await store.read({ after: 3 }))).toEqual(range(4, 10));
          expect(positions(await store.read({ after: 3, limit: 4 }))).toEqual([4, 5, 6, 7]);
          expect(positions(await store.read({ limit: 2 }))).toEqual([1, 2]);
          expect(await store.read({ after: 10 })).toEqual([]);
          expect(await store.read({ after: 50 })).toEqual([]);
          expect(await store.read({ after: 2, limit: 0 })).toEqual([]);
        }));

      it("readStream returns one stream's events in stream order", () =>
        withStore(async (store) => {
          await store.append("x", [ev(1), ev(2)]);
          await store.append("y", [ev(3)]);
          await store.append("x", [ev(4)]);
          const x = await store.readStream("x");
          expect(x.map((event) => [event.position, event.streamVersion, event.data])).toEqual([
            [1, 1, 1],
            [2, 2, 2],
            [4, 3, 4],
          ]);
          expect((await store.readStream("y")).map((event) => event.data)).toEqual([3]);
          expect(await store.readStream("z")).toEqual([]);
        }));
    });

    describe("atomicity and expected versions", () => {
      it('checks "no-stream", exact versions and "any"', () =>
        withStore(async (store) => {
          await store.append("s", [ev(1)], { expectedVersion: "no-stream" });
          const noStream = await rejection(store.append("s", [ev(2)], { expectedVersion: "no-stream" }));
          expect(noStream).toBeInstanceOf(ConcurrencyError);
          expect(noStream).toMatchObject({ stream: "s", expected: "no-stream", actual: 1 });

          await store.append("s", [ev(2), ev(3)], { expectedVersion: 1 });
          const stale = await rejection(store.append("s", [ev(4)], { expectedVersion: 1 }));
          expect(stale).toBeInstanceOf(ConcurrencyError);
          expect(stale).toMatchObject({ stream: "s", expected: 1, actual: 3 });
          const ahead = await rejection(store.append("s", [ev(4)], { expectedVersion: 7 }));
          expect(ahead).toMatchObject({ expected: 7, actual: 3 });
          const onEmpty = await rejection(store.append("empty", [ev(4)], { expectedVersion: 1 }));
          expect(onEmpty).toMatchObject({ stream: "empty", expected: 1, actual: 0 });

          await store.append("s", [ev(4)], { expectedVersion: 3 });
          await store.append("s", [ev(5)], { expectedVersion: "any" });
          await store.append("s", [ev(6)]);
          await store.append("fresh", [ev(7)], { expectedVersion: 0 });
          expect((await store.readStream("s")).map((event) => event.data)).toEqual([1, 2, 3, 4, 5, 6]);
          expect(await store.head()).toBe(7);
        }));

      it("a batch rejected with ConcurrencyError writes nothing, not even its checkpoint or dedup keys", () =>
        withStore(async (store) => {
          await store.append("s", [ev("first")]);
          const error = await rejection(
            store.append("s", [ev(1, "k1"), ev(2, "k2"), ev(3), ev(4), ev(5)], {
              expectedVersion: "no-stream",
              checkpoint: { name: "consumer", position: 1 },
            }),
          );
          expect(error).toBeInstanceOf(ConcurrencyError);
          expect(await store.head()).toBe(1);
          expect(await store.readStream("s")).toHaveLength(1);
          expect(await store.findByDedupKey("k1")).toBeUndefined();
          expect(await store.getCheckpoint("consumer")).toBe(0);
          const retry = await store.append("s", [ev(1, "k1")], { expectedVersion: 1 });
          expect(retry.appended.map((event) => [event.position, event.streamVersion])).toEqual([[2, 2]]);
        }));

      it("of concurrent appends expecting the same version, exactly one wins", () =>
        withStore(async (store) => {
          await store.append("race", [ev("seed")]);
          const outcomes = await Promise.allSettled(
            range(1, 10).map((n) => store.append("race", [ev(n), ev(n * 100)], { expectedVersion: 1 })),
          );
          const winners = outcomes.filter((outcome) => outcome.status === "fulfilled");
          const losers = outcomes.filter((outcome) => outcome.status === "rejected");
          expect(winners).toHaveLength(1);
          expect(losers).toHaveLength(9);
          for (const loser of losers) {
            expect(loser.reason).toBeInstanceOf(ConcurrencyError);
            expect(loser.reason).toMatchObject({ expected: 1, actual: 3 });
          }
          const stream = await store.readStream("race");
          expect(stream.map((event) => event.streamVersion)).toEqual([1, 2, 3]);
          expect(await store.head()).toBe(3);
        }));

      it("an empty batch appends nothing but still checks expectedVersion", () =>
        withStore(async (store) => {
          expect(await store.append("s", [])).toEqual({ appended: [], duplicates: [] });
          expect(await store.append("s", [], { expectedVersion: "no-stream" })).toEqual({
            appended: [],
            duplicates: [],
          });
          await store.append("s", [ev(1)]);
          expect(await rejection(store.append("s", [], { expectedVersion: "no-stream" }))).toBeInstanceOf(
            ConcurrencyError,
          );
          expect(await store.head()).toBe(1);
        }));

      it("rejects invalid input asynchronously, with TypeError or RangeError, writing nothing", () =>
        withStore(async (store) => {
          const attempts: (() => Promise<unknown>)[] = [
            () => store.append("", [ev(1)]),
            () => store.append("s", [{ type: "", version: 1, data: 1 }]),
            () => store.append("s", [{ type: "t", version: -1, data: 1 }]),
            () => store.append("s", [{ type: "t", version: 1.5, data: 1 }]),
            () => store.append("s", [{ type: "t", version: 1, data: undefined }]),
            () => store.append("s", [{ type: "t", version: 1, data: { big: 1n } }]),
            () => store.append("s", [{ type: "t", version: 1, data: () => 1 }]),
            () => store.append("s", [ev(1, "")]),
            () => store.append("s", [ev(1)], { expectedVersion: -1 }),
            () => store.append("s", [ev(1)], { expectedVersion: "latest" as ExpectedVersion }),
            () => store.append("s", [ev(1)], { checkpoint: { name: "c", position: -5 } }),
            () => store.append("s", [ev(1)], { checkpoint: { name: "", position: 5 } }),
            () => store.read({ after: -1 }),
            () => store.read({ limit: 1.5 }),
            () => store.setCheckpoint("c", Number.NaN),
          ];
          await expectInvalidInputRejected(attempts);
          expect(await store.head()).toBe(0);
          expect(await store.getCheckpoint("c")).toBe(0);
        }));
    });

    if (capabilities.transactions) {
      const transactions = capabilities.transactions;
      it("group commit: rolls back only the append whose expected version fails, keeping the rest of the group", () =>
        withStore(async (store) => {
          await store.append("taken", [ev("x")]);
          const before = transactions(store);
          const [ok1, bad, ok2, dup] = await Promise.allSettled([
            store.append("a", [ev(1, "same")]),
            store.append("taken", [ev(2), ev(3)], {
              expectedVersion: "no-stream",
              checkpoint: { name: "c", position: 9 },
            }),
            store.append("b", [ev(4), ev(5)], { checkpoint: { name: "d", position: 2 } }),
            store.append("c", [ev(6, "same")]),
          ]);
          expect(transactions(store) - before).toBe(1);
          expect(ok1.status === "fulfilled" && positions(ok1.value.appended)).toEqual([2]);
          expect(bad.status === "rejected" && bad.reason).toBeInstanceOf(ConcurrencyError);
          expect(ok2.status === "fulfilled" && positions(ok2.value.appended)).toEqual([3, 4]);
          expect(dup.status === "fulfilled" && dup.value).toEqual({
            appended: [],
            duplicates: [{ index: 0, dedupKey: "same", position: 2 }],
          });
          expect(await store.getCheckpoint("c")).toBe(0);
          expect(await store.getCheckpoint("d")).toBe(2);
          expect(positions(await store.read())).toEqual([1, 2, 3, 4]);
        }));
    }

    describe("idempotent appends (dedup keys)", () => {
      it("skips an event whose dedup key is stored, reporting the stored position", () =>
        withStore(async (store) => {
          await store.append("a", [ev("x")]);
          const first = await store.append("a", [ev("once", "key-1")]);
          expect(first.duplicates).toEqual([]);
          expect(positions(first.appended)).toEqual([2]);
          const again = await store.append("b", [ev("twice", "key-1")]);
          expect(again).toEqual({ appended: [], duplicates: [{ index: 0, dedupKey: "key-1", position: 2 }] });
          expect(await store.head()).toBe(2);
          expect(await store.readStream("b")).toEqual([]);
        }));

      it("writes the rest of a partly duplicate batch atomically, keeping stream versions contiguous", () =>
        withStore(async (store) => {
          await store.append("s", [ev("old", "old")]);
          const result = await store.append("s", [
            ev("new-1", "n1"),
            ev("again", "old"),
            ev("new-2"),
            ev("n3", "n3"),
          ]);
          expect(result.duplicates).toEqual([{ index: 1, dedupKey: "old", position: 1 }]);
          expect(result.appended.map((event) => [event.position, event.streamVersion, event.data])).toEqual([
            [2, 2, "new-1"],
            [3, 3, "new-2"],
            [4, 4, "n3"],
          ]);
          expect(positions(await store.read())).toEqual([1, 2, 3, 4]);
        }));

      it("skips duplicates inside one batch, pointing at the first occurrence", () =>
        withStore(async (store) => {
          const result = await store.append("s", [
            ev(1, "k1"),
            ev(2, "k2"),
            ev(3, "k1"),
            ev(4, "k1"),
            ev(5, "k2"),
          ]);
          expect(positions(result.appended)).toEqual([1, 2]);
          expect(result.duplicates).toEqual([
            { index: 2, dedupKey: "k1", position: 1 },
            { index: 3, dedupKey: "k1", position: 1 },
            { index: 4, dedupKey: "k2", position: 2 },
          ]);
          expect((await store.read()).map((event) => event.data)).toEqual([1, 2]);
        }));

      it("stores a dedup key once when many appends race with it", () =>
        withStore(async (store) => {
          const results = await Promise.all(
            range(1, 20).map((n) =>
              store.append(`stream-${n % 4}`, [ev({ n }, `solo-${n}`), ev({ n }, "shared")]),
            ),
          );
          const winners = results.filter((result) =>
            result.appended.some((event) => event.dedupKey === "shared"),
          );
          expect(winners).toHaveLength(1);
          const stored = await store.findByDedupKey("shared");
          expect(stored?.dedupKey).toBe("shared");
          for (const result of results) {
            if (result === winners[0]) continue;
            expect(result.duplicates).toEqual([{ index: 1, dedupKey: "shared", position: stored?.position }]);
          }
          const all = await store.read();
          expect(all.filter((event) => event.dedupKey === "shared")).toHaveLength(1);
          expect(all).toHaveLength(21);
          expect(positions(all)).toEqual(range(1, 21));
        }));

      it("treats a retried all-duplicate batch as done, whatever its expectedVersion", () =>
        withStore(async (store) => {
          const batch = [ev(1, "r1"), ev(2, "r2")];
          const first = await store.append("s", batch, { expectedVersion: "no-stream" });
          await store.append("s", [ev(3)]);
          const retry = await store.append("s", batch, { expectedVersion: "no-stream" });
          expect(retry).toEqual({
            appended: [],
            duplicates: [
              { index: 0, dedupKey: "r1", position: first.appended[0]?.position },
              { index: 1, dedupKey: "r2", position: first.appended[1]?.position },
            ],
          });
          // One new event in the batch makes it a real append again, checked against the version.
          const mixed = await rejection(
            store.append("s", [...batch, ev(4, "r4")], { expectedVersion: "no-stream" }),
          );
          expect(mixed).toBeInstanceOf(ConcurrencyError);
          expect(await store.head()).toBe(3);
        }));

      it("findByDedupKey returns the stored event", () =>
        withStore(async (store) => {
          await store.append("a", [ev(0)]);
          const { appended } = await store.append("b", [ev({ hello: "world" }, "greeting", "greeted")]);
          const found = await store.findByDedupKey("greeting");
          expect(found).toEqual(appended[0]);
          expect(found).toMatchObject({ position: 2, stream: "b", streamVersion: 1, type: "greeted" });
          expect(await store.findByDedupKey("absent")).toBeUndefined();
        }));
    });

    describe("checkpoints", () => {
      it("stores named checkpoints that never move backwards", () =>
        withStore(async (store) => {
          expect(await store.getCheckpoint("c1")).toBe(0);
          await store.setCheckpoint("c1", 5);
          expect(await store.getCheckpoint("c1")).toBe(5);
          await store.setCheckpoint("c1", 3);
          expect(await store.getCheckpoint("c1")).toBe(5);
          await store.setCheckpoint("c1", 9);
          await store.setCheckpoint("c2", 1);
          expect(await store.getCheckpoint("c1")).toBe(9);
          expect(await store.getCheckpoint("c2")).toBe(1);
          await Promise.all([
            store.setCheckpoint("c3", 7),
            store.setCheckpoint("c3", 4),
            store.setCheckpoint("c3", 6),
          ]);
          expect(await store.getCheckpoint("c3")).toBe(7);
        }));

      it("writes an append's checkpoint in the same transaction as its events", () =>
        withStore(async (store) => {
          await store.append("in", [ev(1), ev(2), ev(3)]);
          await store.append("out", [ev("from-3", "out-3")], { checkpoint: { name: "proc", position: 3 } });
          expect(await store.getCheckpoint("proc")).toBe(3);
          await store.append("out", [ev("late")], { checkpoint: { name: "proc", position: 2 } });
          expect(await store.getCheckpoint("proc")).toBe(3);
          await rejection(
            store.append("out", [ev("x")], {
              expectedVersion: 0,
              checkpoint: { name: "proc", position: 10 },
            }),
          );
          expect(await store.getCheckpoint("proc")).toBe(3);
          // A redelivered input whose output is already stored still moves the checkpoint.
          const redelivered = await store.append("out", [ev("from-3", "out-3")], {
            checkpoint: { name: "proc", position: 4 },
          });
          expect(redelivered.appended).toEqual([]);
          expect(await store.getCheckpoint("proc")).toBe(4);
          await store.append("out", [], { checkpoint: { name: "proc", position: 5 } });
          expect(await store.getCheckpoint("proc")).toBe(5);
        }));
    });

    describe("subscribe", () => {
      it("catches up from `after` (exclusive), then emits live appends", () =>
        withStore(async (store) => {
          await store.append(
            "s",
            range(1, 5).map((n) => ev(n)),
          );
          const recorder = record(store.subscribe(2));
          await waitUntil(() => recorder.events.length === 3, "the catch-up");
          expect(positions(recorder.events)).toEqual([3, 4, 5]);
          await store.append("s", [ev(6)]);
          await store.append("t", [ev(7), ev(8)]);
          await waitUntil(() => recorder.events.length === 6, "the live events");
          recorder.subscription.unsubscribe();
          expect(recorder.events).toEqual(await store.read({ after: 2 }));
          expect(recorder.error).toBeUndefined();
        }));

      it("emits only new events from the head, and from 0 by default", () =>
        withStore(async (store) => {
          await store.append("s", [ev(1), ev(2)]);
          const fromHead = record(store.subscribe(await store.head()));
          const fromStart = record(store.subscribe());
          await realDelay(20);
          expect(fromHead.events).toEqual([]);
          await store.append("s", [ev(3)]);
          await waitUntil(
            () => fromHead.events.length === 1 && fromStart.events.length === 3,
            "the new event",
          );
          expect(positions(fromHead.events)).toEqual([3]);
          expect(positions(fromStart.events)).toEqual([1, 2, 3]);
          fromHead.subscription.unsubscribe();
          fromStart.subscription.unsubscribe();
        }));

      it("delivers events that a subscriber appends from inside its own next handler", () =>
        withStore(async (store) => {
          // A processor: every "in" event yields one "out" event, appended while handling it.
          const seen: StoredEvent[] = [];
          const appends: Promise<AppendResult>[] = [];
          const subscription = store.subscribe(0).subscribe((event) => {
            seen.push(event);
            if (event.stream === "in") {
              appends.push(store.append("out", [ev({ from: event.position }, `out-${event.position}`)]));
            }
          });
          for (let n = 1; n <= 5; n += 1) {
            await store.append("in", [ev(n)]);
            await realDelay(1);
          }
          await waitUntil(() => seen.length === 10, `10 events (got ${seen.length})`);
          await Promise.all(appends);
          await realDelay(20);
          subscription.unsubscribe();
          expect(seen).toEqual(await store.read());
          expect(seen.filter((event) => event.stream === "out")).toHaveLength(5);
        }));

      it("works with rxjs operators that unsubscribe early", () =>
        withStore(async (store) => {
          await store.append(
            "s",
            range(1, 20).map((n) => ev(n)),
          );
          const firstFive = await firstValueFrom(store.subscribe(0).pipe(take(5), toArray()));
          expect(positions(firstFive)).toEqual([1, 2, 3, 4, 5]);
          const one = await firstValueFrom(store.subscribe(19));
          expect(one.position).toBe(20);
        }));

      it("stops emitting once unsubscribed", () =>
        withStore(async (store) => {
          await store.append("s", [ev(1), ev(2)]);
          const recorder = record(store.subscribe(0));
          await waitUntil(() => recorder.events.length === 2, "the catch-up");
          recorder.subscription.unsubscribe();
          await store.append("s", [ev(3)]);
          await realDelay(50);
          expect(positions(recorder.events)).toEqual([1, 2]);
          expect(recorder.completed).toBe(false);
        }));

      it("replays exactly what it delivered live: 500 events from 20 concurrent writers", () =>
        withStore(async (store) => {
          const live = record(store.subscribe(0));
          const late = { recorder: undefined as Recorder | undefined };
          const results: AppendResult[] = [];
          const writer = async (writerId: number): Promise<void> => {
            let seq = 0;
            while (seq < 25) {
              const size = Math.min(25 - seq, 1 + ((writerId + seq) % 4));
              const batch = range(seq, seq + size - 1).map((n) =>
                ev({ writerId, seq: n }, n % 10 === 3 ? `shared-${n}` : `w${writerId}-${n}`),
              );
              seq += size;
              const stream = writerId % 3 === 0 ? "shared-stream" : `writer-${writerId}`;
              results.push(await store.append(stream, batch));
              if (writerId === 7 && seq > 10 && late.recorder === undefined) {
                late.recorder = record(store.subscribe(0));
              }
              if (seq % 2 === 0) await realDelay(writerId % 3);
              else await Promise.resolve();
            }
          };
          await Promise.all(range(1, 20).map(writer));
          const head = await store.head();
          const appendedCount = results.reduce((sum, result) => sum + result.appended.length, 0);
          const duplicateCount = results.reduce((sum, result) => sum + result.duplicates.length, 0);
          expect(appendedCount + duplicateCount).toBe(500);
          expect(head).toBe(appendedCount);
          expect(appendedCount).toBe(500 - 19 * 3); // keys shared-3, -13, -23 are written once of 20 tries

          await waitUntil(
            () => live.events.length >= head,
            `${head} live events (got ${live.events.length})`,
          );
          await waitUntil(() => (late.recorder?.events.length ?? 0) >= head, "the late subscriber");
          await realDelay(20);
          live.subscription.unsubscribe();
          late.recorder?.subscription.unsubscribe();
          expect(positions(live.events)).toEqual(range(1, head));
          expect(positions(late.recorder?.events ?? [])).toEqual(range(1, head));

          const all = await store.read();
          expect(live.events).toEqual(all);
          expect(late.recorder?.events).toEqual(all);
          const replay = await collect(store.subscribe(0), head);
          expect(replay).toEqual(live.events);
          // Every acknowledged event is where its append said it is.
          const byPosition = new Map(all.map((event) => [event.position, event]));
          for (const event of results.flatMap((result) => result.appended)) {
            expect(byPosition.get(event.position)).toEqual(event);
          }
          // Each writer's events come out in the order it wrote them.
          const lastSeq = new Map<number, number>();
          for (const event of all) {
            const { writerId, seq } = event.data as { writerId: number; seq: number };
            expect(seq).toBeGreaterThan(lastSeq.get(writerId) ?? -1);
            lastSeq.set(writerId, seq);
          }
        }));

      it("never skips or repeats for subscribers joining while appends are in flight", () =>
        withStore(async (store) => {
          const joined: { after: number; recorder: Recorder }[] = [];
          const writers = range(1, 10).map(async (writerId) => {
            for (let batch = 0; batch < 10; batch += 1) {
              await store.append(
                `w-${writerId}`,
                range(1, 3).map((n) => ev(n)),
              );
              if (batch % 3 === writerId % 3) {
                const after = await store.head();
                joined.push({ after, recorder: record(store.subscribe(after)) });
              }
            }
          });
          await Promise.all(writers);
          const head = await store.head();
          expect(head).toBe(300);
          expect(joined.length).toBeGreaterThan(10);
          for (const { after, recorder } of joined) {
            await waitUntil(() => recorder.events.length >= head - after, `a subscriber from ${after}`);
          }
          await realDelay(20);
          for (const { after, recorder } of joined) {
            recorder.subscription.unsubscribe();
            expect(positions(recorder.events)).toEqual(range(after + 1, head));
          }
        }));

      it("wakes subscribers on in-process appends without any timer (fake timers installed)", () =>
        withStore(async (store) => {
          await store.append("s", [ev(1)]);
          vi.useFakeTimers();
          try {
            const recorder = record(store.subscribe(0));
            const appended = await Promise.race([
              store.append("s", [ev(2), ev(3)]),
              realDelay(2_000).then(() => "timed out" as const),
            ]);
            expect(appended).not.toBe("timed out");
            await waitUntil(() => recorder.events.length === 3, "the live events under fake timers", 2_000);
            expect(positions(recorder.events)).toEqual([1, 2, 3]);
            recorder.subscription.unsubscribe();
          } finally {
            vi.useRealTimers();
          }
        }));
    });

    describe("close", () => {
      it("commits pending appends, completes subscriptions, then rejects every call", () =>
        withStore(async (store) => {
          await store.append("s", [ev(1)]);
          const recorder = record(store.subscribe(0));
          const pending = store.append("s", [ev(2), ev(3)]);
          const pendingCheckpoint = store.setCheckpoint("c", 3);
          await store.close();
          expect(positions((await pending).appended)).toEqual([2, 3]);
          await pendingCheckpoint;
          expect(positions(recorder.events)).toEqual([1, 2, 3]);
          expect(recorder.completed).toBe(true);
          expect(recorder.error).toBeUndefined();

          const calls: (() => Promise<unknown>)[] = [
            () => store.append("s", [ev(4)]),
            () => store.read(),
            () => store.readStream("s"),
            () => store.head(),
            () => store.findByDedupKey("k"),
            () => store.getCheckpoint("c"),
            () => store.setCheckpoint("c", 9),
            ...indexCallsAfterClose(store),
          ];
          for (const call of calls) {
            expect(await rejection(call())).toBeInstanceOf(StoreUnavailableError);
          }
          const late = record(store.subscribe(0));
          await waitUntil(() => late.error !== undefined, "the subscription error");
          expect(late.error).toBeInstanceOf(StoreUnavailableError);
          await expect(store.close()).resolves.toBeUndefined();
        }));
    });

    it("behaves like a simple model under random sequences of appends and checkpoints", async () => {
      type Command =
        | {
            kind: "append";
            stream: number;
            keys: (number | null)[];
            expected: "any" | "no-stream" | "current" | number;
          }
        | { kind: "checkpoint"; position: number };
      const command: fc.Arbitrary<Command> = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            kind: fc.constant("append" as const),
            stream: fc.integer({ min: 0, max: 2 }),
            keys: fc.array(fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }), { maxLength: 4 }),
            expected: fc.oneof(
              fc.constant("any" as const),
              fc.constant("no-stream" as const),
              fc.constant("current" as const),
              fc.integer({ min: 0, max: 5 }),
            ),
          }),
        },
        {
          weight: 1,
          arbitrary: fc.record({ kind: fc.constant("checkpoint" as const), position: fc.nat(30) }),
        },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(command, { maxLength: 15 }), async (commands) => {
          const fixture = await makeStore();
          const { store } = fixture;
          try {
            const model: { stream: string; streamVersion: number; data: unknown; dedupKey: string | null }[] =
              [];
            const keys = new Map<string, number>();
            let checkpoint = 0;
            let serial = 0;
            for (const step of commands) {
              if (step.kind === "checkpoint") {
                await store.setCheckpoint("model", step.position);
                checkpoint = Math.max(checkpoint, step.position);
                expect(await store.getCheckpoint("model")).toBe(checkpoint);
                continue;
              }
              const stream = `s${step.stream}`;
              const version = model.filter((event) => event.stream === stream).length;
              const expectedVersion: ExpectedVersion = step.expected === "current" ? version : step.expected;
              const batch = step.keys.map((key) =>
                ev({ serial: serial++ }, key === null ? undefined : `k${key}`),
              );
              // Model: duplicates first (stored or earlier in the batch), then the version check.
              const seen = new Map<string, number>();
              type Planned =
                | "new"
                | { dedupKey: string; position: number }
                | { dedupKey: string; earlier: number };
              const plan = batch.map((event, index): Planned => {
                const key = event.dedupKey;
                if (key === undefined) return "new";
                const stored = keys.get(key);
                if (stored !== undefined) return { dedupKey: key, position: stored };
                const earlier = seen.get(key);
                if (earlier !== undefined) return { dedupKey: key, earlier };
                seen.set(key, index);
                return "new";
              });
              const fresh = plan.filter((entry) => entry === "new").length;
              const matches =
                expectedVersion === "any" ||
                (expectedVersion === "no-stream" ? version === 0 : expectedVersion === version);
              const outcome = await store.append(stream, batch, { expectedVersion }).then(
                (result) => ({ ok: true as const, result }),
                (error: unknown) => ({ ok: false as const, error }),
              );
              if (!(fresh === 0 && batch.length > 0) && !matches) {
                expect(outcome.ok).toBe(false);
                if (!outcome.ok) {
                  expect(outcome.error).toBeInstanceOf(ConcurrencyError);
                  expect(outcome.error).toMatchObject({ stream, actual: version });
                }
                continue;
              }
              expect(outcome.ok).toBe(true);
              if (!outcome.ok) continue;
              const positionOfIndex: number[] = [];
              const expectedAppended: { position: number; streamVersion: number; data: unknown }[] = [];
              const expectedDuplicates: { index: number; dedupKey: string; position: number }[] = [];
              let nextVersion = version;
              plan.forEach((entry, index) => {
                const event = batch[index] as NewEvent;
                if (entry === "new") {
                  nextVersion += 1;
                  model.push({
                    stream,
                    streamVersion: nextVersion,
                    data: event.data,
                    dedupKey: event.dedupKey ?? null,
                  });
                  const position = model.length;
                  if (event.dedupKey !== undefined) keys.set(event.dedupKey, position);
                  positionOfIndex[index] = position;
                  expectedAppended.push({ position, streamVersion: nextVersion, data: event.data });
                } else {
                  const position =
                    "earlier" in entry ? (positionOfIndex[entry.earlier] ?? -1) : entry.position;
                  positionOfIndex[index] = position;
                  expectedDuplicates.push({ index, dedupKey: entry.dedupKey, position });
                }
              });
              expect(
                outcome.result.appended.map((event) => ({
                  position: event.position,
                  streamVersion: event.streamVersion,
                  data: event.data,
                })),
              ).toEqual(expectedAppended);
              expect(outcome.result.duplicates).toEqual(expectedDuplicates);
            }
            const stored = await store.read();
            expect(
              stored.map((event) => ({
                stream: event.stream,
                streamVersion: event.streamVersion,
                data: event.data,
                dedupKey: event.dedupKey,
              })),
            ).toEqual(model);
            expect(positions(stored)).toEqual(range(1, model.length));
            expect(await store.head()).toBe(model.length);
          } finally {
            await fixture.cleanup();
          }
        }),
        { numRuns: capabilities.propertyRuns ?? 25 },
      );
    });

    if (capabilities.sharedStorage) {
      describe("several handles on the same storage", () => {
        const crossTimeout = capabilities.crossHandleTimeoutMs ?? 5_000;

        it("share events, dedup keys and expected versions", () =>
          withStore(async (first, fixture) => {
            if (fixture.openAnother === undefined) throw new Error("the fixture must provide openAnother");
            const second = await fixture.openAnother();
            await first.append("s", [ev(1)]);
            expect(await second.head()).toBe(1);
            const attempts = await Promise.all(
              range(1, 10).flatMap((n) => [
                first.append(`a-${n}`, [ev({ n, via: "first" }, "both")]),
                second.append(`b-${n}`, [ev({ n, via: "second" }, "both")]),
              ]),
            );
            expect(attempts.filter((result) => result.appended.length === 1)).toHaveLength(1);
            expect((await first.read()).filter((event) => event.dedupKey === "both")).toHaveLength(1);
            const race = await Promise.allSettled([
              first.append("versioned", [ev("first")], { expectedVersion: "no-stream" }),
              second.append("versioned", [ev("second")], { expectedVersion: "no-stream" }),
            ]);
            expect(race.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
            const loser = race.find((outcome) => outcome.status === "rejected");
            expect(loser?.status === "rejected" ? loser.reason : undefined).toBeInstanceOf(ConcurrencyError);
            expect(await second.read()).toEqual(await first.read());
          }));

        it("a subscription on one handle receives the appends made through another", () =>
          withStore(async (first, fixture) => {
            if (fixture.openAnother === undefined) throw new Error("the fixture must provide openAnother");
            const second = await fixture.openAnother();
            await first.append("s", [ev(1)]);
            const recorder = record(second.subscribe(0));
            const writes = range(2, 41).map((n) => first.append(`s-${n % 3}`, [ev(n)]));
            await Promise.all(writes);
            await waitUntil(() => recorder.events.length >= 41, "the other handle's appends", crossTimeout);
            recorder.subscription.unsubscribe();
            expect(recorder.events).toEqual(await first.read());
          }));
      });
    }
  });
}
