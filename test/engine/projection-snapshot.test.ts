import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECTION_SNAPSHOT, ProjectionKeeper } from "../../src/engine/projection-keeper.js";
import { contactIdentity } from "../../src/events/contact-identity.js";
import type { EnrichmentsProjection } from "../../src/events/projections/enrichments-projection.js";
import { PROJECTION_SNAPSHOT_VERSION } from "../../src/events/projections/projection-snapshot.js";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { PostgresEventStore } from "../../src/events/stores/postgres-store.js";
import type { Logger } from "../../src/internal/logger.js";
import type { LogBuilder } from "../support/log-builder.js";
import { dropSchemas, uniqueSchema, urlWithSchema } from "../support/pg-fixture.js";
import { buildRandomLog, randomLogPlan, storeLog } from "../support/random-log.js";

/** A logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => {
    lines.push(`${level}: ${message}`);
  };
  return { lines, debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/**
 * What a projection answers, through its queries only (not through its own snapshot, which would
 * hide what a snapshot leaves out).
 */
function answers(projection: EnrichmentsProjection, identities: readonly string[]) {
  return {
    position: projection.position,
    batches: [...projection.batches()].map((batch) => ({
      ...batch,
      inputs: [...batch.inputs],
      identities: [...batch.identities],
    })),
    enrichments: [...projection.enrichments()].map((e) => ({ ...e, resolved: [...e.resolved].sort() })),
    open: identities.map((identity) => {
      const open = projection.openBatchOf(identity);
      return open ? [open.batch.batchId, open.key] : null;
    }),
    calls: [...projection.recentCalls()],
    totals: projection.totals(),
    settled: projection.settledBatches(),
    quarantined: projection.quarantined(),
  };
}

/** Every identity a log's requests hold. */
function identitiesOf(log: LogBuilder): string[] {
  return log
    .ofType("enrichment.requested")
    .flatMap((event) => event.data.contacts.map((c) => contactIdentity("enrich", c.contact, "_fxr")));
}

/** The projection a keeper builds from the store: its snapshot's JSON. */
async function caughtUp(store: EventStore, logger: Logger = recordingLogger()) {
  const keeper = await ProjectionKeeper.load({ store, logger });
  await keeper.catchUp();
  return keeper;
}

