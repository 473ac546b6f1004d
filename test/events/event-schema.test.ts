import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { EnrichmentEngine } from "../../src/engine/engine.js";
import { EventSchemaError, parseEvent, UPCASTERS } from "../../src/events/event-types.js";
import type { StoredEvent } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";

function stored(type: string, version: number, data: unknown, position = 7): StoredEvent {
  return {
    position,
    stream: "s",
    streamVersion: 1,
    type,
    version,
    data,
    dedupKey: null,
    recordedAt: "2026-11-27T00:00:00Z",
  };
}

const duplicate = { enrichmentId: "e", contactKey: "c:1", via: "poll", observation: 3 };

afterEach(() => {
  delete UPCASTERS["contact.duplicate"];
});

describe("reading events back", () => {
  it("parses a valid event into its typed form", () => {
    const event = parseEvent(stored("contact.duplicate", 1, duplicate));
    expect(event.type).toBe("contact.duplicate");
    expect(event.data).toEqual(duplicate);
  });

  it("an event that fails its schema is an error naming the position and the type", () => {
    const error = (() => {
      try {
        parseEvent(stored("contact.duplicate", 1, { ...duplicate, via: "carrier pigeon" }, 42));
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(EventSchemaError);
    expect((error as EventSchemaError).position).toBe(42);
    expect((error as EventSchemaError).type).toBe("contact.duplicate");
    expect((error as Error).message).toMatch(/position 42 \(contact\.duplicate v1\).*via/);
  });

  it("an event written by a newer version says to upgrade; an unknown type is named", () => {
    expect(() => parseEvent(stored("contact.duplicate", 2, duplicate))).toThrow(
      /newer version of fullenrich-rx.*upgrade/,
    );
    expect(() => parseEvent(stored("contact.teleported", 1, {}))).toThrow(
      /\(contact\.teleported v1\) cannot be read: unknown event type/,
    );
  });

  it("older versions pass through their upcaster", () => {
    // A hypothetical v0 said `source` where v1 says `via`.
    UPCASTERS["contact.duplicate"] = {
      0: (data) => {
        const { source, ...rest } = data as { source: string };
        return { ...rest, via: source };
      },
    };
    const { via: _via, ...v0 } = duplicate;
    const event = parseEvent(stored("contact.duplicate", 0, { ...v0, source: "poll" }));
    expect(event.version).toBe(1);
    expect(event.data).toEqual(duplicate);
    delete UPCASTERS["contact.duplicate"];
    expect(() => parseEvent(stored("contact.duplicate", 0, v0))).toThrow(/no upcaster from v0/);
  });

  it("replay stops at a corrupt event: the engine refuses to start, naming where", async () => {
    const store = new MemoryEventStore();
    await store.append("s", [{ type: "contact.duplicate", version: 1, data: duplicate }]);
    await store.append("s", [{ type: "contact.duplicate", version: 1, data: { enrichmentId: 5 } }]);
    const client = new FullEnrichClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1/api/v2" });
    const error = await EnrichmentEngine.start({ client, store }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventSchemaError);
    expect((error as Error).message).toMatch(/position 2 \(contact\.duplicate v1\)/);
    await client.close();
  });
});
