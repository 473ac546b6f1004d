import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type StoredEvent, StoreUnavailableError } from "../../src/events/store.js";
import {
  openStore,
  PostgresEventStore,
  type PostgresEventStoreOptions,
} from "../../src/events/stores/index.js";
import { namesOf } from "../../src/events/stores/postgres/schema.js";
import {
  assertDatabaseReachable,
  databaseUrl,
  dropSchemas,
  rawClient,
  uniqueSchema,
  urlWithSchema,
} from "../support/pg-fixture.js";
import { describeStoreContract, ev, realDelay, record, waitUntil } from "../support/store-contract.js";
import { describeProcessContract } from "../support/store-process-contract.js";
import { assertStoreBuilt, startChild, within } from "../support/store-processes.js";

const schemas: string[] = [];
const stores: PostgresEventStore[] = [];

function newSchema(label?: string): string {
  const schema = uniqueSchema(label);
  schemas.push(schema);
  return schema;
}

async function open(schema: string, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
  const store = await PostgresEventStore.open(databaseUrl, { schema, ...options });
  stores.push(store);
  return store;
}

beforeAll(() => assertDatabaseReachable());

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close().catch(() => undefined)));
  await dropSchemas(schemas);
});

describeStoreContract(
  "PostgresEventStore",
  async () => {
    const schema = uniqueSchema("c");
    const handles: PostgresEventStore[] = [];
    const openHandle = async (): Promise<PostgresEventStore> => {
      const handle = await PostgresEventStore.open(databaseUrl, { schema, pollIntervalMs: 200 });
      handles.push(handle);
      return handle;
    };
    const store = await openHandle();
    return {
      store,
      openAnother: openHandle,
      corruptSnapshot: async (name) => {
        const raw = await rawClient();
        try {
          await raw.query(`UPDATE "${schema}".snapshots SET data = '{not json' WHERE name = $1`, [name]);
        } finally {
          await raw.end();
        }
      },
      cleanup: async () => {
        for (const handle of handles) await handle.close();
        await dropSchemas([schema]);
      },
    };
  },
  {
    sharedStorage: true,
    crossHandleTimeoutMs: 5_000,
    propertyRuns: 15,
    transactions: (store) => (store as PostgresEventStore).diagnostics().transactions,
  },
);

function positionsOf(events: readonly StoredEvent[]): number[] {
  return events.map((event) => event.position);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
}

