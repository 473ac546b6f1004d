import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { DEFAULT_ENRICH_FIELDS } from "../../src/api/request-schemas.js";
import { keyPreparedBatch, prepareBatches } from "../../src/engine/batches.js";

/** Strict with what is sent: explicit enrich_fields on every contact. */

const clients: FullEnrichClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

/** A client whose provider accepts everything and records each POST body. */
function recordingClient(): { client: FullEnrichClient; bodies: Record<string, unknown>[] } {
  const bodies: Record<string, unknown>[] = [];
  const client = new FullEnrichClient({
    apiKey: "sent-key",
    baseUrl: "http://provider.test/api/v2",
    fetch: async (_url, init) => {
      bodies.push(JSON.parse(String(init.body)) as Record<string, unknown>);
      return new Response(JSON.stringify({ enrichment_id: "e-1" }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    },
  });
  clients.push(client);
  return { client, bodies };
}

const ada = { first_name: "Ada", last_name: "Lovelace", domain: "example.com" };
const keying = { correlationKey: "_fxr", idField: null };

describe("enrich_fields is always sent explicitly", () => {
  it("the documented default is work emails only", () => {
    expect(DEFAULT_ENRICH_FIELDS).toEqual(["contact.work_emails"]);
  });

  it("the client sends the default for a contact that lists none, and a contact's own fields as given", async () => {
    const { client, bodies } = recordingClient();
    await client.startEnrichment({
      name: "fields",
      data: [ada, { ...ada, first_name: "Alan", enrich_fields: ["contact.phones"] }],
    });
    const data = bodies[0]?.data as { enrich_fields?: unknown }[];
    expect(data.map((contact) => contact.enrich_fields)).toEqual([
      ["contact.work_emails"],
      ["contact.phones"],
    ]);
  });

  it("a job's batches carry the contact's fields, else the job's, else the default; reverse lookups none", () => {
    const none = prepareBatches("enrich", [ada], { batchSize: 10, correlationKey: "_fxr" });
    const jobFields = prepareBatches(
      "enrich",
      [ada, { ...ada, enrich_fields: ["contact.personal_emails"] }],
      {
        batchSize: 10,
        correlationKey: "_fxr",
        enrichFields: ["contact.phones"],
      },
    );
    const reverse = prepareBatches("reverse", [{ email: "ada@example.com" }], {
      batchSize: 10,
      correlationKey: "_fxr",
    });
    const sent = (batch: (typeof none)[number]) =>
      keyPreparedBatch(batch, "b", keying).submitted.map((contact) => contact.enrich_fields);
    expect(sent(none[0] as (typeof none)[number])).toEqual([["contact.work_emails"]]);
    expect(sent(jobFields[0] as (typeof none)[number])).toEqual([
      ["contact.phones"],
      ["contact.personal_emails"],
    ]);
    expect(sent(reverse[0] as (typeof none)[number])).toEqual([undefined]);
  });

  it("the default is added to what is sent, not to the job's contacts digest (a job recorded before keeps its digest)", () => {
    const [batch] = prepareBatches("enrich", [ada], { batchSize: 10, correlationKey: "_fxr" });
    expect(batch?.contacts).toEqual([ada]);
    const again = prepareBatches("enrich", [{ ...ada }], { batchSize: 10, correlationKey: "_fxr" });
    expect(again[0]?.contactsDigest).toBe(batch?.contactsDigest);
  });
});
