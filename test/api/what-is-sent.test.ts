import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { InvalidRequestError } from "../../src/api/errors.js";
import { DEFAULT_ENRICH_FIELDS, emailProblem, ReverseContactSchema } from "../../src/api/request-schemas.js";
import { prepareContacts } from "../../src/engine/batches.js";
import { contactIdentity } from "../../src/events/contact-identity.js";

/** Strict with what is sent: explicit enrich_fields on every contact, and a light check of reverse emails. */

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

  it("a job's contacts carry their own fields, else the job's, else the default; reverse lookups none", () => {
    const none = prepareContacts("enrich", [ada], { batchSize: 10, correlationKey: "_fxr" });
    const jobFields = prepareContacts(
      "enrich",
      [ada, { ...ada, enrich_fields: ["contact.personal_emails"] }],
      { batchSize: 10, correlationKey: "_fxr", enrichFields: ["contact.phones"] },
    );
    const reverse = prepareContacts("reverse", [{ email: "ada@example.com" }], {
      batchSize: 10,
      correlationKey: "_fxr",
    });
    expect(none.map((contact) => contact.enrich_fields)).toEqual([["contact.work_emails"]]);
    expect(jobFields.map((contact) => contact.enrich_fields)).toEqual([
      ["contact.phones"],
      ["contact.personal_emails"],
    ]);
    expect(reverse.map((contact) => contact.enrich_fields)).toEqual([undefined]);
  });

  it("the default is part of a contact's identity: given without fields, it is the contact that names the default", () => {
    const options = { batchSize: 10, correlationKey: "_fxr" };
    const [implicit] = prepareContacts("enrich", [ada], options);
    const [explicit] = prepareContacts(
      "enrich",
      [{ ...ada, enrich_fields: [...DEFAULT_ENRICH_FIELDS] }],
      options,
    );
    const [phones] = prepareContacts("enrich", [{ ...ada, enrich_fields: ["contact.phones"] }], options);
    const identity = (contact: Record<string, unknown> | undefined) =>
      contactIdentity("enrich", contact ?? {}, "_fxr");
    expect(identity(implicit)).toBe(identity(explicit));
    expect(identity(phones)).not.toBe(identity(implicit));
  });
});

describe("reverse lookups: a light email check, with an error naming the row", () => {
  it("accepts addresses a strict RFC check refuses but the provider may take", () => {
    for (const email of [
      "ada@bücher.example",
      "a&b=c@example.com",
      "o'brien+tag@example.co.uk",
      "ada@xn--bcher-kva.example",
      "用户@例子.广告",
    ]) {
      expect(emailProblem(email), email).toBeNull();
      expect(ReverseContactSchema.safeParse({ email }).success, email).toBe(true);
    }
  });

  it("refuses what is no email address at all, saying why", () => {
    const cases: [string, RegExp][] = [
      ["ada.example.com", /has no @/],
      ["ada@lovelace@example.com", /more than one @/],
      ["@example.com", /nothing before the @/],
      ["ada@localhost", /a domain with a dot/],
      ["ada@.example", /a domain with a dot/],
      ["ada@example.", /a domain with a dot/],
      ["ada lovelace@example.com", /whitespace/],
      [" ada@example.com", /whitespace/],
    ];
    for (const [email, reason] of cases) expect(emailProblem(email), email).toMatch(reason);
  });

  it("one bad row is named by its index and field, with every other row's problem, before anything is sent", () => {
    const rows = [
      { email: "ok@example.com" },
      { email: "nope" },
      { email: "fine@exämple.de" },
      { email: "a b@c.d" },
    ];
    const error = (() => {
      try {
        prepareContacts("reverse", rows, { batchSize: 10, correlationKey: "_fxr" });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).issues).toEqual([
      { index: 1, field: "email", message: 'is not an email address: has no @ (got "nope")' },
      { index: 3, field: "email", message: 'is not an email address: contains whitespace (got "a b@c.d")' },
    ]);
    expect((error as Error).message).toContain("contact 1 (data[1]) email");
  });

  it("property: an address built as local@label.tld without whitespace or a second @ always passes", () => {
    const part = fc.string({ minLength: 1, maxLength: 12 }).filter((text) => !/[\s@.]/u.test(text));
    fc.assert(
      fc.property(part, part, part, (local, label, tld) => {
        expect(emailProblem(`${local}@${label}.${tld}`)).toBeNull();
      }),
    );
  });
});
