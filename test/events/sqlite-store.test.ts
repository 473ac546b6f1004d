import { existsSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ConcurrencyError, type StoredEvent, StoreUnavailableError } from "../../src/events/store.js";
import { openStore, SqliteEventStore } from "../../src/events/stores/index.js";
import { BY_TAGS_SQL } from "../../src/events/stores/sqlite/reads.js";
import type { WriterThread } from "../../src/events/stores/sqlite/writer-thread.js";
import { describeStoreContract, ev, record, waitUntil } from "../support/store-contract.js";
import { describeProcessContract } from "../support/store-process-contract.js";
import { assertStoreBuilt, startChild, within } from "../support/store-processes.js";

const directories: string[] = [];

async function tempDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "fullenrich-rx-store-"));
  directories.push(directory);
  return directory;
}

async function tempPath(): Promise<string> {
  return join(await tempDirectory(), "events.db");
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

describeStoreContract(
  "SqliteEventStore",
  async () => {
    const directory = await mkdtemp(join(tmpdir(), "fullenrich-rx-contract-"));
    const path = join(directory, "events.db");
    const handles: SqliteEventStore[] = [];
    const open = async (): Promise<SqliteEventStore> => {
      const handle = await SqliteEventStore.open(path, { pollIntervalMs: 20 });
      handles.push(handle);
      return handle;
    };
    const store = await open();
    return {
      store,
      openAnother: open,
      corruptSnapshot: async (name) => {
        const raw = rawConnection(path);
        try {
          raw.prepare("UPDATE snapshots SET data = '{not json' WHERE name = ?").run(name);
        } finally {
          raw.close();
        }
      },
      cleanup: async () => {
        for (const handle of handles) await handle.close();
        await rm(directory, { recursive: true, force: true });
      },
    };
  },
  { sharedStorage: true, transactions: (store) => (store as SqliteEventStore).diagnostics().transactions },
);

function rawConnection(path: string): Database.Database {
  return new Database(path, { fileMustExist: true });
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

function positionsOf(events: readonly StoredEvent[]): number[] {
  return events.map((event) => event.position);
}

describe("SqliteEventStore", () => {
  describe("file and schema", () => {
    it("creates the file, its missing parent directories and the schema", async () => {
      const path = join(await tempDirectory(), "a", "b", "c", "events.db");
      const store = await SqliteEventStore.open(path);
      await store.append("s", [ev(1, "k")]);
      await store.close();
      const raw = rawConnection(path);
      try {
        const tables = raw
          .prepare<[], { name: string; sql: string }>(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'",
          )
          .all();
        const sqlOf = (name: string): string => tables.find((table) => table.name === name)?.sql ?? "";
        expect(sqlOf("events")).toMatch(/position INTEGER PRIMARY KEY AUTOINCREMENT/);
        expect(sqlOf("events")).toMatch(/dedup_key TEXT UNIQUE/);
        expect(sqlOf("events")).toMatch(/UNIQUE \(stream, stream_version\)/);
        expect(sqlOf("checkpoints")).toMatch(/name TEXT PRIMARY KEY/);
        expect(sqlOf("tags")).toMatch(/PRIMARY KEY \(tag, position\)\s*\) WITHOUT ROWID/);
        expect(sqlOf("snapshots")).toMatch(/name TEXT PRIMARY KEY/);
        expect(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe("2");
        expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
        expect(raw.prepare("SELECT data FROM events").pluck().get()).toBe("1");
      } finally {
        raw.close();
      }
    });

    it("runs WAL with synchronous=FULL by default, NORMAL on request, and no autocheckpoint", async () => {
      const full = await SqliteEventStore.open(await tempPath());
      expect(full.diagnostics()).toMatchObject({
        journalMode: "wal",
        synchronous: 2,
        durability: "full",
        walAutocheckpoint: 0,
        busyTimeoutMs: 5000,
      });
      await full.close();
      const normal = await SqliteEventStore.open(await tempPath(), {
        durability: "normal",
        busyTimeoutMs: 250,
      });
      expect(normal.diagnostics()).toMatchObject({
        synchronous: 1,
        durability: "normal",
        busyTimeoutMs: 250,
      });
      await normal.close();
      const selfCheckpointing = await SqliteEventStore.open(await tempPath(), { checkpointIntervalMs: 0 });
      expect(selfCheckpointing.diagnostics().walAutocheckpoint).toBe(1000);
      await selfCheckpointing.close();
    });

    it("reopens a file and reads everything back, then continues its positions and versions", async () => {
      const path = await tempPath();
      const first = await SqliteEventStore.open(path);
      const written: StoredEvent[] = [];
      for (let batch = 0; batch < 50; batch += 1) {
        const events = Array.from({ length: 20 }, (_, i) =>
          ev({ batch, i, text: `é${i}` }, `k-${batch}-${i}`),
        );
        written.push(...(await first.append(`stream-${batch % 7}`, events)).appended);
      }
      await first.setCheckpoint("consumer", 777);
      await first.close();

      const second = await SqliteEventStore.open(path);
      expect(await second.head()).toBe(1000);
      expect(await second.read()).toEqual(written);
      expect(await second.readStream("stream-3")).toEqual(
        written.filter((event) => event.stream === "stream-3"),
      );
      expect(await second.findByDedupKey("k-42-19")).toEqual(
        written.find((event) => event.dedupKey === "k-42-19"),
      );
      expect(await second.getCheckpoint("consumer")).toBe(777);
      const more = await second.append("stream-0", [ev("after reopen"), ev("again", "k-0-0")]);
      expect(more.appended.map((event) => [event.position, event.streamVersion])).toEqual([[1001, 161]]);
      expect(more.duplicates).toEqual([{ index: 1, dedupKey: "k-0-0", position: 1 }]);
      await second.close();
      const viaHelper = await openStore(path);
      expect(viaHelper).toBeInstanceOf(SqliteEventStore);
      expect(await viaHelper.head()).toBe(1001);
      await viaHelper.close();
    });

    it("stamps recordedAt with the injected clock, once per committed group", async () => {
      let now = Date.UTC(2030, 5, 1, 12, 0, 0, 0);
      const store = await SqliteEventStore.open(await tempPath(), { now: () => now });
      const [a, b] = await Promise.all([store.append("s", [ev(1)]), store.append("t", [ev(2)])]);
      now += 1500;
      const c = await store.append("s", [ev(3)]);
      expect([a.appended[0]?.recordedAt, b.appended[0]?.recordedAt, c.appended[0]?.recordedAt]).toEqual([
        "2030-06-01T12:00:00.000Z",
        "2030-06-01T12:00:00.000Z",
        "2030-06-01T12:00:01.500Z",
      ]);
      await store.close();
    });
  });

  describe("tags, snapshots and private files", () => {
    /** The schema of version 1 (before tags and snapshots), as fullenrich-rx 0.1 wrote it. */
    const SCHEMA_V1 = `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        stream TEXT NOT NULL,
        stream_version INTEGER NOT NULL,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        dedup_key TEXT UNIQUE,
        recorded_at TEXT NOT NULL,
        UNIQUE (stream, stream_version)
      );
      CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
      INSERT INTO meta (key, value) VALUES ('schema_version', '1');`;

    it("migrates a version-1 file in place: its events and checkpoints stay, tags and snapshots work", async () => {
      const path = await tempPath();
      const v1 = new Database(path);
      v1.pragma("journal_mode = WAL");
      v1.exec(SCHEMA_V1);
      const insert = v1.prepare(
        "INSERT INTO events (stream, stream_version, type, version, data, dedup_key, recorded_at) VALUES (?, ?, 't', 1, ?, ?, '2024-01-01T00:00:00.000Z')",
      );
      insert.run("job-1", 1, '{"n":1}', "k1");
      insert.run("job-2", 1, '{"n":2}', null);
      insert.run("job-1", 2, '{"n":3}', null);
      v1.prepare("INSERT INTO checkpoints (name, position) VALUES ('reconciler', 2)").run();
      v1.close();
      await chmod(path, 0o600); // as a private file would be (a wider one gets a warning, tested below)

      const store = await SqliteEventStore.open(path);
      expect((await store.read()).map((event) => [event.position, event.stream, event.data])).toEqual([
        [1, "job-1", { n: 1 }],
        [2, "job-2", { n: 2 }],
        [3, "job-1", { n: 3 }],
      ]);
      expect(await store.getCheckpoint("reconciler")).toBe(2);
      expect(await store.readByTags(["job:1"])).toEqual([]);
      await store.addTags([
        { position: 1, tags: ["job:1"] },
        { position: 3, tags: ["job:1"] },
      ]);
      const appended = await store.append("job-1", [
        { type: "t", version: 1, data: { n: 4 }, tags: ["job:1"] },
      ]);
      expect(positionsOf(appended.appended)).toEqual([4]);
      expect(positionsOf(await store.readByTags(["job:1"]))).toEqual([1, 3, 4]);
      await store.saveSnapshot("projection", { position: 4, version: 1, data: { open: [] } });
      await store.close();

      const raw = rawConnection(path);
      try {
        expect(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe("2");
        expect(raw.prepare("SELECT data FROM events WHERE position = 1").pluck().get()).toBe('{"n":1}');
        expect(raw.prepare("SELECT COUNT(*) FROM tags").pluck().get()).toBe(3);
      } finally {
        raw.close();
      }
      const reopened = await SqliteEventStore.open(path);
      expect(await reopened.loadSnapshot("projection")).toEqual({
        position: 4,
        version: 1,
        data: { open: [] },
      });
      await reopened.close();
    });

    it("looks tags up by the tags table's primary key and events by position: index searches, no scan", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      await store.append("s", [{ type: "t", version: 1, data: 1, tags: ["a"] }]);
      await store.close();
      const raw = rawConnection(path);
      try {
        for (const types of [null, '["t"]']) {
          const plan = raw
            .prepare<[{ tags: string; after: number; types: string | null }], { detail: string }>(
              `EXPLAIN QUERY PLAN ${BY_TAGS_SQL}`,
            )
            .all({ tags: '["a","b"]', after: 0, types })
            .map((row) => row.detail);
          expect(plan).toContain("SEARCH tags USING PRIMARY KEY (tag=?)");
          expect(plan).toContain("SEARCH events USING INTEGER PRIMARY KEY (rowid=?)");
          expect(plan.filter((detail) => /^SCAN (tags|events)/.test(detail))).toEqual([]);
        }
      } finally {
        raw.close();
      }
    });

    it("creates its directories 0700 and the file, its WAL and shared memory 0600, whatever the umask", async () => {
      const base = await tempDirectory();
      const path = join(base, "private", "nested", "events.db");
      const previous = process.umask(0);
      try {
        const store = await SqliteEventStore.open(path, { checkpointIntervalMs: 20 });
        for (let n = 0; n < 20; n += 1) await store.append("s", [ev({ n, pad: "x".repeat(2_000) })]);
        // The checkpointer copies the WAL into the file and truncates it: the modes stay.
        await waitUntil(() => store.diagnostics().walTruncations > 0, "a WAL truncation");
        await store.append("s", [ev("after the truncation")]);
        const modeOf = (file: string): string => (statSync(file).mode & 0o777).toString(8);
        expect(modeOf(join(base, "private"))).toBe("700");
        expect(modeOf(join(base, "private", "nested"))).toBe("700");
        expect([modeOf(path), modeOf(`${path}-wal`), modeOf(`${path}-shm`)]).toEqual(["600", "600", "600"]);
        await store.close();
        // Opened again (the WAL was removed at close, so it is created anew).
        const again = await SqliteEventStore.open(path);
        await again.append("s", [ev("again")]);
        expect([modeOf(path), modeOf(`${path}-wal`), modeOf(`${path}-shm`)]).toEqual(["600", "600", "600"]);
        await again.close();
      } finally {
        process.umask(previous);
      }
      // A directory that existed is left as it was.
      expect((statSync(base).mode & 0o777).toString(8)).toBe("700");
    });

    it("warns once, naming the files and the chmod that fixes them, when others may read an existing file", async () => {
      const path = await tempPath();
      await (await SqliteEventStore.open(path)).close();
      await chmod(path, 0o644);
      const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
      const logger = {
        debug: () => {},
        info: () => {},
        warn: (message: string, fields?: Record<string, unknown>) => void warnings.push({ message, fields }),
        error: () => {},
      };
      const store = await SqliteEventStore.open(path, { logger });
      await store.append("s", [ev(1)]);
      await store.close();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toContain(path);
      expect(warnings[0]?.message).toContain(`chmod 600 ${path}`);
      expect(warnings[0]?.fields).toEqual({ path });
      // The mode is the user's: the store only warns.
      expect(statSync(path).mode & 0o777).toBe(0o644);

      // Without a logger, the warning goes to stderr.
      const written: string[] = [];
      const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      try {
        await (await SqliteEventStore.open(path)).close();
        await chmod(path, 0o600);
        await (await SqliteEventStore.open(path)).close();
      } finally {
        stderr.mockRestore();
      }
      expect(written).toHaveLength(1);
      expect(written[0]).toMatch(
        /^\[fullenrich-rx\] warn: the event store's files can be read by other users/,
      );
      expect(written[0]).toContain(`chmod 600 ${path}`);
    });
  });

  describe("group commit", () => {
    it("commits concurrent appends together, each resolving only once its events are committed", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      const observer = rawConnection(path);
      const count = observer.prepare<[number, number], { n: number }>(
        "SELECT COUNT(*) AS n FROM events WHERE position BETWEEN ? AND ?",
      );
      try {
        const before = store.diagnostics().transactions;
        let visibleOnResolve = 0;
        const appends = Array.from({ length: 300 }, (_, n) =>
          store
            .append(
              `s-${n % 9}`,
              Array.from({ length: 1 + (n % 3) }, (_, i) => ev({ n, i }, `g-${n}-${i}`)),
            )
            .then((result) => {
              const first = result.appended[0]?.position ?? 0;
              const last = result.appended[result.appended.length - 1]?.position ?? 0;
              // Another connection only sees committed data.
              if (count.get(first, last)?.n === result.appended.length) visibleOnResolve += 1;
              return result;
            }),
        );
        const results = await Promise.all(appends);
        expect(visibleOnResolve).toBe(300);
        const total = results.reduce((sum, result) => sum + result.appended.length, 0);
        expect(total).toBe(600);
        const transactions = store.diagnostics().transactions - before;
        expect(transactions).toBeGreaterThanOrEqual(1);
        expect(transactions).toBeLessThanOrEqual(5);
        expect(store.diagnostics().operations).toBe(300);
        await store.close();
        const reopened = await SqliteEventStore.open(path);
        expect(positionsOf(await reopened.read())).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
        expect(await reopened.read()).toEqual(results.flatMap((result) => result.appended));
        await reopened.close();
      } finally {
        observer.close();
      }
    });
  });

  describe("writer thread", () => {
    /** The store's writer thread, for the tests that make it fail. */
    function writerOf(store: SqliteEventStore): WriterThread {
      return (store as unknown as { writer: WriterThread }).writer;
    }

    /** Resolves after the store's end-of-turn flush (scheduled before this) has sent its group. */
    function afterFlush(): Promise<void> {
      return new Promise((resolve) => setImmediate(resolve));
    }

    it("keeps an event's dataJson as the stored text, and reads it back as data", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      const dataJson = ' {"a" : -0, "b":1.50e1, "c":"Zo\\u00eb"} ';
      const { appended } = await store.append("s", [
        { type: "t", version: 1, data: { a: -0, b: 15, c: "Zoë" }, dataJson },
        ev({ plain: true }),
      ]);
      expect(appended[0]?.data).toStrictEqual({ a: -0, b: 15, c: "Zoë" });
      expect((await store.read())[0]?.data).toStrictEqual({ a: -0, b: 15, c: "Zoë" });
      const attempt = store.append("s", [{ type: "t", version: 1, data: 1, dataJson: "" }]);
      await expect(attempt).rejects.toThrow(TypeError);
      await store.close();
      const raw = rawConnection(path);
      try {
        expect(raw.prepare("SELECT data FROM events ORDER BY position").pluck().all()).toEqual([
          dataJson,
          '{"plain":true}',
        ]);
      } finally {
        raw.close();
      }
    });

    it("reports a ConcurrencyError from inside a group with its fields; the rest of the group commits", async () => {
      const store = await SqliteEventStore.open(await tempPath());
      await store.append("taken", [ev("x"), ev("y")]);
      const before = store.diagnostics().transactions;
      const outcomes = await Promise.allSettled([
        store.append("a", [ev(1)]),
        store.append("taken", [ev(2)], { expectedVersion: 1 }),
        store.append("taken", [ev(3)], { expectedVersion: 2 }),
        store.append("taken", [ev(4)], { expectedVersion: 2 }),
      ]);
      expect(store.diagnostics().transactions - before).toBe(1);
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        "fulfilled",
        "rejected",
        "fulfilled",
        "rejected",
      ]);
      const [, stale, , late] = outcomes;
      const staleError = stale?.status === "rejected" ? stale.reason : undefined;
      expect(staleError).toBeInstanceOf(ConcurrencyError);
      expect(staleError).toMatchObject({ stream: "taken", expected: 1, actual: 2 });
      expect(String(staleError)).toMatch(/stream taken is at version 2, expected 1/);
      // The third append moved the stream to 3 earlier in the same transaction: the fourth sees it.
      expect(late?.status === "rejected" ? late.reason : undefined).toMatchObject({
        stream: "taken",
        expected: 2,
        actual: 3,
      });
      expect((await store.readStream("taken")).map((event) => event.data)).toEqual(["x", "y", 3]);
      expect(positionsOf(await store.read())).toEqual([1, 2, 3, 4]);
      await store.close();
    });

    it("rejects an append a constraint refuses with StoreUnavailableError; the rest of the group commits", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      await store.append("s", [ev("before")]);
      const raw = rawConnection(path);
      raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'refused' " +
          "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END",
      );
      try {
        const before = store.diagnostics().transactions;
        const [ok1, refused, ok2] = await Promise.allSettled([
          store.append("a", [ev(1, "k1")]),
          store.append("b", [ev(2, "k2"), ev(3, "k3", "refused")], {
            checkpoint: { name: "c", position: 7 },
          }),
          store.append("a", [ev(4, "k4")]),
        ]);
        expect(store.diagnostics().transactions - before).toBe(1);
        expect(ok1.status === "fulfilled" && positionsOf(ok1.value.appended)).toEqual([2]);
        expect(ok2.status === "fulfilled" && positionsOf(ok2.value.appended)).toEqual([3]);
        const error = refused.status === "rejected" ? refused.reason : undefined;
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(String(error)).toMatch(
          /refused an append — refused by a test trigger \(SQLITE_CONSTRAINT_TRIGGER\)\. Nothing of that append was stored/,
        );
        expect((error as Error).cause).toBeInstanceOf(Database.SqliteError);
        // Nothing of the refused append: not its first event, not its dedup keys, not its checkpoint.
        expect(await store.findByDedupKey("k2")).toBeUndefined();
        expect(await store.readStream("b")).toEqual([]);
        expect(await store.getCheckpoint("c")).toBe(0);
        expect(positionsOf(await store.read())).toEqual([1, 2, 3]);
      } finally {
        raw.exec("DROP TRIGGER refuse");
        raw.close();
      }
      expect(positionsOf((await store.append("b", [ev(2, "k2")])).appended)).toEqual([4]);
      await store.close();
    });

    it("rejects every append of a group whose transaction fails, with StoreUnavailableError, then recovers", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      const raw = rawConnection(path);
      try {
        // RAISE(ROLLBACK) ends the whole transaction, not just the statement.
        raw.exec(
          "CREATE TRIGGER abort_all BEFORE INSERT ON events WHEN NEW.type = 'rollback' " +
            "BEGIN SELECT RAISE(ROLLBACK, 'the whole transaction goes'); END",
        );
        const outcomes = await Promise.allSettled([
          store.append("a", [ev(1)]),
          store.append("b", [ev(2, undefined, "rollback")]),
          store.setCheckpoint("c", 5),
        ]);
        for (const outcome of outcomes) {
          expect(outcome.status).toBe("rejected");
          if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
        }
        raw.exec("DROP TRIGGER abort_all");
        // An error that is no constraint: a trigger writing to a table that does not exist.
        raw.exec("CREATE TABLE doomed (x INTEGER)");
        raw.exec("CREATE TRIGGER broken AFTER INSERT ON events BEGIN INSERT INTO doomed VALUES (1); END");
        raw.exec("DROP TABLE doomed");
        const broken = await Promise.allSettled([store.append("a", [ev(3)]), store.append("b", [ev(4)])]);
        for (const outcome of broken) {
          expect(outcome.status).toBe("rejected");
          if (outcome.status === "rejected") {
            expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
            expect(String(outcome.reason)).toMatch(/failed to write — no such table: main\.doomed/);
          }
        }
        raw.exec("DROP TRIGGER broken");
      } finally {
        raw.close();
      }
      expect(await store.head()).toBe(0);
      expect(await store.getCheckpoint("c")).toBe(0);
      expect(positionsOf((await store.append("a", [ev(5)])).appended)).toEqual([1]);
      await store.close();
    });

    it("close() while groups are in flight: every append commits or rejects with StoreUnavailableError, none hangs", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      const settled: Promise<PromiseSettledResult<unknown>>[] = [];
      const issue = (from: number, count: number): void => {
        for (let n = from; n < from + count; n += 1) {
          const append = store.append(`s-${n % 4}`, [ev({ n }, `close-${n}`)]);
          settled.push(
            append.then(
              (value) => ({ status: "fulfilled", value }),
              (reason: unknown) => ({ status: "rejected", reason }),
            ),
          );
        }
      };
      issue(0, 200);
      await afterFlush(); // the first group is at the writer thread
      issue(200, 200); // the next group, waiting for the first one's answer
      const closed = store.close();
      const late = store.append("s", [ev("too late")]);
      expect(await rejectionOf(late)).toBeInstanceOf(StoreUnavailableError);
      await within(closed, 10_000, "close() with appends in flight");
      const outcomes = await within(Promise.all(settled), 1_000, "every append to settle");
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
      }
      const committed = outcomes.filter((outcome) => outcome.status === "fulfilled").length;
      // Issued before close(): all of them commit.
      expect(committed).toBe(400);
      const reopened = await SqliteEventStore.open(path);
      expect(await reopened.head()).toBe(committed);
      await reopened.close();
    });

    it("a writer thread that dies with a group in flight rejects it (and every later write) with StoreUnavailableError", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      await store.append("s", [ev("kept", "kept")]);
      const inFlight = Array.from({ length: 20 }, (_, n) => store.append("s", [ev(n, `lost-${n}`)]));
      await afterFlush();
      await writerOf(store).terminate();
      for (const append of inFlight) {
        const error = await within(rejectionOf(append), 5_000, "the lost append to reject");
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(String(error)).toMatch(
          /lost its writer thread .* may or may not be stored\. Close the store, open it again/,
        );
      }
      const after = await rejectionOf(store.append("s", [ev("after")]));
      expect(after).toBeInstanceOf(StoreUnavailableError);
      expect(String(after)).toMatch(/writer thread has stopped .* Nothing of these appends was stored/);
      await expect(store.setCheckpoint("c", 1)).rejects.toBeInstanceOf(StoreUnavailableError);
      // Reads still work, and close() completes.
      expect((await store.findByDedupKey("kept"))?.position).toBe(1);
      await within(store.close(), 10_000, "close() after the writer died");
      const reopened = await SqliteEventStore.open(path);
      const stored = await reopened.read();
      // Whatever the thread committed before it died is whole; the store works again.
      expect(positionsOf(stored)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
      expect((await reopened.append("s", [ev("again")])).appended).toHaveLength(1);
      await reopened.close();
      const raw = rawConnection(path);
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
      raw.close();
    });

    it("commits and closes under fake timers installed after the store opened", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path);
      vi.useFakeTimers();
      try {
        const results = await within(
          Promise.all(Array.from({ length: 50 }, (_, n) => store.append("s", [ev(n)]))),
          5_000,
          "appends under fake timers",
        );
        expect(results.flatMap((result) => positionsOf(result.appended))).toEqual(
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        await within(store.close(), 5_000, "close() under fake timers");
      } finally {
        vi.useRealTimers();
      }
      expect(existsSync(`${path}-wal`)).toBe(false);
    });

    it("open() starts the writer thread and reports its connection's settings", async () => {
      const store = await SqliteEventStore.open(await tempPath(), {
        durability: "normal",
        checkpointIntervalMs: 0,
      });
      expect(store.diagnostics()).toMatchObject({ synchronous: 1, walAutocheckpoint: 1000 });
      await store.close();
    });
  });

  describe("background work", () => {
    it("checkpoints the WAL from its worker, truncates it when idle, and stops the worker on close", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path, { checkpointIntervalMs: 20 });
      for (let batch = 0; batch < 20; batch += 1) {
        await store.append(
          "s",
          Array.from({ length: 100 }, (_, i) => ev({ batch, i, pad: "x".repeat(200) })),
        );
      }
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
      await waitUntil(
        () => store.diagnostics().walTruncations > 0 && statSync(`${path}-wal`).size === 0,
        "the worker to truncate the WAL",
      );
      expect(store.diagnostics().walCheckpoints).toBeGreaterThan(1);
      expect(store.diagnostics().walAutocheckpoint).toBe(0);
      await store.close();
      // The worker's connection was closed before ours, so ours was the last and removed the WAL.
      expect(existsSync(`${path}-wal`)).toBe(false);
    });

    it("rewinds the WAL under appends that never pause, so that its file stays bounded", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path, { checkpointIntervalMs: 20 });
      // 16 appends of ~4 KB per group, the next group queued while one commits (as webhook
      // deliveries arriving without a pause are): ~2 WAL pages per event, ~190 MB of frames in all
      // (LARGE_WAL_FRAMES is 4096 pages, 16 MB). Bounded by count, and by time below.
      const pad = "x".repeat(4_000);
      const deadline = Date.now() + 60_000;
      let inFlight: Promise<unknown>[] = [];
      let largestWal = 0;
      let appended = 0;
      for (let group = 0; group < 1_500 && Date.now() < deadline; group += 1) {
        const next = Array.from({ length: 16 }, (_, i) => store.append("s", [ev({ group, i, pad })]));
        await Promise.all(inFlight);
        appended += inFlight.length;
        inFlight = next;
        if (group % 50 === 0) largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
      }
      await Promise.all(inFlight);
      appended += inFlight.length;
      largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
      const written = appended * pad.length;
      expect(written).toBeGreaterThan(80 * 2 ** 20);
      // Rewound whenever the checkpointer found it over 16 MB: far below what was written.
      expect(largestWal).toBeLessThan(written / 3);
      await store.close();
    }, 90_000);

    it("runs its poll timer only while someone subscribes", async () => {
      const store = await SqliteEventStore.open(await tempPath(), { pollIntervalMs: 50 });
      vi.useFakeTimers();
      try {
        expect(vi.getTimerCount()).toBe(0);
        const first = record(store.subscribe(0));
        const second = record(store.subscribe(0));
        expect(vi.getTimerCount()).toBe(1);
        first.subscription.unsubscribe();
        expect(vi.getTimerCount()).toBe(1);
        second.subscription.unsubscribe();
        expect(vi.getTimerCount()).toBe(0);
      } finally {
        vi.useRealTimers();
      }
      await store.close();
    });
  });

  describe("unavailable stores", () => {
    it("rejects a path that is a directory", async () => {
      const directory = await tempDirectory();
      const error = await SqliteEventStore.open(directory).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(String(error)).toMatch(/names a file \(not a directory\)/);
    });

    it("rejects a path whose parent is a file", async () => {
      const directory = await tempDirectory();
      await writeFile(join(directory, "plain"), "not a directory");
      const error = await SqliteEventStore.open(join(directory, "plain", "events.db")).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(String(error)).toMatch(/cannot create the directory/);
    });

    it("rejects a file that is not a database", async () => {
      const path = await tempPath();
      await writeFile(path, "this is not an SQLite file, just some text that is long enough. ".repeat(20), {
        mode: 0o600,
      });
      const error = await SqliteEventStore.open(path).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(String(error)).toMatch(/not a usable SQLite event store.*Choose another path/);
    });

    it("rejects a file written by a newer schema version", async () => {
      const path = await tempPath();
      await (await SqliteEventStore.open(path)).close();
      const raw = rawConnection(path);
      raw.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
      raw.close();
      const error = await SqliteEventStore.open(path).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(String(error)).toMatch(/schema version 99.*Upgrade fullenrich-rx/);
    });

    it("reports a file locked by another connection, and recovers once it is released", async () => {
      const path = await tempPath();
      const store = await SqliteEventStore.open(path, { busyTimeoutMs: 100 });
      const locker = rawConnection(path);
      try {
        locker.exec("BEGIN IMMEDIATE");
        const openError = await SqliteEventStore.open(path, { busyTimeoutMs: 100 }).catch(
          (caught: unknown) => caught,
        );
        expect(openError).toBeInstanceOf(StoreUnavailableError);
        expect(String(openError)).toMatch(/is locked.*raise busyTimeoutMs/);
        const appendError = await store.append("s", [ev(1)]).catch((caught: unknown) => caught);
        expect(appendError).toBeInstanceOf(StoreUnavailableError);
        expect(String(appendError)).toMatch(/is locked/);
        expect(await store.head()).toBe(0);
        locker.exec("ROLLBACK");
        expect(positionsOf((await store.append("s", [ev(1)])).appended)).toEqual([1]);
      } finally {
        if (locker.inTransaction) locker.exec("ROLLBACK");
        locker.close();
        await store.close();
      }
    });

    it.skipIf(process.getuid?.() === 0)("reports a read-only file", async () => {
      const directory = await tempDirectory();
      const path = join(directory, "events.db");
      await (await SqliteEventStore.open(path)).close();
      await chmod(path, 0o444);
      await chmod(directory, 0o555);
      try {
        const error = await SqliteEventStore.open(path).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(String(error)).toMatch(/read-only|cannot open/);
      } finally {
        await chmod(directory, 0o755);
      }
    });

    it("asks for a file path, not :memory:", async () => {
      await expect(SqliteEventStore.open(":memory:")).rejects.toThrow(RangeError);
      await expect(SqliteEventStore.open("")).rejects.toThrow(RangeError);
    });
  });

  describeProcessContract({
    gaplessPositions: true,
    location: tempPath,
    open: (path, options) => SqliteEventStore.open(path, options?.tail ? { pollIntervalMs: 25 } : {}),
    writerPauseMs: 2,
    timeoutMs: 20_000,
    afterCrash: (path) => {
      const raw = rawConnection(path);
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
      raw.close();
    },
  });

  describe("a child process", () => {
    beforeAll(() => assertStoreBuilt());

    it("an awaited close() completes in a process with nothing else to do, and removes the WAL", async () => {
      const path = await tempPath();
      const child = startChild(["natural", path]);
      expect(await child.exited).toBe(0);
      expect(child.lines).toContain("closed");
      expect(existsSync(`${path}-wal`)).toBe(false);
    });
  });
});
