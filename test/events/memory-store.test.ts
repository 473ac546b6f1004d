import { describe, expect, it } from "vitest";
import { MemoryEventStore, openStore } from "../../src/events/stores/index.js";
import { describeStoreContract, ev } from "../support/store-contract.js";

describeStoreContract("MemoryEventStore", async () => {
  const store = new MemoryEventStore();
  return { store, cleanup: () => store.close() };
});

describe("MemoryEventStore", () => {
  it("stamps recordedAt with the injected clock", async () => {
    const store = new MemoryEventStore({ now: () => Date.UTC(2030, 0, 2, 3, 4, 5, 6) });
    const { appended } = await store.append("s", [ev(1)]);
    expect(appended[0]?.recordedAt).toBe("2030-01-02T03:04:05.006Z");
    await store.close();
  });

  it('is what openStore(":memory:") opens', async () => {
    const store = await openStore(":memory:");
    expect(store).toBeInstanceOf(MemoryEventStore);
    await store.close();
  });

  it("refuses postgres:// locations for now, without echoing credentials", async () => {
    await expect(openStore("postgres://user:secret@db.example/events")).rejects.toThrow(
      /not supported yet: postgres:\/\/\*\*\*@db\.example\/events/,
    );
  });
});
