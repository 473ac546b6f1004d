import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FullEnrichClient } from "../../src/api/client.js";
import {
  ApiError,
  InvalidRequestError,
  NotFoundError,
  OutcomeUnknownError,
  RateLimitedError,
  UnauthorizedError,
} from "../../src/api/errors.js";
import { EnrichContactSchema } from "../../src/api/request-schemas.js";
import {
  ContactInfoSchema,
  EMAIL_STATUSES,
  ENRICHMENT_STATUSES,
  EnrichmentResultSchema,
  isFinalStatus,
  isUnknownStatus,
} from "../../src/api/response-schemas.js";
import { correlationId } from "../../src/engine/batches.js";
import { DEFAULT_TIMINGS, firstPollDelay, webhookDeadline } from "../../src/engine/timings.js";
import { contactKeyOf, keyBatch } from "../../src/events/contact-key.js";
import type { EventStore } from "../../src/events/store.js";
import { MemoryEventStore } from "../../src/events/stores/index.js";
import { parseDelivery } from "../../src/webhooks/delivery-payload.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { resultsOf } from "../support/observations.js";
import { contacts, useVirtualTime, virtualWorld } from "../support/virtual-world.js";
import { sign, signedHeaders } from "../webhooks/helpers.js";

/**
 * One test per rule of the team's notes on the provider (`API-NOTES.md`, copied in test/fixtures):
 * each test's name quotes its rule, and the first test checks that every rule of the notes has one.
 */

type Json = Record<string, unknown>;

/** Each rule: its id, and words quoted from it (unique among the notes' bullets). */
const RULES = {
  "jobs.start": '`POST /contact/enrich/bulk` → `200 {"enrichment_id": uuid}`',
  "jobs.contact": "A contact: `first_name`, `last_name`, `domain`",
  "jobs.custom": "`custom`: at most 10 keys",
  "jobs.reverse": "`POST /contact/reverse/email/bulk`: the same envelope",
  "jobs.timing": "Processing takes typically 30–90 s per contact",
  "results.get": "`GET /contact/enrich/bulk/{id}` (and `/contact/reverse/email/bulk/{id}`)",
  "results.200": "`200` → `{id, name, status, cost: {credits}, data: [record]}` when done",
  "results.not-yet": '`400 {"code":"error.enrichment.in_progress"}` while still running',
  "results.402": "`402` → the full result body with status `CREDITS_INSUFFICIENT`",
  "results.404": "`404` → unknown id, or older than the 3-month retention",
  "results.force": "`?forceResults=true` → what was found so far",
  "results.statuses":
    "status ∈ `CREATED IN_PROGRESS CANCELED CREDITS_INSUFFICIENT FINISHED RATE_LIMIT UNKNOWN`",
  "results.record": "A record: `input` (echo, renamed",
  "results.join": "Records carry no per-contact id",
  "results.lenient": "Be strict with what you send and lenient with what you receive",
  "webhooks.batch": "`webhook_url` receives one POST when the batch ends",
  "webhooks.contact": "`webhook_events.contact_finished` receives one POST per contact",
  "webhooks.signature": "Signature: header `X-Signature-SHA1`",
  "webhooks.delivery": "Delivery: any non-2xx (or no answer) is retried every minute, up to 5 times",
  "limits.rate": "60 API calls per minute for the whole account",
  "limits.errors": "Errors are `{code, message}` with `application/json`",
  "limits.idempotency": "There is no idempotency key on POST",
  "limits.advice": "The provider advises webhooks over polling",
  "limits.account": "`GET /account/credits` → `{balance}`",
} as const;
type RuleId = keyof typeof RULES;

/** A test named after its rule: `[id] "quote"` and what the library does about it. */
function rule(id: RuleId, does: string, body: () => Promise<void> | void): void {
  it(`[${id}] "${RULES[id]}": ${does}`, body);
}

