import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { correlationId } from "../../src/engine/batches.js";
import { resultsOf } from "../support/observations.js";
import { resolve, schemaNamed } from "../support/openapi.js";

/**
 * Records built from the OpenAPI's own schemas (RecordEnrichment, RecordReverseEmail and all they
 * refer to, Person included), with every field randomly present, `null` or missing, and unknown
 * keys added at every level: each one read by the client and reconciled must yield its contact's
 * result, carrying exactly what it held.
 */

type Json = Record<string, unknown>;

/** How deep the generated objects go (Person nests about 6 levels; deeper becomes null). */
const MAX_DEPTH = 7;

const extraKeys = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }).map((key) => `x_${key}`),
  fc.jsonValue({ maxDepth: 1 }),
  { maxKeys: 2 },
);

/** A value of `schema`; `optional`: it may also be null, or (as a property) left out. */
function arbitraryOf(schema: Json, depth: number): fc.Arbitrary<unknown> {
  const resolved = resolve(schema);
  if (depth > MAX_DEPTH) return fc.constant(null);
  if (Array.isArray(resolved.enum)) {
    // The documented values, and one the documentation does not list.
    return fc.oneof(fc.constantFrom(...(resolved.enum as unknown[])), fc.constant("NOT_DOCUMENTED"));
  }
  switch (resolved.type) {
    case "string":
      return fc.string({ maxLength: 24 });
    case "integer":
      return fc.integer();
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case "boolean":
      return fc.boolean();
    case "array":
      return fc.array(orNull(arbitraryOf(resolved.items as Json, depth + 1)), { maxLength: 3 });
    default: {
      const properties = (resolved.properties ?? {}) as Record<string, Json>;
      if (Object.keys(properties).length === 0)
        return fc.dictionary(fc.string({ maxLength: 8 }), fc.string());
      const fields = Object.fromEntries(
        Object.entries(properties).map(([name, property]) => [
          name,
          orNull(arbitraryOf(property, depth + 1)),
        ]),
      );
      return fc
        .tuple(fc.record(fields, { requiredKeys: [] }), extraKeys)
        .map(([known, extra]) => ({ ...extra, ...known }));
    }
  }
}

function orNull(arbitrary: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary }, { weight: 1, arbitrary: fc.constant(null) });
}

/**
 * A record of the schema whose `custom` echoes what was sent (the provider returns it unchanged):
 * the contact's correlation id and the caller's own key.
 */
function recordOf(schemaName: string): fc.Arbitrary<Json> {
  const sent = { crm_id: "42", _fxr: correlationId("b-observed", 0) };
  // Through JSON once, as any body is (-0 becomes 0).
  return (arbitraryOf(schemaNamed(schemaName), 0) as fc.Arbitrary<Json>).map(
    (record) => JSON.parse(JSON.stringify({ ...record, custom: sent })) as Json,
  );
}

let next: Json = {};
const client = new FullEnrichClient({
  apiKey: "records-key",
  baseUrl: "https://app.fullenrich.com/api/v2",
  rateLimit: 1_000_000,
  fetch: async () =>
    new Response(JSON.stringify(next), { status: 200, headers: { "content-type": "application/json" } }),
});
afterAll(() => client.close());

const contact = { first_name: "Ada", last_name: "Lovelace", domain: "example.com", custom: { crm_id: "42" } };
const reverseContact = { email: "ada@example.com", custom: { crm_id: "42" } };

/** Null and absent alike: a result says null where the provider sent nothing. */
const present = (value: unknown): unknown => value ?? null;

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** What a result must say of a contact_info: the same, less list entries that are not objects. */
function expectedContactInfo(info: unknown): unknown {
  if (!isObject(info)) return null;
  const lists = ["work_emails", "personal_emails", "phones"].filter((key) => Array.isArray(info[key]));
  return {
    ...info,
    ...Object.fromEntries(lists.map((key) => [key, (info[key] as unknown[]).filter(isObject)])),
  };
}

for (const [schemaName, kind, submitted] of [
  ["RecordEnrichment", "enrich", contact],
  ["RecordReverseEmail", "reverse", reverseContact],
] as const) {
  describe(`${schemaName} from the OpenAPI, optional fields randomly null, missing or extra`, () => {
    it("parses (client) and yields one result for its contact, with exactly its contact_info and profile", async () => {
      await fc.assert(
        fc.asyncProperty(recordOf(schemaName), fc.constantFrom("data", "datas"), async (record, list) => {
          next = { id: "e-observed", status: "FINISHED", cost: { credits: 1 }, [list]: [record] };
          const outcome = await client.getResult(kind, "e-observed");
          if (outcome.state !== "done") throw new Error(`expected done, got ${outcome.state}`);
          expect(outcome.raw).toEqual(next);
          const keyed = {
            ...submitted,
            custom: { ...submitted.custom, _fxr: correlationId("b-observed", 0) },
          };
          for (const via of ["poll", "batch-event", "contact-event"] as const) {
            const body = via === "contact-event" ? { ...outcome.raw, status: "IN_PROGRESS" } : outcome.raw;
            const { results } = resultsOf({ kind, contacts: [keyed], observations: [{ via, body }] });
            expect(results).toHaveLength(1);
            const [result] = results;
            expect(result?.contactKey).toBe(`c:${correlationId("b-observed", 0)}`);
            expect(result?.custom).toEqual({ crm_id: "42" });
            expect(result?.contactInfo).toEqual(expectedContactInfo(record.contact_info));
            expect(result?.profile).toEqual(present(record.profile));
            expect(result?.status).toBe("FINISHED");
            expect(result?.via).toBe(via);
          }
        }),
        { numRuns: 150 },
      );
    });
  });
}
