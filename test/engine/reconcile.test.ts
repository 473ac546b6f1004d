import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { correlationId } from "../../src/engine/batches.js";
import { keyBatch } from "../../src/events/contact-key.js";
import { LogBuilder, testKeying } from "../support/log-builder.js";

const ENRICHMENT = "enr-1";
const BATCH = "batchA";

type Person = {
  first_name: string;
  last_name: string;
  domain: string;
  custom: Record<string, string>;
};

function people(n: number, correlated = true): Person[] {
  return Array.from({ length: n }, (_, i) => ({
    first_name: `First${i}`,
    last_name: `Last${i}`,
    domain: "example.com",
    custom: correlated
      ? { row: String(i), _fxr: correlationId(BATCH, i) }
      : ({ row: String(i) } as Record<string, string>),
  }));
}

function record(person: Person, found = true) {
  return {
    input: { first_name: person.first_name, last_name: person.last_name, company_domain: person.domain },
    custom: person.custom,
    ...(found
      ? {
          contact_info: {
            most_probable_work_email: { email: `${person.first_name}@example.com`, status: "DELIVERABLE" },
          },
        }
      : {}),
  };
}

/**
 * Appends the request event of one batch of `contacts` (webhook mode when `accepted` is false, as a
 * batch whose POST answer was never recorded), then its accepted event unless told otherwise.
 */
function requestBatch(log: LogBuilder, contacts: Person[], { accepted = true } = {}): string[] {
  const keys = keyBatch(testKeying, contacts, "request");
  log.append("enrichment.requested", {
    batchId: BATCH,
    jobId: "job",
    batchIndex: 0,
    contactsDigest: "d",
    kind: "enrich",
    name: "n",
    contacts: contacts.map((contact, i) => ({ key: keys[i] as string, contact })),
    keying: testKeying,
    webhookUrl: accepted ? null : "http://x",
    contactWebhookUrl: null,
    mode: accepted ? "both" : "webhook",
    requestedAt: 0,
  });
  if (accepted)
    log.append("enrichment.accepted", { batchId: BATCH, enrichmentId: ENRICHMENT, acceptedAt: 0 });
  return keys;
}

type Observation =
  | { kind: "contact"; index: number }
  | { kind: "batch"; status: "FINISHED" | "CREDITS_INSUFFICIENT" | "CANCELED" }
  | { kind: "poll"; status: "FINISHED" | "CREDITS_INSUFFICIENT" | "CANCELED" }
  | { kind: "pending-poll" }
  | { kind: "partial"; upTo: number };

function observe(
  log: LogBuilder,
  contacts: Person[],
  observation: Observation,
  included: number,
  n: number,
): void {
  const body = (status: string, data: unknown[]) => ({
    id: ENRICHMENT,
    name: "n",
    status,
    cost: { credits: 1 },
    data,
  });
  const digest = `digest-${n}`;
  switch (observation.kind) {
    case "contact":
      log.append("webhook.received", {
        digest,
        event: "contact",
        enrichmentId: ENRICHMENT,
        verified: true,
        payload: body("IN_PROGRESS", [record(contacts[observation.index] as Person)]),
        receivedAt: 0,
      });
      return;
    case "batch":
      log.append("webhook.received", {
        digest,
        event: "batch",
        enrichmentId: ENRICHMENT,
        verified: true,
        payload: body(
          observation.status,
          contacts.slice(0, included).map((c) => record(c)),
        ),
        receivedAt: 0,
      });
      return;
    case "poll":
      log.append("poll.observed", {
        enrichmentId: ENRICHMENT,
        kind: "enrich",
        outcome: "done",
        status: observation.status,
        httpStatus: observation.status === "CREDITS_INSUFFICIENT" ? 402 : 200,
        payload: body(
          observation.status,
          contacts.slice(0, included).map((c) => record(c)),
        ),
        observedAt: 0,
      });
      return;
    case "pending-poll":
      log.append("poll.observed", {
        enrichmentId: ENRICHMENT,
        kind: "enrich",
        outcome: "pending",
        status: "IN_PROGRESS",
        httpStatus: 400,
        payload: null,
        observedAt: 0,
      });
      return;
    case "partial":
      // What a forceResults read would show: never final, never resolves anything.
      log.append("poll.observed", {
        enrichmentId: ENRICHMENT,
        kind: "enrich",
        outcome: "pending",
        status: "IN_PROGRESS",
        httpStatus: 200,
        payload: body(
          "IN_PROGRESS",
          contacts.slice(0, observation.upTo).map((c) => record(c)),
        ),
        observedAt: 0,
      });
      return;
  }
}