describe("the projection's snapshot", () => {
  it("property: a snapshot taken anywhere, then the tail, gives the same state as replaying the whole log", async () => {
    await fc.assert(
      fc.asyncProperty(randomLogPlan, fc.double({ min: 0, max: 1, noNaN: true }), async (plan, cut) => {
        const log = buildRandomLog(plan);
        const whole = new MemoryEventStore();
        await storeLog(log, whole);
        const identities = identitiesOf(log);
        const full = answers((await caughtUp(whole)).projection, identities);

        const split = new MemoryEventStore();
        const at = Math.floor(cut * log.events.length);
        await storeLog(log, split, at);
        const first = await caughtUp(split);
        await first.flush();
        // Nothing to save before the first event.
        expect((await split.loadSnapshot(PROJECTION_SNAPSHOT))?.position).toBe(at === 0 ? undefined : at);
        // The rest of the log arrives; a new start reads the snapshot, then only the tail.
        for (const event of log.events.slice(at)) {
          await split.append(event.stream, [
            {
              type: event.type,
              version: event.version,
              data: event.data,
              ...(event.dedupKey ? { dedupKey: event.dedupKey } : {}),
            },
          ]);
        }
        const second = await caughtUp(split);
        expect(answers(second.projection, identities)).toEqual(full);
      }),
      { numRuns: 120 },
    );
  });

  it("memory holds open work only: settled batches leave it, their totals and latest lines stay", async () => {
    const log = buildRandomLog({
      batches: Array.from({ length: 6 }, (_, b) => ({
        contacts: 3,
        outcome: b === 5 ? "no-answer" : "accepted",
        observations: b === 4 ? ["pending"] : ["contact", "batch", "contact"],
      })),
      order: [0],
      foreignDelivery: false,
      quarantined: true,
    });
    const store = new MemoryEventStore();
    await storeLog(log, store);
    const { projection } = await caughtUp(store);
    // Batch 4 is still running and batch 5 awaits a delivery; batches 0–3 are settled.
    expect([...projection.batches()].map((batch) => batch.batchId)).toEqual(["batch4", "batch5"]);
    expect([...projection.enrichments()].map((e) => e.enrichmentId)).toEqual(["enrichment4"]);
    expect(projection.settledBatches().map((line) => line.state)).toEqual(
      Array(4).fill("completed FINISHED"),
    );
    expect(projection.totals()).toMatchObject({
      batches: 6,
      contactsSent: 18,
      resolved: { webhook: 12, poll: 0 },
      completed: 4,
      credits: 8,
    });
    expect(projection.quarantined()).toEqual([expect.objectContaining({ digest: "q" })]);
  });

  it("a corrupt snapshot, or one of another version, is ignored (and said), and the log replayed", async () => {
    const log = buildRandomLog({
      batches: [{ contacts: 2, outcome: "accepted", observations: ["batch"] }],
      order: [0],
      foreignDelivery: false,
      quarantined: false,
    });
    const store = new MemoryEventStore();
    await storeLog(log, store);
    const expected = (await caughtUp(store)).projection.snapshot();
    for (const bad of [
      { position: 3, version: PROJECTION_SNAPSHOT_VERSION, data: { batches: "not a list" } },
      { position: 3, version: PROJECTION_SNAPSHOT_VERSION + 1, data: expected },
      { position: 999, version: PROJECTION_SNAPSHOT_VERSION, data: { ...expected, position: 3 } },
    ]) {
      await store.saveSnapshot(PROJECTION_SNAPSHOT, bad);
      const logger = recordingLogger();
      const keeper = await caughtUp(store, logger);
      expect(keeper.projection.snapshot()).toEqual(expected);
      expect(logger.lines.join("\n")).toMatch(
        /snapshot .*(cannot be read|another version); replaying the log/,
      );
    }
  });

  it("a log written before events carried tags is tagged once, on the first full replay", async () => {
    const log = buildRandomLog({
      batches: [{ contacts: 3, outcome: "accepted", observations: ["batch"] }],
      order: [0],
      foreignDelivery: false,
      quarantined: false,
    });
    const store = new MemoryEventStore();
    await storeLog(log, store);
    expect(await store.readByTags(["job:job0"])).toEqual([]);
    await caughtUp(store);
    const tagged = await store.readByTags(["job:job0"], { types: ["contact.resolved"] });
    expect(tagged).toHaveLength(3);
    expect(await store.getCheckpoint("fullenrich-rx.tagged")).toBe(await store.head());
  });
});

describe("the snapshot on PostgreSQL", () => {
  const schemas: string[] = [];
  afterAll(() => dropSchemas(schemas));

  it("a second start reads the snapshot and nothing of the log before it, and answers as a full replay", async () => {
    const schema = uniqueSchema("snapshot");
    schemas.push(schema);
    const store = await PostgresEventStore.open(urlWithSchema(schema));
    try {
      const log = buildRandomLog({
        batches: Array.from({ length: 8 }, (_, b) => ({
          contacts: 4,
          outcome: b % 4 === 3 ? "unknown" : "accepted",
          observations: b % 3 === 0 ? ["pending"] : ["contact", "batch", "contact"],
        })),
        order: [1, 2, 3, 0],
        foreignDelivery: true,
        quarantined: true,
      });
      await storeLog(log, store);
      const identities = identitiesOf(log);
      const first = await caughtUp(store);
      const full = answers(first.projection, identities);
      await first.flush();
      const before = store.readCounters().events;
      const second = await caughtUp(store);
      expect(store.readCounters().events - before).toBe(0);
      expect(answers(second.projection, identities)).toEqual(full);
    } finally {
      await store.close();
    }
  });
});