describe("PostgresEventStore", () => {
  describe("schema and connection", () => {
    it("creates its schema, tables and version row, and reopens with everything in place", async () => {
      const schema = newSchema();
      const first = await open(schema);
      const written = [
        ...(await first.append("a", [ev({ text: "é ✓" }, "k1"), ev([1, 2])])).appended,
        ...(await first.append("b", [ev(null)])).appended,
      ];
      await first.setCheckpoint("consumer", 2);
      await first.close();

      const raw = await rawClient();
      try {
        const tables = await raw.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
          [schema],
        );
        expect(tables.rows.map((row) => row.table_name)).toEqual([
          "checkpoints",
          "events",
          "head",
          "schema_version",
          "snapshots",
          "stream_heads",
          "tags",
        ]);
        const version = await raw.query(`SELECT version FROM "${schema}".schema_version`);
        expect(version.rows).toEqual([{ version: 3 }]);
        const data = await raw.query(`SELECT data::text AS data FROM "${schema}".events ORDER BY position`);
        expect(data.rows.map((row: { data: string }) => row.data)).toEqual([
          '{"text":"é ✓"}',
          "[1,2]",
          "null",
        ]);
      } finally {
        await raw.end();
      }

      const second = await open(schema);
      expect(await second.read()).toEqual(written);
      expect(await second.getCheckpoint("consumer")).toBe(2);
      const more = await second.append("a", [ev("again", "k1"), ev("new")]);
      expect(more.duplicates).toEqual([{ index: 0, dedupKey: "k1", position: 1 }]);
      expect(more.appended.map((event) => [event.position, event.streamVersion])).toEqual([[4, 3]]);
      await second.close();
    });

    it("migrates a version-1 schema in place: its events, head and checkpoints stay, tags and snapshots work", async () => {
      const schema = newSchema();
      const raw = await rawClient();
      try {
        // Version 1, as fullenrich-rx 0.1 created it.
        await raw.query(`
          CREATE SCHEMA "${schema}";
          CREATE TABLE "${schema}".schema_version (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL);
          INSERT INTO "${schema}".schema_version VALUES (true, 1);
          CREATE TABLE "${schema}".events (
            position bigint PRIMARY KEY, stream text NOT NULL, stream_version bigint NOT NULL,
            type text NOT NULL, version bigint NOT NULL, data json NOT NULL, dedup_key text UNIQUE,
            recorded_at text NOT NULL, UNIQUE (stream, stream_version));
          CREATE TABLE "${schema}".head (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), position bigint NOT NULL);
          CREATE TABLE "${schema}".checkpoints (name text PRIMARY KEY, position bigint NOT NULL);
          INSERT INTO "${schema}".events VALUES
            (1, 'job-1', 1, 't', 1, '{"n":1}', 'k1', '2024-01-01T00:00:00.000Z'),
            (2, 'job-2', 1, 't', 1, '{"n":2}', NULL, '2024-01-01T00:00:00.000Z'),
            (3, 'job-1', 2, 't', 1, '{"n":3}', NULL, '2024-01-01T00:00:00.000Z');
          INSERT INTO "${schema}".head VALUES (true, 3);
          INSERT INTO "${schema}".checkpoints VALUES ('reconciler', 2);`);
      } finally {
        await raw.end();
      }
      const store = await open(schema);
      expect((await store.read()).map((event) => [event.position, event.stream, event.data])).toEqual([
        [1, "job-1", { n: 1 }],
        [2, "job-2", { n: 2 }],
        [3, "job-1", { n: 3 }],
      ]);
      expect(await store.getCheckpoint("reconciler")).toBe(2);
      expect((await store.findByDedupKey("k1"))?.position).toBe(1);
      await store.addTags([
        { position: 1, tags: ["job:1"] },
        { position: 3, tags: ["job:1"] },
      ]);
      const more = await store.append("job-1", [{ type: "t", version: 1, data: { n: 4 }, tags: ["job:1"] }]);
      expect(more.appended.map((event) => [event.position, event.streamVersion])).toEqual([[4, 3]]);
      expect(positionsOf(await store.readByTags(["job:1"]))).toEqual([1, 3, 4]);
      await store.saveSnapshot("projection", { position: 4, version: 1, data: { open: [] } });
      await store.close();
      const check = await rawClient();
      try {
        const version = await check.query(`SELECT version FROM "${schema}".schema_version`);
        expect(version.rows).toEqual([{ version: 3 }]);
        const data = await check.query(
          `SELECT data::text AS data FROM "${schema}".events WHERE position = 1`,
        );
        expect(data.rows).toEqual([{ data: '{"n":1}' }]);
      } finally {
        await check.end();
      }
      const reopened = await open(schema);
      expect(await reopened.loadSnapshot("projection")).toEqual({
        position: 4,
        version: 1,
        data: { open: [] },
      });
      await reopened.close();
    });

    it("lets many handles open a new schema at once (the advisory lock serialises the migration)", async () => {
      const schema = newSchema();
      const handles = await Promise.all(range(1, 6).map(() => open(schema)));
      await Promise.all(handles.map((handle, i) => handle.append(`h${i}`, [ev(i)])));
      expect(await handles[0]?.head()).toBe(6);
      await Promise.all(handles.map((handle) => handle.close()));
    });

    it("takes the schema from the URL's ?schema= parameter, and is what openStore opens for postgres:// URLs", async () => {
      const schema = newSchema();
      const store = await openStore(urlWithSchema(schema));
      expect(store).toBeInstanceOf(PostgresEventStore);
      await store.append("s", [ev(1)]);
      expect((store as PostgresEventStore).diagnostics()).toMatchObject({ schema, transactions: 1 });
      await store.close();
      const raw = await rawClient();
      try {
        const count = await raw.query(`SELECT count(*)::int AS n FROM "${schema}".events`);
        expect(count.rows).toEqual([{ n: 1 }]);
      } finally {
        await raw.end();
      }
    });

    it("rejects a schema written by a newer version", async () => {
      const schema = newSchema();
      await (await open(schema)).close();
      const raw = await rawClient();
      await raw.query(`UPDATE "${schema}".schema_version SET version = 99`);
      await raw.end();
      const error = await PostgresEventStore.open(databaseUrl, { schema }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(String(error)).toMatch(/schema version 99.*Upgrade fullenrich-rx/);
    });

    it("never shows the password of the URL in its errors", async () => {
      const refused = await openStore("postgres://someone:s3cr3t-pw@127.0.0.1:1/test").catch(
        (caught: unknown) => caught,
      );
      expect(refused).toBeInstanceOf(StoreUnavailableError);
      expect(String(refused)).toMatch(/cannot reach.*postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/test/);
      expect(String(refused)).not.toContain("s3cr3t-pw");

      const url = new URL(databaseUrl);
      url.password = "s3cr3t-pw";
      url.pathname = "/fullenrich_rx_no_such_database";
      const missing = await openStore(url.toString()).catch((caught: unknown) => caught);
      expect(missing).toBeInstanceOf(StoreUnavailableError);
      expect(String(missing)).toMatch(/database .* does not exist|refused the credentials/);
      expect(String(missing)).not.toContain("s3cr3t-pw");
      expect(JSON.stringify(missing)).not.toContain("s3cr3t-pw");

      await expect(PostgresEventStore.open("mysql://x:s3cr3t-pw@h/db")).rejects.toThrow(RangeError);
      await expect(PostgresEventStore.open(databaseUrl, { schema: "bad-name;" })).rejects.toThrow(RangeError);
    });

    it("keeps an event's dataJson text exactly, in a json column operators can query", async () => {
      const schema = newSchema();
      const store = await open(schema);
      const { appended } = await store.append("s", [
        { type: "t", version: 1, data: { a: -0, b: 15 }, dataJson: ' {"a" : -0, "b":1.50e1} ' },
        { type: "t", version: 1, data: { c: "x" } },
      ]);
      expect(appended[0]?.data).toStrictEqual({ a: -0, b: 15 });
      const [first, second] = await store.read();
      expect(first?.data).toStrictEqual({ a: -0, b: 15 });
      expect(second?.data).toEqual({ c: "x" });
      const raw = await rawClient();
      try {
        const rows = await raw.query(
          `SELECT data::text AS text, data->>'c' AS c FROM "${schema}".events ORDER BY position`,
        );
        expect(rows.rows).toEqual([
          { text: ' {"a" : -0, "b":1.50e1} ', c: null },
          { text: '{"c":"x"}', c: "x" },
        ]);
      } finally {
        await raw.end();
      }
      await store.close();
    });

    it("refuses NUL characters (PostgreSQL text cannot hold them) as invalid input", async () => {
      const store = await open(newSchema());
      await expect(store.append("a\0b", [ev(1)])).rejects.toThrow(TypeError);
      await expect(store.append("s", [{ type: "t\0", version: 1, data: 1 }])).rejects.toThrow(TypeError);
      await expect(store.append("s", [ev(1, "k\0")])).rejects.toThrow(TypeError);
      await expect(store.setCheckpoint("c\0", 1)).rejects.toThrow(TypeError);
      await expect(store.append("s", [{ type: "t", version: 1, data: 1, tags: ["job:\0"] }])).rejects.toThrow(
        /events\[0\]\.tags must not contain NUL characters/,
      );
      await expect(store.addTags([{ position: 1, tags: ["a\0"] }])).rejects.toThrow(TypeError);
      await expect(store.saveSnapshot("p\0", { position: 0, version: 1, data: {} })).rejects.toThrow(
        TypeError,
      );
      expect(await store.readByTags(["job:\0"])).toEqual([]);
      expect(await store.loadSnapshot("p\0")).toBeNull();
      expect(await store.readStream("a\0b")).toEqual([]);
      expect(await store.findByDedupKey("k\0")).toBeUndefined();
      // NUL inside the JSON data is fine: JSON.stringify escapes it.
      const { appended } = await store.append("s", [ev({ text: "a\0b" })]);
      expect((await store.read())[0]).toEqual(appended[0]);
      expect(await store.head()).toBe(1);
      await store.close();
    });
  });

  describe("group commit", () => {
    it("commits appends issued together in few transactions, each visible once its promise resolves", async () => {
      const store = await open(newSchema());
      const observer = await rawClient();
      try {
        const names = store.diagnostics();
        let visibleOnResolve = 0;
        const results = await Promise.all(
          range(1, 200).map((n) =>
            store.append(`s-${n % 7}`, [ev(n), ev(-n)]).then(async (result) => {
              const first = result.appended[0]?.position ?? 0;
              const last = result.appended[1]?.position ?? 0;
              const seen = await observer.query(
                `SELECT count(*)::int AS n FROM "${names.schema}".events WHERE position BETWEEN $1 AND $2`,
                [first, last],
              );
              if (seen.rows[0]?.n === 2) visibleOnResolve += 1;
              return result;
            }),
          ),
        );
        expect(visibleOnResolve).toBe(200);
        const transactions = store.diagnostics().transactions - names.transactions;
        expect(transactions).toBeGreaterThanOrEqual(1);
        expect(transactions).toBeLessThanOrEqual(5);
        expect(positionsOf(await store.read())).toEqual(range(1, 400));
        expect(await store.read()).toEqual(results.flatMap((result) => result.appended));
      } finally {
        await observer.end();
        await store.close();
      }
    });

    it("retries a failing group one append per transaction, so one bad append fails alone (its positions left unused)", async () => {
      const store = await open(newSchema());
      await store.append("s", [ev(0)]);
      const before = store.diagnostics().transactions;
      // A dedup key too large for a btree index entry (~2.7 kB): PostgreSQL refuses that row, which
      // aborts the group's transaction; alone, the other appends of the group commit.
      const hugeKey = randomBytes(4_000).toString("base64");
      const [first, bad, last] = await Promise.allSettled([
        store.append("a", [ev(1)]),
        store.append("b", [ev(2, hugeKey)]),
        store.append("c", [ev(3), ev(4)]),
      ]);
      expect(bad.status === "rejected" && bad.reason).toBeInstanceOf(StoreUnavailableError);
      expect(bad.status === "rejected" && String(bad.reason)).toMatch(/failed to write.*index row size/);
      // The failed group's positions are not reused: the retries take new ones, in order.
      const firstPositions = first.status === "fulfilled" ? positionsOf(first.value.appended) : [];
      const lastPositions = last.status === "fulfilled" ? positionsOf(last.value.appended) : [];
      expect(firstPositions).toHaveLength(1);
      expect(lastPositions).toHaveLength(2);
      expect((firstPositions[0] ?? 0) > 1).toBe(true);
      expect(lastPositions[0]).toBeGreaterThan(firstPositions[0] ?? 0);
      expect(lastPositions[1]).toBe((lastPositions[0] ?? 0) + 1);
      expect(store.diagnostics().transactions - before).toBe(2);
      const stored = await store.read();
      expect(stored.map((event) => event.data)).toEqual([0, 1, 3, 4]);
      expect(positionsOf(stored)).toEqual([1, ...firstPositions, ...lastPositions]);
      await store.close();
    });

    it("reports the positions lock held past lockTimeoutMs, and recovers once it is released", async () => {
      const schema = newSchema();
      const store = await open(schema, { lockTimeoutMs: 200 });
      const [key1, key2] = namesOf(schema).positionsLock;
      const locker = await rawClient();
      try {
        // The short section in which appends take their positions, held by a stuck session.
        await locker.query("SELECT pg_advisory_lock($1, $2)", [key1, key2]);
        const error = await store.append("s", [ev(1)]).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(String(error)).toMatch(/is locked.*raise lockTimeoutMs/);
        // A group meeting the lock fails as a whole, once: not retried append by append.
        const before = Date.now();
        const group = await Promise.allSettled([1, 2, 3, 4].map((n) => store.append(`s-${n}`, [ev(n)])));
        expect(group.every((outcome) => outcome.status === "rejected")).toBe(true);
        expect(Date.now() - before).toBeLessThan(4 * 200);
        expect(await store.head()).toBe(0);
        // Checkpoints alone take no position: not held up.
        await store.setCheckpoint("c", 1);
        await locker.query("SELECT pg_advisory_unlock($1, $2)", [key1, key2]);
        expect((await store.append("s", [ev(1)])).appended).toHaveLength(1);
        expect(await store.getCheckpoint("c")).toBe(1);
      } finally {
        await locker.end();
        await store.close();
      }
    });
  });

  describe("several writers without a global lock", () => {
    beforeAll(() => assertStoreBuilt());

    /** Advisory lock keys of the test device below (no store uses them). */
    const HOLD = [424_242, 7] as const;

    /**
     * A test device: a trigger that makes an append of an event of type `slow` wait, inside its
     * transaction (its row inserted, its positions taken), until the session `holder` releases its lock. The
     * holder takes a session advisory lock, which gives it no transaction id: it does not hold the
     * transaction horizon back itself.
     */
    async function slowAppends(schema: string): Promise<{ holder: pg.Client; release: () => Promise<void> }> {
      const holder = await rawClient();
      await holder.query(`
        CREATE FUNCTION "${schema}".hold_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock_shared(${HOLD[0]}, ${HOLD[1]}); RETURN NEW; END $$;
        CREATE TRIGGER hold_slow AFTER INSERT ON "${schema}".events
          FOR EACH ROW WHEN (NEW.type = 'slow') EXECUTE FUNCTION "${schema}".hold_slow();`);
      await holder.query("SELECT pg_advisory_lock($1, $2)", [...HOLD]);
      let released = false;
      const release = async (): Promise<void> => {
        if (released) return;
        released = true;
        await holder.query("SELECT pg_advisory_unlock($1, $2)", [...HOLD]);
      };
      return { holder, release };
    }

    /** Resolves once a backend waits for the holder's lock (an append blocked inside its transaction). */
    async function blockedBehind(holder: pg.Client): Promise<number> {
      const pid = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
      const observer = await rawClient();
      try {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const { rows } = await observer.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            [pid],
          );
          if (rows[0] !== undefined) return rows[0].pid;
          if (Date.now() > deadline) throw new Error("no append ever waited for the holder");
          await realDelay(5);
        }
      } finally {
        await observer.end();
      }
    }

    /**
     * Appender A takes position 3 and stays in its transaction; appender B then appends and
     * commits (without waiting for A: there is no global write lock), at position 4. No reader may
     * see 4 before 3: nothing past 2 is readable while A runs. Once A commits, subscribers get 3,
     * then 4; if A rolls back, 3 stays a gap, subscribers get 4, and no later append reuses 3.
     */
    async function lateCommit(outcome: "commit" | "rollback"): Promise<void> {
      const schema = newSchema();
      const writerA = await open(schema);
      const writerB = await open(schema);
      const reader = await open(schema, { pollIntervalMs: 20 });
      await writerB.append("before", [ev(1), ev(2)]);
      const remote = record(reader.subscribe(0));
      const local = record(writerB.subscribe(0));
      await waitUntil(() => remote.events.length === 2 && local.events.length === 2, "the first two events");
      const { holder, release } = await slowAppends(schema);
      try {
        const a = writerA.append("late", [ev("A", undefined, "slow")]).then(
          (result) => ({ ok: true as const, result }),
          (error: unknown) => ({ ok: false as const, error }),
        );
        const aPid = await blockedBehind(holder);
        const b = await writerB.append("early", [ev("B")]);
        expect(positionsOf(b.appended)).toEqual([4]);
        // B is committed, but A (position 3) is still running: 4 is not readable, by anyone.
        expect(await reader.read({ after: 2 })).toEqual([]);
        expect(await reader.head()).toBe(2);
        expect(await writerB.read({ after: 2 })).toEqual([]);
        await realDelay(50);
        expect(positionsOf(remote.events)).toEqual([1, 2]);
        expect(positionsOf(local.events)).toEqual([1, 2]);

        if (outcome === "rollback") {
          const admin = await rawClient();
          await admin.query("SELECT pg_cancel_backend($1)", [aPid]);
          await admin.end();
        }
        await release();
        const settled = await a;
        expect(settled.ok).toBe(outcome === "commit");
        if (settled.ok) expect(positionsOf(settled.result.appended)).toEqual([3]);
        const expected = outcome === "commit" ? [3, 4] : [4];
        for (const recorder of [remote, local]) {
          await waitUntil(() => recorder.events.length === 2 + expected.length, "the late events");
          expect(positionsOf(recorder.events)).toEqual([1, 2, ...expected]);
        }
        expect(remote.events.slice(2).map((event) => event.data)).toEqual(
          outcome === "commit" ? ["A", "B"] : ["B"],
        );
        expect(await reader.read()).toEqual(remote.events);
        // Positions are never reused: the next append goes after 4, even after a rollback left 3 unused.
        expect(positionsOf((await writerA.append("after", [ev("C")])).appended)).toEqual([5]);
        await waitUntil(() => remote.events.length === 3 + expected.length, "the next event");
        remote.subscription.unsubscribe();
        local.subscription.unsubscribe();
      } finally {
        await release();
        await holder.end();
      }
    }

    it("a subscriber delivers an event that commits late before the one committed meanwhile", () =>
      lateCommit("commit"));

    it("a rolled-back append leaves its position unused: readers pass the gap, no one reuses it", () =>
      lateCommit("rollback"));

    it("across processes: a tailing reader never skips an append that commits after a later one", async () => {
      const schema = newSchema();
      const location = urlWithSchema(schema);
      const reader = await open(schema, { pollIntervalMs: 20 });
      await reader.append("before", [ev(1)]);
      const live = record(reader.subscribe(0));
      const { holder, release } = await slowAppends(schema);
      try {
        // Process A takes position 2 and waits inside its transaction; process B appends after it.
        const a = startChild(["append-one", location, "late", "slow", "A"]);
        await blockedBehind(holder);
        const b = startChild(["append-one", location, "early", "test.happened", "B"]);
        expect(await within(b.exited, 10_000, "process B")).toBe(0);
        expect(b.lines).toEqual(["ack 3"]);
        await realDelay(100);
        expect(positionsOf(live.events)).toEqual([1]);
        expect(await reader.read({ after: 1 })).toEqual([]);
        await release();
        expect(await within(a.exited, 10_000, "process A")).toBe(0);
        expect(a.lines).toEqual(["ack 2"]);
        await waitUntil(() => live.events.length === 3, "the late commit and the one after it");
        expect(live.events.map((event) => [event.position, event.data])).toEqual([
          [1, 1],
          [2, { label: "A" }],
          [3, { label: "B" }],
        ]);

        // A process killed inside its transaction: its position stays a gap, the others are read.
        await holder.query("SELECT pg_advisory_lock($1, $2)", [...HOLD]);
        const killed = startChild(["append-one", location, "late", "slow", "killed"]);
        await blockedBehind(holder);
        const after = startChild(["append-one", location, "early", "test.happened", "after"]);
        expect(await within(after.exited, 10_000, "the process after")).toBe(0);
        expect(after.lines).toEqual(["ack 5"]);
        killed.process.kill("SIGKILL");
        expect(await killed.exited).toBe("SIGKILL");
        // Its server session ends once the lock lets its statement go on.
        await holder.query("SELECT pg_advisory_unlock($1, $2)", [...HOLD]);
        await waitUntil(() => live.events.length === 4, "the event after the killed append");
        expect(positionsOf(live.events)).toEqual([1, 2, 3, 5]);
        live.subscription.unsubscribe();
        expect(positionsOf(await reader.read())).toEqual([1, 2, 3, 5]);
      } finally {
        await release();
        await holder.end();
      }
    });

    it("a dedup key appended by two writers at once ends as a duplicate with the stored position", async () => {
      const schema = newSchema();
      const first = await open(schema);
      const second = await open(schema);
      const { holder, release } = await slowAppends(schema);
      try {
        const slow = first.append("one", [ev("first", "shared-key", "slow")]);
        await blockedBehind(holder);
        // The second writer's insert of the same key waits for the first transaction, then plans again.
        const racing = second.append("two", [ev("second", "shared-key"), ev("own", "own-key")]);
        await realDelay(50);
        await release();
        const [won, lost] = await Promise.all([slow, racing]);
        const stored = won.appended[0]?.position ?? 0;
        expect(won.appended.map((event) => event.data)).toEqual(["first"]);
        expect(lost.duplicates).toEqual([{ index: 0, dedupKey: "shared-key", position: stored }]);
        // Planned again after the conflict: the rest of the batch is appended. (The versions the
        // first attempt took on stream "two" are not reused: a retried append to a stream several
        // writers share may skip versions, see StoredEvent.streamVersion.)
        expect(lost.appended.map((event) => [event.data, event.stream])).toEqual([["own", "two"]]);
        expect(lost.appended[0]?.streamVersion).toBeGreaterThanOrEqual(1);
        expect((await second.read()).filter((event) => event.dedupKey === "shared-key")).toHaveLength(1);
      } finally {
        await release();
        await holder.end();
      }
    });

    it("appends to one stream from several writers at once take distinct, contiguous stream versions", async () => {
      const schema = newSchema();
      const writers = await Promise.all(range(1, 3).map(() => open(schema)));
      await Promise.all(
        writers.flatMap((writer, w) =>
          range(1, 40).map((n) => writer.append("deliveries", [ev({ w, n }, `d-${w}-${n}`)])),
        ),
      );
      const stream = await writers[0]?.readStream("deliveries");
      expect(stream?.map((event) => event.streamVersion)).toEqual(range(1, 120));
      const positions = positionsOf(stream ?? []);
      expect(positions).toEqual([...positions].sort((x, y) => x - y));
      expect(await writers[0]?.read()).toEqual(stream);
    });
  });

  describe("live tail", () => {
    it("follows another handle's commits through NOTIFY, without waiting for the poll", async () => {
      const schema = newSchema();
      const writer = await open(schema);
      const reader = await open(schema, { pollIntervalMs: 60_000 });
      const live = record(reader.subscribe(0));
      await waitUntil(() => reader.diagnostics().listening, "LISTEN");
      for (let n = 1; n <= 20; n += 1) await writer.append(`s-${n % 3}`, [ev(n)]);
      await waitUntil(() => live.events.length === 20, "20 notified events", 5_000);
      expect(positionsOf(live.events)).toEqual(range(1, 20));
      expect(reader.diagnostics().notifications).toBeGreaterThan(0);
      live.subscription.unsubscribe();
    });

    it("keeps its LISTEN connection and poll timer only while someone subscribes", async () => {
      const store = await open(newSchema(), { pollIntervalMs: 50 });
      expect(store.diagnostics().listening).toBe(false);
      vi.useFakeTimers();
      try {
        expect(vi.getTimerCount()).toBe(0);
        const first = record(store.subscribe(0));
        const second = record(store.subscribe(0));
        // The poll timer, and the LISTEN connection's connect timeout.
        const during = vi.getTimerCount();
        expect(during).toBeGreaterThanOrEqual(1);
        first.subscription.unsubscribe();
        expect(vi.getTimerCount()).toBe(during);
        second.subscription.unsubscribe();
        expect(vi.getTimerCount()).toBe(during - 1);
      } finally {
        vi.useRealTimers();
      }
      await waitUntil(() => !store.diagnostics().listening, "the LISTEN connection to close");
      expect(store.diagnostics().subscriptions).toBe(0);
      const again = record(store.subscribe(0));
      await waitUntil(() => store.diagnostics().listening, "LISTEN again");
      again.subscription.unsubscribe();
    });

    it("retries a subscription's read when its connection is killed, instead of failing the subscription", async () => {
      const schema = newSchema();
      const warnings: string[] = [];
      const logger = {
        debug: () => {},
        info: () => {},
        warn: (message: string) => void warnings.push(message),
        error: () => {},
      };
      const writer = await open(schema);
      const reader = await open(schema, { pollIntervalMs: 60_000, logger });
      await writer.append("s", [ev(1), ev(2)]);
      const live = record(reader.subscribe(0));
      await waitUntil(() => live.events.length === 2 && reader.diagnostics().listening, "the catch-up");
      const locker = await rawClient();
      const admin = await rawClient();
      try {
        const lockerPid = (await locker.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]
          ?.pid;
        await locker.query("BEGIN");
        await locker.query(`LOCK TABLE "${schema}".events IN ACCESS EXCLUSIVE MODE`);
        // Wake the reader: its next page read blocks behind the lock.
        await admin.query("SELECT pg_notify($1, '99')", [reader.diagnostics().channel]);
        const blockedReader = async (): Promise<number | undefined> => {
          const deadline = Date.now() + 10_000;
          for (;;) {
            const { rows } = await admin.query<{ pid: number }>(
              "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
              [lockerPid],
            );
            if (rows[0] !== undefined) return rows[0].pid;
            if (Date.now() > deadline) return undefined;
            await realDelay(5);
          }
        };
        const first = await blockedReader();
        expect(first).toBeDefined();
        await admin.query("SELECT pg_terminate_backend($1)", [first]);
        // The read is retried on a new connection, which blocks again behind the lock.
        const second = await blockedReader();
        expect(second).toBeDefined();
        expect(second).not.toBe(first);
        await locker.query("ROLLBACK");
      } finally {
        await locker.query("ROLLBACK").catch(() => undefined);
        await locker.end();
        await admin.end();
      }
      await writer.append("s", [ev(3)]);
      await waitUntil(() => live.events.length === 3, "the next event");
      expect(live.error).toBeUndefined();
      expect(positionsOf(live.events)).toEqual([1, 2, 3]);
      expect(warnings).toContain("event store read failed; retrying");
      live.subscription.unsubscribe();
    });

    it("catches up by polling when its LISTEN connection is killed, then listens again", async () => {
      const schema = newSchema();
      const writer = await open(schema);
      const reader = await open(schema, { pollIntervalMs: 50 });
      const live = record(reader.subscribe(0));
      await waitUntil(() => reader.diagnostics().listening, "LISTEN");
      const admin = await rawClient();
      try {
        const killed = await admin.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
           WHERE query LIKE 'LISTEN "fullenrich_rx:${schema}"%' AND pid <> pg_backend_pid()`,
        );
        expect(killed.rows[0]?.n).toBe(1);
      } finally {
        await admin.end();
      }
      await writer.append("s", [ev(1), ev(2)]);
      await waitUntil(() => live.events.length === 2, "the events, by polling");
      await waitUntil(() => reader.diagnostics().listening, "LISTEN again");
      await writer.append("s", [ev(3)]);
      await waitUntil(() => live.events.length === 3, "the next event");
      expect(positionsOf(live.events)).toEqual([1, 2, 3]);
      expect(live.error).toBeUndefined();
      live.subscription.unsubscribe();
    });
  });

  describeProcessContract({
    gaplessPositions: false,
    location: async () => urlWithSchema(newSchema()),
    // Without polling for the tail: it must hear the other process through LISTEN/NOTIFY.
    open: (location, options) =>
      PostgresEventStore.open(
        location,
        options?.tail ? { pollIntervalMs: 60_000 } : { lockTimeoutMs: 5_000 },
      ),
    writerPauseMs: 1,
    timeoutMs: 15_000,
  });
});