describe("reconciliation", () => {
  it("the first final record wins; later sightings are duplicates", () => {
    const log = new LogBuilder();
    const contacts = people(3);
    const keys = requestBatch(log, contacts);
    observe(log, contacts, { kind: "contact", index: 1 }, 3, 1);
    observe(log, contacts, { kind: "contact", index: 1 }, 3, 2);
    observe(log, contacts, { kind: "batch", status: "FINISHED" }, 3, 3);
    observe(log, contacts, { kind: "poll", status: "FINISHED" }, 3, 4);
    const resolved = log.ofType("contact.resolved");
    expect(resolved.map((e) => e.data.contactKey).sort()).toEqual([...keys].sort());
    expect(resolved.find((e) => e.data.contactKey === keys[1])?.data.via).toBe("contact-event");
    expect(resolved.find((e) => e.data.contactKey === keys[0])?.data.via).toBe("batch-event");
    // contact 1 seen again twice (contact event, batch) + the poll's 3 sightings
    expect(log.ofType("contact.duplicate")).toHaveLength(5);
    expect(log.ofType("enrichment.completed")).toHaveLength(1);
  });

  it("per-contact events never complete the batch on their own", () => {
    const log = new LogBuilder();
    const contacts = people(2);
    requestBatch(log, contacts);
    observe(log, contacts, { kind: "contact", index: 0 }, 2, 1);
    observe(log, contacts, { kind: "contact", index: 1 }, 2, 2);
    expect(log.ofType("contact.resolved")).toHaveLength(2);
    expect(log.ofType("enrichment.completed")).toHaveLength(0);
    observe(log, contacts, { kind: "batch", status: "FINISHED" }, 2, 3);
    expect(log.ofType("enrichment.completed")).toHaveLength(1);
  });

  for (const status of ["CREDITS_INSUFFICIENT", "CANCELED", "FINISHED"] as const) {
    it(`a final ${status} resolves contacts missing from data with that status and no record`, () => {
      const log = new LogBuilder();
      const contacts = people(4);
      const keys = requestBatch(log, contacts);
      observe(log, contacts, { kind: "poll", status }, 2, 1);
      const resolved = log.ofType("contact.resolved");
      expect(resolved).toHaveLength(4);
      const missing = resolved.filter((e) => e.data.record === null);
      expect(missing.map((e) => e.data.contactKey).sort()).toEqual([keys[2], keys[3]].sort());
      expect(missing.every((e) => e.data.status === status)).toBe(true);
      expect(resolved.every((e) => e.data.status === status)).toBe(true);
      expect(log.ofType("enrichment.completed")[0]?.data.status).toBe(status);
    });
  }

  it("a forceResults partial or a pending poll never resolves a contact", () => {
    const log = new LogBuilder();
    const contacts = people(3);
    requestBatch(log, contacts);
    observe(log, contacts, { kind: "partial", upTo: 2 }, 3, 1);
    observe(log, contacts, { kind: "pending-poll" }, 3, 2);
    expect(log.ofType("contact.resolved")).toHaveLength(0);
    expect(log.ofType("enrichment.completed")).toHaveLength(0);
  });

  it("keys records without correlation ids by fingerprint, duplicates of one person included", () => {
    const log = new LogBuilder();
    const base = people(3, false);
    const contacts = [base[0] as Person, base[1] as Person, { ...(base[0] as Person) }];
    const keys = requestBatch(log, contacts);
    expect(new Set(keys).size).toBe(3);
    observe(log, contacts, { kind: "contact", index: 0 }, 3, 1);
    observe(log, contacts, { kind: "contact", index: 2 }, 3, 2);
    observe(log, contacts, { kind: "batch", status: "FINISHED" }, 3, 3);
    expect(
      log
        .ofType("contact.resolved")
        .map((e) => e.data.contactKey)
        .sort(),
    ).toEqual([...keys].sort());
  });

  it("links a delivery to a batch whose accepted event was never written, by its correlation ids", () => {
    const log = new LogBuilder();
    const contacts = people(2);
    const keys = requestBatch(log, contacts, { accepted: false });
    observe(log, contacts, { kind: "batch", status: "FINISHED" }, 1, 1);
    const accepted = log.ofType("enrichment.accepted");
    expect(accepted).toHaveLength(1);
    expect(accepted[0]?.data).toMatchObject({ batchId: BATCH, enrichmentId: ENRICHMENT });
    const resolved = log.ofType("contact.resolved");
    expect(resolved.map((e) => e.data.contactKey).sort()).toEqual([...keys].sort());
    expect(resolved.every((e) => e.data.jobId === "job")).toBe(true);
  });

  it("property: any interleaving of webhook, poll and duplicate observations gives the same results, each contact once", () => {
    const finals = fc.constantFrom("batch", "poll");
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 7 }).map((i) => ({ kind: "contact" as const, index: i })),
            finals.map((kind) => ({ kind })),
          ),
          { maxLength: 20 },
        ),
        fc.boolean(),
        (size, raw, correlated) => {
          const contacts = people(size, correlated);
          const observations: Observation[] = raw.map((o) =>
            o.kind === "contact"
              ? { kind: "contact", index: o.index % size }
              : { kind: o.kind as "batch" | "poll", status: "FINISHED" },
          );
          // At least one final observation, somewhere in the sequence.
          observations.splice(raw.length % (observations.length + 1), 0, {
            kind: "batch",
            status: "FINISHED",
          });
          const log = new LogBuilder();
          const keys = requestBatch(log, contacts);
          for (const [n, observation] of observations.entries()) observe(log, contacts, observation, size, n);
          const resolved = log.ofType("contact.resolved");
          const resolvedKeys = resolved.map((e) => e.data.contactKey);
          expect(new Set(resolvedKeys).size).toBe(resolvedKeys.length);
          expect([...resolvedKeys].sort()).toEqual([...keys].sort());
          for (const event of resolved) {
            const index = keys.indexOf(event.data.contactKey);
            expect(event.data.record).toEqual(record(contacts[index] as Person));
          }
          expect(log.ofType("enrichment.completed")).toHaveLength(1);
          const sightings = observations.reduce((sum, o) => sum + (o.kind === "contact" ? 1 : size), 0);
          expect(resolved.length + log.ofType("contact.duplicate").length).toBe(sightings);
        },
      ),
      { numRuns: 300 },
    );
  });
});