/** The notes' rules: every bullet (nested ones too), its continuation lines joined. */
function bulletsOfNotes(): string[] {
  const text = readFileSync(fileURLToPath(new URL("../fixtures/API-NOTES.md", import.meta.url)), "utf8");
  const bullets: string[] = [];
  for (const line of text.split("\n")) {
    if (/^\s*- /.test(line)) bullets.push(line.replace(/^\s*- /, ""));
    else if (/^\s+\S/.test(line) && bullets.length > 0) bullets[bullets.length - 1] += ` ${line.trim()}`;
  }
  return bullets;
}

// --- a provider that answers what each test says, and records what it was sent -----------------

interface Sent {
  method: string;
  url: string;
  body: Json | undefined;
}

const clients: FullEnrichClient[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function provider(
  answer: (sent: Sent, index: number) => { status: number; body: unknown },
  options: Partial<ConstructorParameters<typeof FullEnrichClient>[0]> = {},
): { client: FullEnrichClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const client = new FullEnrichClient({
    apiKey: "notes-key",
    baseUrl: "https://app.fullenrich.com/api/v2",
    retries: 0,
    fetch: async (url, init) => {
      const request = {
        method: init.method ?? "GET",
        url,
        body: init.body === undefined ? undefined : (JSON.parse(String(init.body)) as Json),
      };
      sent.push(request);
      const { status, body } = answer(request, sent.length - 1);
      return new Response(typeof body === "string" ? body : JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json" },
      });
    },
    ...options,
  });
  clients.push(client);
  return { client, sent };
}

