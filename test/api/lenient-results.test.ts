import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient, type ResultOutcome } from "../../src/api/client.js";
import { ServerError, UnexpectedResponseError } from "../../src/api/errors.js";
import {
  ContactInfoSchema,
  EnrichmentResultSchema,
  isUnknownStatus,
} from "../../src/api/response-schemas.js";

/**
 * The client reading results the way integrators report the live API sends them: every answer comes
 * from a fake `fetch` holding exactly the body under test (no simulator, so nothing is shared with
 * the library's own idea of the provider).
 */

const clients: FullEnrichClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function answering(status: number, body: unknown, contentType = "application/json"): FullEnrichClient {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const client = new FullEnrichClient({
    apiKey: "lenient-key",
    baseUrl: "http://provider.test/api/v2",
    retries: 0,
    fetch: async () => new Response(text, { status, headers: { "content-type": contentType } }),
  });
  clients.push(client);
  return client;
}

const ID = "2db5ea61-1752-42cf-8ea1-ab1da060cd0a";

const liveRecord = {
  input: { first_name: "Ada", last_name: "Lovelace", company_domain: "example.com", full_name: null },
  custom: { crm_id: "42" },
  contact_info: {
    most_probable_work_email: { email: "ada@example.com", status: null, source: "vendor-3" },
    most_probable_personal_email: null,
    most_probable_phone: { number: "+44 7700 900123", region: null },
    work_emails: [
      { email: "ada@example.com", status: "DELIVERABLE" },
      { email: "a.lovelace@example.com", status: "INVALID" },
      { email: "ada@example.co", status: "INVALID_DOMAIN" },
      { email: "contact@example.com", status: "CATCH_ALL" },
    ],
    personal_emails: null,
    phones: [{ number: "+44 7700 900123", region: null, line_type: "mobile" }],
    confidence: 0.9,
  },
  profile: { full_name: "Ada Lovelace", employment: { current: { start_at: "2024-1-0T00:00:00Z" } } },
  enriched_at: "2024-1-0T00:00:00Z",
};

async function outcome(
  client: FullEnrichClient,
  kind: "enrich" | "reverse" = "enrich",
): Promise<ResultOutcome> {
  return client.getResult(kind, ID);
}

describe("reading a result: fail only on what the library needs", () => {
  it("reads nulls, unknown fields, INVALID/INVALID_DOMAIN/CATCH_ALL entries and several emails per list", async () => {
    const body = { id: ID, name: null, status: "FINISHED", cost: { credits: null }, data: [liveRecord] };
    const result = await outcome(answering(200, body));
    if (result.state !== "done") throw new Error(`expected done, got ${result.state}`);
    expect(result.result.data).toHaveLength(1);
    expect(result.result.data[0]?.contact_info).toEqual(liveRecord.contact_info);
    expect(result.result.data[0]?.profile).toEqual(liveRecord.profile);
    expect(result.result.cost).toEqual({ credits: null });
    expect(result.raw).toEqual(body);
  });

  it("an empty contact_info, or none, is a record with nothing found", async () => {
    const body = {
      id: ID,
      status: "FINISHED",
      data: [
        { input: { email: "nobody@example.org" }, custom: {}, contact_info: {} },
        { input: { first_name: "No", last_name: "One", company_domain: "example.com" }, contact_info: null },
      ],
    };
    const result = await outcome(answering(200, body));
    if (result.state !== "done") throw new Error(`expected done, got ${result.state}`);
    expect(result.result.data.map((record) => record.contact_info)).toEqual([{}, null]);
  });

  it("a `datas` body (v1) is read as `data`", async () => {
    const result = await outcome(answering(200, { id: ID, status: "FINISHED", datas: [liveRecord] }));
    if (result.state !== "done") throw new Error(`expected done, got ${result.state}`);
    expect(result.result.data).toHaveLength(1);
    expect(result.raw).toHaveProperty("datas");
  });

  it("keeps list entries that do not parse in the raw body, and skips them in what it reads", async () => {
    const odd = {
      ...liveRecord,
      contact_info: {
        most_probable_work_email: "ada@example.com",
        work_emails: ["ada@example.com", { email: "ada@example.com", status: "DELIVERABLE" }, 7, null],
        phones: { number: "+1" },
      },
    };
    const body = { id: ID, status: "FINISHED", data: [odd, "not a record", null, { contact_info: {} }] };
    const result = await outcome(answering(200, body));
    if (result.state !== "done") throw new Error(`expected done, got ${result.state}`);
    // Records that are not objects, or that say neither custom nor input, answer no contact.
    expect(result.result.data).toHaveLength(1);
    expect(result.result.data[0]?.contact_info).toEqual({
      most_probable_work_email: undefined,
      work_emails: [{ email: "ada@example.com", status: "DELIVERABLE" }],
      phones: undefined,
    });
    expect(result.raw).toEqual(body);
    expect(ContactInfoSchema.safeParse(odd.contact_info).success).toBe(true);
  });

  it("fails, saying where, only when the status is missing or data is not a list", async () => {
    for (const body of [
      { id: ID, data: [] },
      { id: ID, status: "FINISHED", data: { input: {} } },
    ]) {
      const error = await outcome(answering(200, body)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnexpectedResponseError);
    }
    const error = (await outcome(answering(200, { id: ID, data: [] })).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/status: missing/);
    const notList = (await outcome(answering(200, { id: ID, status: "FINISHED", data: "x" })).catch(
      (e: unknown) => e,
    )) as Error;
    expect(notList.message).toMatch(/data: expected a list of records, got string/);
  });
});

