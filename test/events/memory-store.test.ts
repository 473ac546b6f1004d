import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/events/store.js";
import { MemoryEventStore, openStore } from "../../src/events/stores/index.js";
import { describeStoreContract, ev } from "../support/store-contract.js";

describeStoreContract("MemoryEventStore", async () => {
  const store = new MemoryEventStore();
  return {
    store,
    cleanup: () => store.close(),
    corruptSnapshot: async (name) => {
      // Behind the store's back: its private map of saved snapshots (data kept as JSON text).
      const saved = (
        store as unknown as { reads: { snapshots: Map<string, { json: string }> } }
      ).reads.snapshots.get(name);
      if (saved === undefined) throw new Error(`no snapshot ${name} to corrupt`);
      saved.json = "{not json";
    },
  };
});

describe("MemoryEventStore", () => {
  it("stamps recordedAt with the injected clock", async () => {
    const store = new MemoryEventStore({ now: () => Date.UTC(2030, 0, 2, 3, 4, 5, 6) });
    const { appended } = await store.append("s", [ev(1)]);
    expect(appended[0]?.recordedAt).toBe("2030-01-02T03:04:05.006Z");
    await store.close();
  });

  it("keeps an event's dataJson as its JSON text instead of JSON.stringify(data)", async () => {
    const store = new MemoryEventStore();
    // -0 and 1.50e1 are what JSON.stringify would not write; what is stored parses like the text.
    const { appended } = await store.append("s", [
      { type: "t", version: 1, data: { a: -0, b: 15 }, dataJson: ' {"a" : -0, "b":1.50e1} ' },
      { type: "t", version: 1, data: { c: 1 } },
    ]);
    expect(appended[0]?.data).toStrictEqual({ a: -0, b: 15 });
    const [first, second] = await store.read();
    expect(first?.data).toStrictEqual({ a: -0, b: 15 });
    expect(first?.data).not.toStrictEqual({ a: 0, b: 15 });
    expect(second?.data).toEqual({ c: 1 });
    for (const dataJson of ["", 42, null]) {
      const attempt = store.append("s", [{ type: "t", version: 1, data: 1, dataJson: dataJson as string }]);
      await expect(attempt).rejects.toThrow(/events\[0\]\.dataJson must be JSON text/);
    }
    expect(await store.head()).toBe(2);
    await store.close();
  });

  it('is what openStore(":memory:") opens', async () => {
    const store = await openStore(":memory:");
    expect(store).toBeInstanceOf(MemoryEventStore);
    await store.close();
  });

  it("opens postgres:// locations as PostgreSQL stores, never echoing credentials", async () => {
    const error = await openStore("postgres://user:secret@127.0.0.1:1/events").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/postgres:\/\/user:\*\*\*@127\.0\.0\.1:1\/events/);
    expect((error as Error).message).not.toContain("secret");
  });
});
