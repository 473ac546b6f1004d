import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type StoredEvent, StoreUnavailableError } from "../../src/events/store.js";
import {
  openStore,
  PostgresEventStore,
  type PostgresEventStoreOptions,
} from "../../src/events/stores/index.js";
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
          "tags",
        ]);
        const version = await raw.query(`SELECT version FROM "${schema}".schema_version`);
        expect(version.rows).toEqual([{ version: 2 }]);
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
        expect(version.rows).toEqual([{ version: 2 }]);
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

    it("retries a failing group one append per transaction, so one bad append fails alone", async () => {
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
      expect(first.status === "fulfilled" && positionsOf(first.value.appended)).toEqual([2]);
      expect(last.status === "fulfilled" && positionsOf(last.value.appended)).toEqual([3, 4]);
      expect(store.diagnostics().transactions - before).toBe(2);
      expect((await store.read()).map((event) => event.data)).toEqual([0, 1, 3, 4]);
      await store.close();
    });

    it("reports a write lock held past lockTimeoutMs, and recovers once it is released", async () => {
      const schema = newSchema();
      const store = await open(schema, { lockTimeoutMs: 200 });
      const locker = await rawClient();
      try {
        await locker.query("BEGIN");
        await locker.query(`SELECT position FROM "${schema}".head FOR UPDATE`);
        const error = await store.append("s", [ev(1)]).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(String(error)).toMatch(/is locked.*raise lockTimeoutMs/);
        // A group meeting the lock fails as a whole, once: not retried append by append.
        const before = Date.now();
        const group = await Promise.allSettled([1, 2, 3, 4].map((n) => store.append(`s-${n}`, [ev(n)])));
        expect(group.every((outcome) => outcome.status === "rejected")).toBe(true);
        expect(Date.now() - before).toBeLessThan(4 * 200);
        expect(await store.head()).toBe(0);
        await locker.query("ROLLBACK");
        expect(positionsOf((await store.append("s", [ev(1)])).appended)).toEqual([1]);
      } finally {
        await locker.query("ROLLBACK").catch(() => undefined);
        await locker.end();
        await store.close();
      }
    });
  });

  describe("late commits", () => {
    /**
     * Transaction A (a raw connection doing what an append does) takes position 3 and stays open;
     * appender B then wants the next position. A subscriber must never get B's event before A's:
     * with the write lock B waits for A (checked through pg_blocking_pids, not by sleeping), and
     * nothing past 2 is readable meanwhile. Once A commits, B takes 4 and the subscribers get 3,
     * then 4; if A rolls back, B takes 3 and no gap is left.
     */
    async function lateCommit(outcome: "COMMIT" | "ROLLBACK"): Promise<void> {
      const schema = newSchema();
      const writer = await open(schema);
      const reader = await open(schema, { pollIntervalMs: 20 });
      await writer.append("before", [ev(1), ev(2)]);
      const remote = record(reader.subscribe(0));
      const local = record(writer.subscribe(0));
      await waitUntil(() => remote.events.length === 2 && local.events.length === 2, "the first two events");

      const a = await rawClient();
      const observer = await rawClient();
      try {
        const pid = (await a.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
        await a.query("BEGIN");
        await a.query(`SELECT position FROM "${schema}".head FOR UPDATE`);
        await a.query(
          `INSERT INTO "${schema}".events (position, stream, stream_version, type, version, data, recorded_at)
           VALUES (3, 'late', 1, 'test.happened', 1, '"A"', '2024-01-01T00:00:00.000Z')`,
        );
        await a.query(`UPDATE "${schema}".head SET position = 3`);

        let bSettled = false;
        const b = writer.append("early", [ev("B")]).finally(() => {
          bSettled = true;
        });
        let waiting = 0;
        const deadline = Date.now() + 10_000;
        while (waiting === 0) {
          if (Date.now() > deadline) throw new Error("B never waited for A's lock");
          const result = await observer.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            [pid],
          );
          waiting = result.rows[0]?.n ?? 0;
        }
        // B is blocked behind A: nothing of either is readable, whoever asks.
        expect(bSettled).toBe(false);
        expect(await reader.read({ after: 2 })).toEqual([]);
        expect(await reader.head()).toBe(2);
        expect(await writer.read({ after: 2 })).toEqual([]);
        expect(positionsOf(remote.events)).toEqual([1, 2]);
        expect(positionsOf(local.events)).toEqual([1, 2]);

        await a.query(outcome);
        const { appended } = await b;
        const expected = outcome === "COMMIT" ? ["A", "B"] : ["B"];
        expect(positionsOf(appended)).toEqual([2 + expected.length]);
        for (const recorder of [remote, local]) {
          await waitUntil(() => recorder.events.length === 2 + expected.length, "the late events");
          recorder.subscription.unsubscribe();
          expect(positionsOf(recorder.events)).toEqual(range(1, 2 + expected.length));
          expect(recorder.events.slice(2).map((event) => event.data)).toEqual(expected);
        }
        expect(await reader.read()).toEqual(remote.events);
      } finally {
        await a.query("ROLLBACK").catch(() => undefined);
        await a.end();
        await observer.end();
      }
    }

    it("a subscriber delivers an event that commits late before the one waiting behind it", () =>
      lateCommit("COMMIT"));

    it("a rolled-back transaction leaves no gap: the next append takes its position", () =>
      lateCommit("ROLLBACK"));
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