describe("not yet: every way the provider says it", () => {
  it("200 CREATED and 200 IN_PROGRESS with `data: null`, for both kinds", async () => {
    for (const kind of ["enrich", "reverse"] as const) {
      for (const status of ["CREATED", "IN_PROGRESS"]) {
        const result = await outcome(answering(200, { id: ID, status, cost: null, data: null }), kind);
        expect(result).toEqual({ state: "pending", status, httpStatus: 200 });
      }
    }
  });

  it("any 400 whose code ends in `.in_progress`: the documented one, and a reverse lookup's own", async () => {
    for (const code of [
      "error.enrichment.in_progress",
      "error.reverse.email.in_progress",
      "error.bulk.in_progress",
    ]) {
      const result = await outcome(answering(400, { code, message: "not ready" }), "reverse");
      expect(result).toEqual({ state: "pending", status: "IN_PROGRESS", httpStatus: 400 });
    }
    const other = await outcome(answering(400, { code: "error.enrichment.progress", message: "" })).catch(
      (e: unknown) => e,
    );
    expect(other).toMatchObject({ status: 400, code: "error.enrichment.progress" });
  });

  it("RATE_LIMIT, UNKNOWN and statuses the documentation does not list are pending, never final", async () => {
    for (const status of ["RATE_LIMIT", "UNKNOWN", "QUEUED", "finished"]) {
      const result = await outcome(answering(200, { id: ID, status, data: [liveRecord] }));
      expect(result).toEqual({ state: "pending", status, httpStatus: 200 });
      expect(isUnknownStatus(status)).toBe(true);
    }
    for (const status of ["CREATED", "IN_PROGRESS", "FINISHED", "CANCELED", "CREDITS_INSUFFICIENT"]) {
      expect(isUnknownStatus(status)).toBe(false);
    }
  });
});

describe("error bodies that are not JSON", () => {
  it("a 5xx HTML page is a server error with the status alone", async () => {
    const error = await outcome(
      answering(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ status: 502, code: "" });
  });
});

describe("the result schema on its own", () => {
  it("a CANCELED body with `data: null` is final with no records", () => {
    const parsed = EnrichmentResultSchema.parse({ id: ID, status: "CANCELED", data: null, datas: null });
    expect(parsed.data).toEqual([]);
  });
});
