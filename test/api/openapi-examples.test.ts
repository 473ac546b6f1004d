import { afterEach, describe, expect, it } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import { ApiError, NotFoundError, RateLimitedError, UnauthorizedError } from "../../src/api/errors.js";
import { StartEnrichmentRequestSchema } from "../../src/api/request-schemas.js";
import { parseEvent } from "../../src/events/event-types.js";
import { MemoryEventStore } from "../../src/events/stores/memory-store.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { type Observation, resultsOf } from "../support/observations.js";
import { openapi, type ResponseExample, responseExamples } from "../support/openapi.js";
import { signedHeaders } from "../webhooks/helpers.js";

/**
 * A second source of truth next to the simulator: every example response of the provider's public
 * OpenAPI for the endpoints fullenrich-rx calls is answered to the client by a fake `fetch`, and
 * every result body among them is reconciled into results (as a poll, as a batch webhook, and
 * record by record as per-contact webhooks), and stored by the webhook receiver.
 */

type Json = Record<string, unknown>;
const KEY = "fe_test_webhook_key_0123456789";
const ID = "2db5ea61-1752-42cf-8ea1-ab1da060cd0a";
const examples = responseExamples();

const clients: FullEnrichClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function answering(example: ResponseExample): { client: FullEnrichClient; calls: () => number } {
  let calls = 0;
  const client = new FullEnrichClient({
    apiKey: KEY,
    baseUrl: "https://app.fullenrich.com/api/v2",
    retries: 0,
    fetch: async () => {
      calls++;
      return new Response(JSON.stringify(example.body), {
        status: example.status,
        headers: { "content-type": "application/json" },
      });
    },
  });
  clients.push(client);
  return { client, calls: () => calls };
}

const kindOf = (example: ResponseExample) => (example.path.includes("reverse") ? "reverse" : "enrich");

/** The client call that the example answers. */
function callFor(example: ResponseExample, client: FullEnrichClient): Promise<unknown> {
  const kind = kindOf(example);
  if (example.path.endsWith("{enrichment_id}")) return client.getResult(kind, ID);
  if (example.path === "/account/credits") return client.getCredits();
  if (example.path === "/account/keys/verify") return client.verifyKey();
  return kind === "enrich"
    ? client.startEnrichment({
        name: "openapi",
        data: [{ first_name: "John", last_name: "Snow", domain: "example.com" }],
      })
    : client.startReverseLookup({ name: "openapi", data: [{ email: "john.snow@example.com" }] });
}

/** The contacts of a batch that asked for exactly what a result body answers, rebuilt from its echo. */
function contactsAnswered(records: Json[]): Json[] {
  return records.map((record) => {
    const input = record.input as Record<string, string>;
    const custom = record.custom as Record<string, string>;
    if (input.email !== undefined) return { email: input.email, custom };
    return {
      first_name: input.first_name,
      last_name: input.last_name,
      domain: input.company_domain,
      company_name: input.company_name,
      linkedin_url: input.professional_network_url,
      custom,
    };
  });
}

describe("the OpenAPI's example responses", () => {
  it("are found: every endpoint fullenrich-rx calls has some, and results have records", () => {
    expect(examples.length).toBeGreaterThanOrEqual(25);
    const results = examples.filter((example) => example.status === 200);
    expect(results.map((example) => `${example.method} ${example.path}`).sort()).toEqual([
      "get /contact/enrich/bulk/{enrichment_id}",
      "get /contact/reverse/email/bulk/{enrichment_id}",
    ]);
  });

  for (const example of examples) {
    const title = `${example.method.toUpperCase()} ${example.path} ${example.status} ${example.name}`;
    it(`${title}: read as the library must`, async () => {
      const { client, calls } = answering(example);
      const outcome = await callFor(example, client).catch((error: unknown) => error);
      const code = example.body.code;
      if (example.status === 200) {
        expect(outcome).toMatchObject({ state: "done", httpStatus: 200, raw: example.body });
      } else if (example.status === 400 && typeof code === "string" && code.endsWith(".in_progress")) {
        expect(outcome).toEqual({ state: "pending", status: "IN_PROGRESS", httpStatus: 400 });
      } else {
        const expected = {
          400: ApiError,
          401: UnauthorizedError,
          404: NotFoundError,
          429: RateLimitedError,
        }[example.status as 400 | 401 | 404 | 429];
        expect(expected, `no expectation for HTTP ${example.status}`).toBeDefined();
        expect(outcome).toBeInstanceOf(expected);
        expect(outcome).toMatchObject({ status: example.status, code });
        expect((outcome as Error).message).not.toContain(KEY);
      }
      // Never retried: not a 429 (retries are 0 here), not a 5xx, not a network error.
      expect(calls()).toBe(1);
    });
  }
});

