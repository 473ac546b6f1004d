import { beforeAll, describe, expect, it } from "vitest";
import type { EventStore, StoredEvent } from "../../src/events/store.js";
import { collect, ev, waitUntil } from "./store-contract.js";
import { assertStoreBuilt, startChild, within } from "./store-processes.js";

/** How the multi-process suite reaches one store kind. */
export interface ProcessHarness {
  /** A fresh, empty store for the children: a SQLite file path or a postgres:// URL. */
  location(): Promise<string>;
  /**
   * Opens the store at `location` in this process (the caller closes it). `tail: true` for the
   * subscription test: the store must hear other processes' appends by its own means.
   */
  open(location: string, options?: { tail?: boolean }): Promise<EventStore>;
  /** Milliseconds each writer pauses after an append (lets the two interleave). */
  writerPauseMs: number;
  /** How long the crashing child may take to acknowledge 300 batches, and the trickle to arrive. */
  timeoutMs: number;
  /** Extra checks on the storage after the SIGKILL (e.g. SQLite's integrity_check). */
  afterCrash?(location: string): void | Promise<void>;
  /**
   * Whether positions are 1..n without gaps even with several processes writing (SQLite). When not
   * (PostgreSQL: a killed or retried append leaves its positions unused), they must still increase.
   */
  gaplessPositions: boolean;
}

function positionsOf(events: readonly StoredEvent[]): number[] {
  return events.map((event) => event.position);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
}

/** Positions 1..n when the store has no gaps, else strictly increasing (never reused). */
function expectPositions(events: readonly StoredEvent[], gapless: boolean): void {
  const positions = positionsOf(events);
  if (gapless) {
    expect(positions).toEqual(range(1, events.length));
  } else {
    expect(positions).toEqual([...new Set(positions)].sort((a, b) => a - b));
  }
}

/**
 * The store contract across processes: children (`store-child.mjs`, running the compiled store)
 * append at once, get killed mid-append, or append while this process follows a subscription.
 */
export function describeProcessContract(harness: ProcessHarness): void {
  describe("several processes (children run the compiled store from dist/)", () => {
    beforeAll(() => assertStoreBuilt());

    it("two processes append at once: nothing lost, positions in order, per-process order kept, one shared key stored once", async () => {
      const location = await harness.location();
      const children = ["p1", "p2"].map((id) =>
        startChild(["writer", location, id, "300", "5", "2", "both-try-this", String(harness.writerPauseMs)]),
      );
      await within(
        Promise.all(children.map((child) => child.ready)),
        10_000,
        "both children ready",
        children,
      );
      for (const child of children) child.process.send("go");
      const codes = await within(
        Promise.all(children.map((child) => child.exited)),
        15_000,
        "both exits",
        children,
      );
      expect(codes, children.flatMap((child) => child.stderr).join("\n")).toEqual([0, 0]);
      const reports = children.map(
        (child) =>
          JSON.parse(child.lines[0] ?? "{}") as {
            id: string;
            appended: number;
            sharedAppended: boolean;
            sharedPosition: number;
          },
      );
      expect(reports.map((report) => report.appended)).toEqual([300, 300]);
      expect(reports.filter((report) => report.sharedAppended)).toHaveLength(1);
      expect(reports[0]?.sharedPosition).toBe(reports[1]?.sharedPosition);

      const store = await harness.open(location);
      const all = await store.read();
      await store.close();
      expect(all).toHaveLength(601);
      expectPositions(all, harness.gaplessPositions);
      // The two processes really wrote at the same time: their events interleave (the children's
      // barrier guarantees at least two switches; in practice there are dozens).
      const switches = all.filter((event, i) => i > 0 && event.stream !== all[i - 1]?.stream).length;
      expect(switches).toBeGreaterThanOrEqual(2);
      expect(
        all.filter((event) => event.dedupKey === "both-try-this").map((event) => event.position),
      ).toEqual([reports[0]?.sharedPosition]);
      for (const id of ["p1", "p2"]) {
        const seqs = all
          .filter((event) => event.type === "child.wrote" && (event.data as { proc: string }).proc === id)
          .map((event) => (event.data as { seq: number }).seq);
        expect(seqs).toEqual(range(0, 299));
        const shared = reports.find((report) => report.id === id)?.sharedAppended ? 1 : 0;
        expect(
          all.filter((event) => event.stream === `proc-${id}`).map((event) => event.streamVersion),
        ).toEqual(range(1, seqs.length + shared));
      }
    });

    it("a process killed with SIGKILL mid-append leaves every acknowledged batch whole and no partial batch", async () => {
      const location = await harness.location();
      const child = startChild(["crash", location, "7", "4"]);
      const acked = (): number => child.lines.filter((line) => line.startsWith("ack ")).length;
      await waitUntil(
        () => acked() >= 300 || child.stderr.length > 0,
        "300 acknowledged batches",
        harness.timeoutMs,
      );
      expect(child.stderr.join("")).toBe("");
      child.process.kill("SIGKILL");
      expect(await child.exited).toBe("SIGKILL");
      const acknowledged = child.lines
        .filter((line) => line.startsWith("ack "))
        .map((line) => Number(line.slice(4)));
      expect(acknowledged.length).toBeGreaterThanOrEqual(300);

      // Writable again at once (SQLite: the killed writer's lock is gone; PostgreSQL: its
      // transaction rolled back), and what was there is whole.
      const store = await harness.open(location);
      await store.append("after", [ev("after the crash")]);
      const all = await store.read();
      await store.close();
      expectPositions(all, harness.gaplessPositions);
      expect(all.at(-1)?.data).toBe("after the crash");
      const batches = new Map<number, { k: number; items: Set<number> }>();
      for (const event of all.slice(0, -1)) {
        const { batch, k, i } = event.data as { batch: number; k: number; i: number };
        const entry = batches.get(batch) ?? { k, items: new Set<number>() };
        entry.items.add(i);
        batches.set(batch, entry);
      }
      for (const [batch, entry] of batches) {
        expect(entry.items.size, `batch ${batch} is partial`).toBe(entry.k);
        expect(entry.k).toBe(1 + (batch % 7));
      }
      for (const batch of acknowledged) expect(batches.has(batch), `acknowledged batch ${batch}`).toBe(true);
      expect(batches.size).toBeGreaterThanOrEqual(acknowledged.length);
      await harness.afterCrash?.(location);
    });

    it("a subscription notices events appended by another process, in order", async () => {
      const location = await harness.location();
      const store = await harness.open(location, { tail: true });
      try {
        await store.append("local", [ev("mine")]);
        const child = startChild(["trickle", location, "40", "3"]);
        const live = collect(store.subscribe(0), 41, harness.timeoutMs);
        await child.ready;
        child.process.send("go");
        const events = await live;
        expect(await child.exited).toBe(0);
        expect(events[0]?.data).toBe("mine");
        expect(events.slice(1).map((event) => (event.data as { n: number }).n)).toEqual(range(1, 40));
        expectPositions(events, harness.gaplessPositions);
      } finally {
        await store.close();
      }
    });
  });
}