const ok = (body: unknown) => () => ({ status: 200, body });
const ID = "2db5ea61-1752-42cf-8ea1-ab1da060cd0a";
const ada = { first_name: "Ada", last_name: "Lovelace", domain: "example.com" };
const record = (extra: Json = {}): Json => ({
  input: { first_name: "Ada", last_name: "Lovelace", company_domain: "example.com" },
  custom: { crm_id: "1" },
  contact_info: { most_probable_work_email: { email: "ada@example.com", status: "DELIVERABLE" } },
  ...extra,
});

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("API-NOTES.md, rule by rule", () => {
  it("has a test for every rule of the notes, and no test for a rule they do not hold", () => {
    const bullets = bulletsOfNotes();
    expect(bullets.length).toBe(Object.keys(RULES).length);
    for (const bullet of bullets) {
      const ids = (Object.keys(RULES) as RuleId[]).filter((id) => bullet.includes(RULES[id]));
      expect(ids, bullet).toHaveLength(1);
    }
  });

  // --- Jobs are asynchronous ---------------------------------------------------------------------

  rule(
    "jobs.start",
    "POSTs name, webhook URLs and 1..100 contacts, reads the id, refuses the rest unsent",
    async () => {
      const { client, sent } = provider(ok({ enrichment_id: ID }));
      const started = await client.startEnrichment({
        name: "leads",
        webhook_url: "https://hooks.example.com/batch",
        webhook_events: { contact_finished: "https://hooks.example.com/contact" },
        data: [ada],
      });
      expect(started.enrichment_id).toBe(ID);
      expect(sent[0]).toMatchObject({
        method: "POST",
        url: "https://app.fullenrich.com/api/v2/contact/enrich/bulk",
        body: { name: "leads", webhook_events: { contact_finished: "https://hooks.example.com/contact" } },
      });
      for (const request of [
        { name: "", data: [ada] },
        { name: "x", data: [] },
        { name: "x", data: Array.from({ length: 101 }, () => ada) },
      ]) {
        expect(await caught(client.startEnrichment(request))).toBeInstanceOf(InvalidRequestError);
      }
      expect(sent).toHaveLength(1);
    },
  );

  rule(
    "jobs.contact",
    "names with a domain or company, or a linkedin_url; enrich_fields among the three",
    () => {
      const valid = [
        ada,
        { first_name: "Ada", last_name: "Lovelace", company_name: "Analytical Engines" },
        { linkedin_url: "https://www.linkedin.com/in/ada" },
        { ...ada, enrich_fields: ["contact.work_emails", "contact.personal_emails", "contact.phones"] },
      ];
      for (const contact of valid)
        expect(EnrichContactSchema.safeParse(contact).success, JSON.stringify(contact)).toBe(true);
      const invalid = [
        { first_name: "Ada", domain: "example.com" },
        { first_name: "Ada", last_name: "Lovelace" },
        { ...ada, enrich_fields: ["contact.emails"] },
        { ...ada, twitter: "@ada" },
      ];
      for (const contact of invalid)
        expect(EnrichContactSchema.safeParse(contact).success, JSON.stringify(contact)).toBe(false);
    },
  );

  rule(
    "jobs.custom",
    "10 keys, 100 characters, strings only (checked before sending); echoed back unchanged",
    async () => {
      const { client, sent } = provider(ok({ enrichment_id: ID }));
      const custom = (entries: [string, unknown][]) => ({ ...ada, custom: Object.fromEntries(entries) });
      for (const contact of [
        custom(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"])),
        custom([["note", "x".repeat(101)]]),
        custom([["crm_id", 42]]),
      ]) {
        expect(
          await caught(client.startEnrichment({ name: "x", data: [contact as typeof ada] })),
        ).toBeInstanceOf(InvalidRequestError);
      }
      expect(sent).toHaveLength(0);
      const mine = { crm_id: "1", note: "x".repeat(100) };
      const { results } = resultsOf({
        kind: "enrich",
        contacts: [{ ...ada, custom: { ...mine, _fxr: correlationId("b-observed", 0) } }],
        observations: [
          {
            via: "poll",
            body: {
              id: ID,
              status: "FINISHED",
              data: [record({ custom: { ...mine, _fxr: "b-observed.0" } })],
            },
          },
        ],
      });
      expect(results.map((result) => result.custom)).toEqual([mine]);
    },
  );

  rule("jobs.reverse", "POSTs {name, data: [{email, custom}]} to the reverse endpoint", async () => {
    const { client, sent } = provider(ok({ enrichment_id: ID }));
    await client.startReverseLookup({
      name: "emails",
      data: [{ email: "ada@example.com", custom: { crm_id: "1" } }],
    });
    expect(sent[0]).toEqual({
      method: "POST",
      url: "https://app.fullenrich.com/api/v2/contact/reverse/email/bulk",
      body: { name: "emails", data: [{ email: "ada@example.com", custom: { crm_id: "1" } }] },
    });
  });

  rule(
    "jobs.timing",
    "30–90 s per contact in the timings; at most 100 batches of a kind running at once",
    async () => {
      expect([DEFAULT_TIMINGS.contactMinMs, DEFAULT_TIMINGS.contactMaxMs]).toEqual([30_000, 90_000]);
      expect(firstPollDelay(DEFAULT_TIMINGS, 1)).toBeGreaterThan(30_000);
      expect(firstPollDelay(DEFAULT_TIMINGS, 100)).toBeLessThan(90_000);
      // 101 one-contact batches, in webhook mode: the engine (default maxRunning) never has more
      // than 100 running at the provider.
      useVirtualTime();
      const world = await virtualWorld({
        mode: "webhook",
        simulator: { rateLimit: 1_000 },
        client: { rateLimit: 1_000 },
      });
      try {
        const job = world.engine.enrich(contacts(101), { batchSize: 1 });
        await world.advance(10 * 60_000);
        expect((await job.summary).resolved).toBe(101);
        const enrichments = world.simulator.enrichments();
        expect(enrichments).toHaveLength(101);
        const last = enrichments[100] as (typeof enrichments)[number];
        const firstEnd = Math.min(...enrichments.slice(0, 100).map((e) => e.finishedAt as number));
        expect(last.createdAt).toBeGreaterThanOrEqual(firstEnd);
      } finally {
        await world.close();
      }
    },
  );

  // --- Results -----------------------------------------------------------------------------------

  rule("results.get", "reads enrichments and reverse lookups at their own GET paths", async () => {
    const { client, sent } = provider(ok({ id: ID, status: "FINISHED", data: [] }));
    await client.getResult("enrich", ID);
    await client.getResult("reverse", ID);
    expect(sent.map((request) => `${request.method} ${request.url}`)).toEqual([
      `GET https://app.fullenrich.com/api/v2/contact/enrich/bulk/${ID}`,
      `GET https://app.fullenrich.com/api/v2/contact/reverse/email/bulk/${ID}`,
    ]);
  });

  rule("results.200", "a 200 with a final status is done, with its records and credits", async () => {
    const body = { id: ID, name: "n", status: "FINISHED", cost: { credits: 3 }, data: [record()] };
    const outcome = await provider(ok(body)).client.getResult("enrich", ID);
    expect(outcome).toMatchObject({ state: "done", result: { status: "FINISHED", cost: { credits: 3 } } });
    expect(outcome.state === "done" ? outcome.result.data : []).toHaveLength(1);
  });

  rule(
    "results.not-yet",
    "the 400 in_progress, and a 200 CREATED/IN_PROGRESS without data, are both pending",
    async () => {
      const answers = [
        { status: 400, body: { code: "error.enrichment.in_progress", message: "Enrichment not ready" } },
        { status: 200, body: { id: ID, status: "CREATED" } },
        { status: 200, body: { id: ID, status: "IN_PROGRESS", data: null } },
      ];
      const { client } = provider((_sent, index) => answers[index] as { status: number; body: unknown });
      for (const answer of answers) {
        const outcome = await client.getResult("enrich", ID);
        expect(outcome).toMatchObject({ state: "pending", httpStatus: answer.status });
      }
    },
  );

  rule(
    "results.402",
    "a 402 body is a final CREDITS_INSUFFICIENT result; a 402 error envelope is an error",
    async () => {
      const body = { id: ID, status: "CREDITS_INSUFFICIENT", cost: { credits: 5 }, data: [record()] };
      const done = await provider(() => ({ status: 402, body })).client.getResult("enrich", ID);
      expect(done).toMatchObject({
        state: "done",
        httpStatus: 402,
        result: { status: "CREDITS_INSUFFICIENT" },
      });
      const envelope = { code: "error.credits", message: "no credits" };
      const error = await caught(
        provider(() => ({ status: 402, body: envelope })).client.getResult("enrich", ID),
      );
      expect(error).toMatchObject({ status: 402, code: "error.credits" });
    },
  );

  rule(
    "results.404",
    "a 404 is NotFoundError, not retried (the engine then fails the enrichment as not-found)",
    async () => {
      const { client, sent } = provider(
        () => ({
          status: 404,
          body: { code: "error.enrichment.not_found", message: "Enrichment ID not found" },
        }),
        { retries: 3 },
      );
      expect(await caught(client.getResult("enrich", ID))).toBeInstanceOf(NotFoundError);
      expect(sent).toHaveLength(1);
    },
  );

  rule(
    "results.force",
    "forceResults is asked in the query, and what it returns is never taken as final",
    async () => {
      const { client, sent } = provider(ok({ id: ID, status: "IN_PROGRESS", data: [record()] }));
      const outcome = await client.getResult("enrich", ID, { forceResults: true });
      expect(sent[0]?.url).toMatch(/\?forceResults=true$/);
      expect(outcome.state).toBe("partial");
    },
  );

  rule(
    "results.statuses",
    "the seven are known; three are final; any other string is read, and not final",
    () => {
      expect([...ENRICHMENT_STATUSES]).toEqual([
        "CREATED",
        "IN_PROGRESS",
        "CANCELED",
        "CREDITS_INSUFFICIENT",
        "FINISHED",
        "RATE_LIMIT",
        "UNKNOWN",
      ]);
      expect(ENRICHMENT_STATUSES.filter(isFinalStatus)).toEqual([
        "CANCELED",
        "CREDITS_INSUFFICIENT",
        "FINISHED",
      ]);
      expect(ENRICHMENT_STATUSES.filter(isUnknownStatus)).toEqual(["RATE_LIMIT", "UNKNOWN"]);
      expect(EnrichmentResultSchema.safeParse({ status: "SOMETHING_NEW", data: [] }).success).toBe(true);
      expect(isFinalStatus("SOMETHING_NEW")).toBe(false);
    },
  );

  rule(
    "results.record",
    "the renamed echo keys like the request; every email status reads; nothing found is still a result",
    () => {
      const keying = { correlationKey: null, idField: null };
      const request = { ...ada, linkedin_url: "https://www.linkedin.com/in/ada/" };
      const echo = {
        input: {
          first_name: "Ada",
          last_name: "Lovelace",
          full_name: "Ada Lovelace",
          company_domain: "example.com",
          professional_network_url: "https://www.linkedin.com/in/ada",
        },
      };
      expect(contactKeyOf(keying, echo, "record")).toBe(contactKeyOf(keying, request, "request"));
      const emails = EMAIL_STATUSES.map((status) => ({ email: "a@example.com", status }));
      expect(ContactInfoSchema.parse({ work_emails: emails }).work_emails).toEqual(emails);
      const { results } = resultsOf({
        kind: "enrich",
        contacts: [request],
        keying,
        observations: [{ via: "poll", body: { id: ID, status: "FINISHED", data: [{ input: echo.input }] } }],
      });
      expect(results).toMatchObject([{ found: false, contactInfo: null, status: "FINISHED" }]);
    },
  );

  rule("results.join", "records are joined by the correlation id in custom, else by the echoed input", () => {
    const withId = { correlationKey: "_fxr", idField: null };
    expect(contactKeyOf(withId, { custom: { _fxr: "b.3" }, input: {} }, "record")).toBe("c:b.3");
    const sent = [ada, { ...ada, first_name: "Alan" }];
    const echoes = [...sent].reverse().map((contact) => ({
      input: { first_name: contact.first_name, last_name: contact.last_name, company_domain: contact.domain },
    }));
    const keying = { correlationKey: null, idField: null };
    expect(keyBatch(keying, echoes, "record")).toEqual([...keyBatch(keying, sent, "request")].reverse());
  });

  rule(
    "results.lenient",
    "odd dates stay strings, `datas` is read, unknown keys stay; a contact field we do not know is never sent",
    () => {
      const body = {
        id: ID,
        status: "FINISHED",
        surprise: { nested: true },
        datas: [
          record({ profile: { employment: { current: { start_at: "2024-1-0T00:00:00Z" } } }, extra: 1 }),
        ],
      };
      const parsed = EnrichmentResultSchema.parse(body);
      expect(parsed).toMatchObject({ surprise: { nested: true } });
      expect(parsed.data[0]).toMatchObject({
        extra: 1,
        profile: { employment: { current: { start_at: "2024-1-0T00:00:00Z" } } },
      });
      expect(EnrichmentResultSchema.safeParse({ id: ID, data: [] }).success).toBe(false);
      expect(EnrichContactSchema.safeParse({ ...ada, professional_network_url: "x" }).success).toBe(false);
    },
  );

  // --- Webhooks ----------------------------------------------------------------------------------

  rule(
    "webhooks.batch",
    "a final delivery is the batch event, read like GET's body; it completes the batch",
    () => {
      for (const status of ["FINISHED", "CREDITS_INSUFFICIENT", "CANCELED"]) {
        const parsed = parseDelivery(JSON.stringify({ id: ID, status, data: [record()] }));
        expect(parsed).toMatchObject({ ok: true, delivery: { event: "batch", status } });
      }
      const { completed } = resultsOf({
        kind: "enrich",
        observations: [{ via: "batch-event", body: { id: ID, status: "CANCELED", data: [record()] } }],
      });
      expect(completed).toBe(true);
    },
  );

  rule(
    "webhooks.contact",
    "one IN_PROGRESS record is a contact event; with the batch event too, each contact is emitted once",
    () => {
      const one = record({ custom: { crm_id: "1", _fxr: "b-observed.0" } });
      expect(parseDelivery(JSON.stringify({ id: ID, status: "IN_PROGRESS", data: [one] }))).toMatchObject({
        ok: true,
        delivery: { event: "contact" },
      });
      const { results, log } = resultsOf({
        kind: "enrich",
        contacts: [{ ...ada, custom: { crm_id: "1", _fxr: "b-observed.0" } }],
        observations: [
          { via: "contact-event", body: { id: ID, status: "IN_PROGRESS", data: [one] } },
          { via: "batch-event", body: { id: ID, status: "FINISHED", data: [one] } },
        ],
      });
      expect(results.map((result) => result.via)).toEqual(["contact-event"]);
      expect(log.ofType("contact.duplicate")).toHaveLength(1);
    },
  );

  rule(
    "webhooks.signature",
    "checked before parsing (a bad one is 401, nothing stored); a replayed body is stored once",
    async () => {
      const store = new MemoryEventStore();
      const receiver = new WebhookReceiver({ store, apiKeys: ["workspace-key"] });
      const garbage = Buffer.from("{not json");
      const forged = await receiver.receive({
        rawBody: garbage,
        headers: { "x-signature-sha1": sign(garbage, "other") },
      });
      expect(forged.status).toBe(401);
      expect(await store.head()).toBe(0);
      const body = Buffer.from(JSON.stringify({ id: ID, status: "FINISHED", data: [record()] }));
      const headers = { "X-Signature-SHA1": sign(body, "workspace-key") };
      expect(JSON.parse((await receiver.receive({ rawBody: body, headers })).body)).toEqual({
        status: "accepted",
      });
      expect(JSON.parse((await receiver.receive({ rawBody: body, headers })).body)).toEqual({
        status: "duplicate",
      });
      expect(await store.head()).toBe(1);
      receiver.close();
    },
  );

  rule(
    "webhooks.delivery",
    "non-2xx while the store fails (so it is retried), the retry stored once; polling waits out 5 retries",
    async () => {
      const store = new MemoryEventStore();
      let failing = true;
      const flaky = new Proxy(store, {
        get(target, property, receiverOfGet) {
          if (property === "append" && failing) return async () => Promise.reject(new Error("disk full"));
          const value = Reflect.get(target, property, receiverOfGet);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }) as EventStore;
      const receiver = new WebhookReceiver({ store: flaky, apiKeys: ["k"] });
      const body = Buffer.from(JSON.stringify({ id: ID, status: "FINISHED", data: [record()] }));
      const first = await receiver.receive({ rawBody: body, headers: signedHeaders(body, "k") });
      expect(first.status).toBe(503);
      failing = false;
      const retry = await receiver.receive({ rawBody: body, headers: signedHeaders(body, "k") });
      expect(JSON.parse(retry.body)).toEqual({ status: "accepted" });
      expect(await store.head()).toBe(1);
      receiver.close();
      expect([DEFAULT_TIMINGS.webhookRetries, DEFAULT_TIMINGS.webhookRetryIntervalMs]).toEqual([5, 60_000]);
      // A batch waiting on webhooks is polled only after its expected finish and all 5 retries.
      expect(webhookDeadline(DEFAULT_TIMINGS, 0)).toBe(90_000 + 5 * 60_000 + DEFAULT_TIMINGS.fallbackSlackMs);
    },
  );

  // --- Limits and errors -------------------------------------------------------------------------

  rule(
    "limits.rate",
    "60 calls per sliding minute by default, every call counted; a 429 pauses and is retried",
    async () => {
      const { client } = provider(ok({ balance: 1 }));
      expect([client.limiter.budget.limit, client.limiter.budget.windowMs]).toEqual([60, 60_000]);
      const answers = [
        { status: 429, body: { code: "error.rate.limit", message: "Too many requests. Try again in 1m" } },
        { status: 200, body: { balance: 7 } },
      ];
      const retrying = provider((_sent, index) => answers[index] as { status: number; body: unknown }, {
        retries: 2,
        retryMinDelayMs: 1,
        retryMaxDelayMs: 2,
        rateLimitPauseMs: 1,
      });
      expect(await retrying.client.getCredits()).toEqual({ balance: 7 });
      expect(retrying.client.stats()).toMatchObject({ calls: 2, rateLimited: 1 });
      const spent = provider(() => ({ status: 429, body: answers[0]?.body }));
      expect(await caught(spent.client.getCredits())).toBeInstanceOf(RateLimitedError);
    },
  );

  rule(
    "limits.errors",
    "errors carry the provider's code and message; each 401 code is UnauthorizedError",
    async () => {
      for (const code of ["error.authorization.not_set", "error.authorization.not_bearer", "error.api.key"]) {
        const error = await caught(
          provider(() => ({ status: 401, body: { code, message: "no" } })).client.getCredits(),
        );
        expect(error).toBeInstanceOf(UnauthorizedError);
        expect(error).toMatchObject({ code });
      }
      const refused = await caught(
        provider(() => ({
          status: 400,
          body: { code: "error.enrichment.custom.key.exceeded", message: "too many" },
        })).client.startEnrichment({
          name: "x",
          data: [ada],
        }),
      );
      expect(refused).toBeInstanceOf(ApiError);
      expect(refused).not.toBeInstanceOf(OutcomeUnknownError);
      expect(refused).toMatchObject({
        status: 400,
        code: "error.enrichment.custom.key.exceeded",
        apiMessage: "too many",
      });
    },
  );

  rule(
    "limits.idempotency",
    "a POST answered 5xx is never retried, and says its outcome is unknown",
    async () => {
      const { client, sent } = provider(() => ({ status: 502, body: "<html>Bad Gateway</html>" }), {
        retries: 4,
      });
      const error = await caught(client.startEnrichment({ name: "x", data: [ada] }));
      expect(error).toBeInstanceOf(OutcomeUnknownError);
      expect(sent).toHaveLength(1);
    },
  );

  // The same rule also says "when polling, no more often than every few minutes": fullenrich-rx's
  // polling does not follow that, on purpose (first poll when the batch may be done, then 5 s growing
  // to 60 s, within the account's 60 calls a minute; README, "Modes"). Nothing here claims otherwise.
  rule(
    "limits.advice",
    "with a webhook URL it waits on webhooks (no GET); identical contacts of a bulk each get their result",
    async () => {
      useVirtualTime();
      const world = await virtualWorld({ mode: "webhook" });
      try {
        const twins = [...contacts(2), ...contacts(2)].map(({ custom: _row, ...contact }) => contact);
        const job = world.engine.enrich(twins);
        await world.advance(10 * 60_000);
        const summary = await job.summary;
        expect(summary.resolved).toBe(4);
        expect(world.calls.filter((call) => call.method === "GET")).toHaveLength(0);
        expect(world.calls.filter((call) => call.method === "POST")).toHaveLength(1);
      } finally {
        await world.close();
      }
    },
  );

  rule("limits.account", "reads {balance} and {workspace_id} at their paths", async () => {
    const { client, sent } = provider((request) => ({
      status: 200,
      body: request.url.endsWith("/credits") ? { balance: 5000 } : { workspace_id: "w-1" },
    }));
    expect(await client.getCredits()).toEqual({ balance: 5000 });
    expect(await client.verifyKey()).toEqual({ workspace_id: "w-1" });
    expect(sent.map((request) => request.url)).toEqual([
      "https://app.fullenrich.com/api/v2/account/credits",
      "https://app.fullenrich.com/api/v2/account/keys/verify",
    ]);
  });
});