describe("the OpenAPI's result bodies, reconciled into results", () => {
  for (const example of examples.filter((candidate) => candidate.status === 200)) {
    const kind = kindOf(example);
    const records = (example.body.data ?? []) as Json[];
    const perContact = (record: Json): Json => ({ ...example.body, status: "IN_PROGRESS", data: [record] });
    const ways: Record<string, Observation[]> = {
      "a poll": [{ via: "poll", body: example.body }],
      "the batch webhook": [{ via: "batch-event", body: example.body }],
      "per-contact webhooks, then the batch webhook": [
        ...records.map((record): Observation => ({ via: "contact-event", body: perContact(record) })),
        { via: "batch-event", body: example.body },
      ],
    };
    for (const [way, observations] of Object.entries(ways)) {
      it(`${example.path} by ${way}: one result per record, with its contact_info, profile and custom`, () => {
        for (const contacts of [contactsAnswered(records), undefined]) {
          const { results, completed } = resultsOf({ kind, observations, ...(contacts ? { contacts } : {}) });
          expect(completed).toBe(true);
          expect(results).toHaveLength(records.length);
          results.forEach((result, index) => {
            const record = records[index] as Json;
            expect(result.kind).toBe(kind);
            expect(result.contactInfo).toEqual(record.contact_info ?? null);
            expect(result.profile).toEqual(record.profile ?? null);
            expect(result.custom).toEqual(record.custom);
            expect(result.found).toBe(true);
            if (contacts) expect(result.input).toEqual(contacts[index]);
          });
          // Per-contact events resolve with FINISHED; the batch with its own final status.
          const via = way.startsWith("per-contact")
            ? "contact-event"
            : way === "a poll"
              ? "poll"
              : "batch-event";
          expect(results.map((result) => [result.via, result.status])).toEqual(
            records.map(() => [via, via === "contact-event" ? "FINISHED" : example.body.status]),
          );
        }
      });
    }

    it(`${example.path}: stored by the webhook receiver as the batch event and as per-contact events`, async () => {
      const store = new MemoryEventStore();
      const receiver = new WebhookReceiver({ store, apiKeys: [KEY] });
      for (const body of [example.body, ...records.map(perContact)]) {
        const raw = Buffer.from(JSON.stringify(body));
        const answer = await receiver.receive({ rawBody: raw, headers: signedHeaders(raw, KEY) });
        expect(JSON.parse(answer.body)).toEqual({ status: "accepted" });
      }
      await receiver.whenParsed();
      const events = (await store.read()).map(parseEvent).filter((event) => event.type !== "webhook.stored");
      expect(
        events.map((event) => (event.type === "webhook.received" ? event.data.event : event.type)),
      ).toEqual(["batch", ...records.map(() => "contact")]);
      receiver.close();
    });
  }
});

describe("the OpenAPI's request example", () => {
  it("is a request fullenrich-rx accepts as it is (the endpoint's own example)", () => {
    const operation = openapi.paths["/contact/enrich/bulk"]?.post as Json;
    const example = ((operation.requestBody as Json).content as Record<string, Json>)["application/json"]
      ?.example;
    expect(StartEnrichmentRequestSchema.safeParse(example).success).toBe(true);
  });
});
