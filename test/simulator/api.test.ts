import { describe, expect, it, vi } from "vitest";
import {
  createSimulator,
  recordCost,
  type SimRecord,
  type Simulator,
  slowProviderContactMs,
  synthesizeEnrichRecord,
} from "../../src/simulator/index.js";
import {
  call,
  captureDeliveries,
  enrichBody,
  expectedSignature,
  person,
  simulatorsPerTest,
} from "./helpers.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MINUTE = 60_000;

const simulator = simulatorsPerTest();

async function start(sim: Simulator, body: Record<string, unknown> = enrichBody(3)): Promise<string> {
  const answer = await call(sim, "POST", "/contact/enrich/bulk", { body });
  expect(answer.status).toBe(200);
  return answer.body.enrichment_id as string;
}

describe("authentication and routing", () => {
  it("answers the three 401 codes, and accepts a case-insensitive Bearer", async () => {
    const sim = simulator({ apiKeys: ["k1", "k2"] });
    const noHeader = await call(sim, "GET", "/account/credits", { key: null });
    expect(noHeader.status).toBe(401);
    expect(noHeader.body).toEqual({
      code: "error.authorization.not_set",
      message: "Authorization headers not set",
    });
    expect(noHeader.headers.get("content-type")).toBe("application/json");
    const basic = await call(sim, "GET", "/account/credits", { authorization: "Basic azE6" });
    expect(basic.body.code).toBe("error.authorization.not_bearer");
    const unknown = await call(sim, "GET", "/account/credits", { key: "nope" });
    expect(unknown.body).toEqual({ code: "error.api.key", message: "Unknown api key" });
    const lower = await call(sim, "GET", "/account/keys/verify", { authorization: "bearer k2" });
    expect(lower.status).toBe(200);
    expect(lower.body.workspace_id).toMatch(UUID_V4);
    expect(sim.counters().unauthorized).toBe(3);
    // 401s never reach the rate window.
    expect(sim.counters().busiestWindow).toBe(1);
  });

  it("answers 404 for unknown routes and ids, 405 for a wrong method", async () => {
    const sim = simulator();
    expect((await call(sim, "GET", "/nope")).body).toMatchObject({ code: "error.route.not_found" });
    const wrongMethod = await call(sim, "GET", "/contact/enrich/bulk");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    const missing = await call(sim, "GET", "/contact/enrich/bulk/00000000-0000-4000-8000-000000000000");
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("error.enrichment.not_found");
    const id = await start(sim);
    const wrongKind = await call(sim, "GET", `/contact/reverse/email/bulk/${id}`);
    expect(wrongKind.status).toBe(404);
    expect(wrongKind.body.code).toBe("error.reverse.email.not_found");
    expect(sim.counters().callsByRoute).toMatchObject({
      "GET (unknown)": 1,
      "GET /contact/enrich/bulk": 1,
      "GET /contact/enrich/bulk/{id}": 1,
      "POST /contact/enrich/bulk": 1,
      "GET /contact/reverse/email/bulk/{id}": 1,
    });
  });

  it("serves credits and key verification", async () => {
    const sim = simulator({ credits: 1234 });
    expect((await call(sim, "GET", "/account/credits")).body).toEqual({ balance: 1234 });
    expect((await call(sim, "GET", "/account/keys/verify")).body).toEqual({ workspace_id: sim.workspaceId });
  });
});

describe("validation", () => {
  const custom11 = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]));
  const cases: Array<[string, unknown, string]> = [
    ["missing name", { data: [person(0)] }, "error.enrichment.name.empty"],
    ["blank name", { name: "  ", data: [person(0)] }, "error.enrichment.name.empty"],
    [
      "bad webhook_url",
      { name: "n", webhook_url: "ftp://x", data: [person(0)] },
      "error.enrichment.webhook_url",
    ],
    [
      "bad contact_finished",
      { name: "n", webhook_events: { contact_finished: "example.com/hook" }, data: [person(0)] },
      "error.enrichment.webhook_url",
    ],
    ["missing data", { name: "n" }, "error.enrichment.data.empty"],
    ["empty data", { name: "n", data: [] }, "error.enrichment.data.empty"],
    ["101 contacts", enrichBody(101), "error.enrichment.data.exceeded"],
    [
      "blank first name",
      { name: "n", data: [person(0, { first_name: " " })] },
      "error.enrichment.first_name.empty",
    ],
    [
      "missing last name",
      { name: "n", data: [person(0, { last_name: undefined })] },
      "error.enrichment.last_name.empty",
    ],
    [
      "no domain nor company",
      { name: "n", data: [person(0, { domain: "", company_name: " " })] },
      "error.enrichment.domain.empty",
    ],
    [
      "empty enrich_fields",
      { name: "n", data: [person(0, { enrich_fields: [] })] },
      "error.enrichment.enrich_fields.empty",
    ],
    [
      "unknown enrich field",
      { name: "n", data: [person(0, { enrich_fields: ["contact.work_emails", "contact.fax"] })] },
      "error.enrichment.enrich_field.value",
    ],
    [
      "11 custom keys",
      { name: "n", data: [person(0, { custom: custom11 })] },
      "error.enrichment.custom.key.exceeded",
    ],
    [
      "custom value of 101 chars",
      { name: "n", data: [person(0, { custom: { a: "x".repeat(101) } })] },
      "error.enrichment.custom.value.exceeded",
    ],
    [
      "number custom value",
      { name: "n", data: [person(0, { custom: { id: 12 } })] },
      "error.enrichment.custom.value.type",
    ],
    // Order: the first contact's problem wins, and envelope rules come before contact rules.
    [
      "rule order",
      { name: "n", webhook_url: "x", data: [person(0, { first_name: "" })] },
      "error.enrichment.webhook_url",
    ],
    [
      "contact order",
      { name: "n", data: [person(0, { enrich_fields: [] }), person(1, { first_name: "" })] },
      "error.enrichment.enrich_fields.empty",
    ],
  ];

  it.each(cases)("rejects %s", async (_label, body, code) => {
    const sim = simulator();
    const answer = await call(sim, "POST", "/contact/enrich/bulk", { body });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe(code);
    expect(typeof answer.body.message).toBe("string");
    expect(sim.counters().enrichmentsCreated).toBe(0);
  });

  it("accepts the limits themselves and linkedin-only contacts", async () => {
    const sim = simulator();
    const custom10 = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "v".repeat(100)]));
    const body = enrichBody(100);
    (body.data as Array<Record<string, unknown>>)[0] = {
      linkedin_url: "https://linkedin.com/in/a-b",
      custom: custom10,
    };
    const answer = await call(sim, "POST", "/contact/enrich/bulk", { body });
    expect(answer.status).toBe(200);
    expect(answer.body.enrichment_id).toMatch(UUID_V4);
  });

  it("rejects a body that is not JSON", async () => {
    const sim = simulator();
    const answer = await call(sim, "POST", "/contact/enrich/bulk", { rawBody: "{nope" });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe("error.body.invalid");
  });

  it("validates reverse lookups", async () => {
    const sim = simulator();
    const post = (data: unknown[]) =>
      call(sim, "POST", "/contact/reverse/email/bulk", { body: { name: "r", data } });
    expect((await post([{ email: " " }])).body.code).toBe("error.reverse.email.empty");
    expect((await post([{ email: "not-an-email" }])).body.code).toBe("error.reverse.email.invalid");
    expect((await post([{ email: "a@b.co", custom: { n: 1 } }])).body.code).toBe(
      "error.enrichment.custom.value.type",
    );
    expect((await post([])).body.code).toBe("error.enrichment.data.empty");
    const ok = await post([{ email: "jane.doe@acme.io", custom: { id: "1" } }]);
    expect(ok.status).toBe(200);
    expect(ok.body.enrichment_id).toMatch(UUID_V4);
  });
});

describe("processing and results", () => {
  it("answers 400 in progress, partial data with forceResults, then 200 FINISHED", async () => {
    const sim = simulator();
    const id = await start(sim, enrichBody(4));
    const contacts = sim.enrichments()[0]?.contacts ?? [];
    for (const contact of contacts) {
      expect(contact.dueAt).toBeGreaterThanOrEqual(30_000);
      expect(contact.dueAt).toBeLessThan(90_000);
    }
    const running = await call(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(running.status).toBe(400);
    expect(running.body).toEqual({
      code: "error.enrichment.in_progress",
      message: "Enrichment not ready, try again in 30 seconds",
    });

    const sorted = contacts.map((c) => c.dueAt).sort((a, b) => a - b);
    await vi.advanceTimersByTimeAsync(Math.ceil(sorted[1] as number));
    const partial = await call(sim, "GET", `/contact/enrich/bulk/${id}?forceResults=true`);
    expect(partial.status).toBe(200);
    expect(partial.body.status).toBe("IN_PROGRESS");
    expect((partial.body.data as unknown[]).length).toBe(2);

    await vi.advanceTimersByTimeAsync(90_000);
    const done = await call(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(done.status).toBe(200);
    expect(Object.keys(done.body)).toEqual(["id", "name", "status", "cost", "data"]);
    expect(done.body).toMatchObject({ id, name: "test batch", status: "FINISHED" });
    const data = done.body.data as Array<Record<string, unknown>>;
    expect(data.map((record) => (record.custom as Record<string, string>).row)).toEqual(["0", "1", "2", "3"]);
    const expectedCost = data.reduce(
      (sum, record) => sum + recordCost(record as unknown as SimRecord, "enrich"),
      0,
    );
    expect(done.body.cost).toEqual({ credits: expectedCost });
    expect(sim.balance()).toBe(1_000_000 - expectedCost);
    const snapshot = sim.enrichments()[0];
    expect(snapshot?.status).toBe("FINISHED");
    expect(snapshot?.finishedAt).toBe(Math.max(...contacts.map((c) => c.dueAt)));
    for (const contact of snapshot?.contacts ?? []) expect(contact.finishedAt).toBe(contact.dueAt);
  });

  it("echoes renamed input, keeps custom unchanged and omits contact_info when nothing is found", async () => {
    const seed = 3;
    // Pick, with the synthetic generator itself, one contact with results and one without.
    const candidates = Array.from({ length: 60 }, (_, i) =>
      person(i, { company_name: "Acme Inc", linkedin_url: `https://www.linkedin.com/in/p-${i}` }),
    );
    const outcome = (c: Record<string, unknown>) =>
      synthesizeEnrichRecord(c, seed).contact_info === undefined;
    const found = candidates.find((c) => !outcome(c));
    const nothing = candidates.find((c) => outcome(c));
    expect(found && nothing).toBeTruthy();
    const sim = simulator({ seed });
    const custom = { crm: "ü-42", empty: "" };
    const id = await start(sim, { name: "shape", data: [{ ...found, custom }, nothing] });
    await vi.advanceTimersByTimeAsync(90_000);
    const done = await call(sim, "GET", `/contact/enrich/bulk/${id}`);
    const [first, second] = done.body.data as Array<Record<string, unknown>>;
    expect(first?.input).toEqual({
      first_name: found?.first_name,
      last_name: found?.last_name,
      full_name: `${found?.first_name} ${found?.last_name}`,
      company_domain: "example.com",
      company_name: "Acme Inc",
      professional_network_url: found?.linkedin_url,
    });
    expect(first?.custom).toEqual(custom);
    expect(first?.contact_info).toBeDefined();
    expect(first?.profile).toMatchObject({ employment: { current: { start_at: "2024-1-0T00:00:00Z" } } });
    expect(second).not.toHaveProperty("contact_info");
    expect(second?.custom).toEqual(nothing?.custom);
  });

  it("stops with CREDITS_INSUFFICIENT (402, full body, partial data) when the balance runs out", async () => {
    const sim = simulator({ credits: 15 });
    const id = await start(sim, enrichBody(20));
    const contacts = sim.enrichments()[0]?.contacts ?? [];
    const records = (enrichBody(20).data as Array<Record<string, unknown>>).map((c) =>
      synthesizeEnrichRecord(c, 1),
    );
    // Expected: pay contacts in finishing order until one costs more than what is left.
    let balance = 15;
    const paid: number[] = [];
    for (const contact of [...contacts].sort((a, b) => a.dueAt - b.dueAt)) {
      const cost = recordCost(records[contact.index] as SimRecord, "enrich");
      if (cost > balance) break;
      balance -= cost;
      paid.push(contact.index);
    }
    expect(paid.length).toBeLessThan(20);
    await vi.advanceTimersByTimeAsync(90_000);
    const answer = await call(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(answer.status).toBe(402);
    expect(answer.body).toMatchObject({
      id,
      status: "CREDITS_INSUFFICIENT",
      cost: { credits: 15 - balance },
    });
    const rows = (answer.body.data as Array<{ custom: { row: string } }>).map((r) => Number(r.custom.row));
    expect(rows).toEqual([...paid].sort((a, b) => a - b));
    expect(sim.balance()).toBe(balance);
    expect(sim.enrichments()[0]?.status).toBe("CREDITS_INSUFFICIENT");
  });

  it("runs reverse lookups to completion", async () => {
    const sim = simulator();
    const body = {
      name: "rev",
      data: [{ email: "jane.doe@acme.io", custom: { id: "1" } }, { email: "x.y@gmail.com" }],
    };
    const started = await call(sim, "POST", "/contact/reverse/email/bulk", { body });
    const id = started.body.enrichment_id as string;
    expect((await call(sim, "GET", `/contact/reverse/email/bulk/${id}`)).status).toBe(400);
    await vi.advanceTimersByTimeAsync(90_000);
    const done = await call(sim, "GET", `/contact/reverse/email/bulk/${id}`);
    expect(done.status).toBe(200);
    const data = done.body.data as Array<Record<string, unknown>>;
    expect(data.map((r) => r.input)).toEqual([{ email: "jane.doe@acme.io" }, { email: "x.y@gmail.com" }]);
    expect(data.map((r) => r.custom)).toEqual([{ id: "1" }, {}]);
    expect(sim.enrichments()[0]?.kind).toBe("reverse");
  });
});

describe("the running limit and cancellation", () => {
  it("runs at most runningLimit jobs of a kind at once; the others wait, CREATED, in order, and start as one ends", async () => {
    const sim = simulator({ runningLimit: 2, contactDurationMs: { min: MINUTE, max: MINUTE } });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await start(sim, enrichBody(1)));
    const reverse = await call(sim, "POST", "/contact/reverse/email/bulk", {
      body: { name: "r", data: [{ email: "ada@example.com" }] },
    });
    expect(sim.enrichments().map((e) => e.status)).toEqual([
      "IN_PROGRESS",
      "IN_PROGRESS",
      "CREATED",
      "CREATED",
      "IN_PROGRESS",
    ]);
    expect(sim.enrichments()[2]?.contacts[0]?.dueAt).toBe(Number.POSITIVE_INFINITY);
    const waiting = await call(sim, "GET", `/contact/enrich/bulk/${ids[2]}`);
    expect(waiting.body.code).toBe("error.enrichment.in_progress");
    await vi.advanceTimersByTimeAsync(MINUTE);
    // The first two ended at 1 min: the next two started then, and end a minute later.
    expect(sim.enrichments().map((e) => e.status)).toEqual([
      "FINISHED",
      "FINISHED",
      "IN_PROGRESS",
      "IN_PROGRESS",
      "FINISHED",
    ]);
    expect(sim.enrichments()[2]?.contacts[0]?.dueAt).toBe(2 * MINUTE);
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(sim.enrichments().every((e) => e.status === "FINISHED")).toBe(true);
    expect(reverse.status).toBe(200);
  });

  it("inProgressAs200 says CREATED for a job waiting for a slot", async () => {
    const sim = simulator({ runningLimit: 1, faults: { inProgressAs200: true } });
    await start(sim, enrichBody(1));
    const second = await start(sim, enrichBody(1));
    expect((await call(sim, "GET", `/contact/enrich/bulk/${second}`)).body.status).toBe("CREATED");
  });

  it("cancel() ends a running job CANCELED with what was found, sends its batch webhook, and frees its slot", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, runningLimit: 1 });
    const first = await start(sim, enrichBody(4, { webhook_url: "https://hooks.test/batch" }));
    const second = await start(sim, enrichBody(1));
    const dues = (sim.enrichments()[0]?.contacts ?? []).map((c) => c.dueAt).sort((a, b) => a - b);
    await vi.advanceTimersByTimeAsync(Math.ceil(dues[1] as number));
    expect(sim.cancel(first)).toBe(true);
    expect(sim.cancel(first)).toBe(false);
    expect(sim.cancel("no-such-id")).toBe(false);
    const done = await call(sim, "GET", `/contact/enrich/bulk/${first}`);
    expect(done.status).toBe(200);
    expect(done.body.status).toBe("CANCELED");
    expect(done.body.data).toHaveLength(2);
    expect(sent.map((hit) => hit.json)).toEqual([done.body]);
    expect(sim.enrichments()[1]?.status).toBe("IN_PROGRESS");
    await vi.advanceTimersByTimeAsync(90_000);
    expect((await call(sim, "GET", `/contact/enrich/bulk/${second}`)).body.status).toBe("FINISHED");
    expect((await call(sim, "GET", `/contact/enrich/bulk/${first}`)).body.data).toHaveLength(2);
  });

  it("refuses a runningLimit below 1", () => {
    expect(() => createSimulator({ runningLimit: 0 })).toThrow(/runningLimit must be at least 1/);
  });
});

describe("rate limit", () => {
  it("answers 429 without Retry-After once the window holds rateLimit accepted calls", async () => {
    const sim = simulator({ rateLimit: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const answer = await call(sim, "GET", "/account/credits");
      statuses.push(answer.status);
      if (answer.status === 429) {
        expect(answer.body).toEqual({
          code: "error.rate.limit",
          message: "Too many requests. Try again in 1m",
        });
        expect(answer.headers.get("retry-after")).toBeNull();
        expect([...answer.headers.keys()].filter((name) => name.includes("rate"))).toEqual([]);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    await vi.advanceTimersByTimeAsync(MINUTE - 1);
    expect((await call(sim, "GET", "/account/credits")).status).toBe(429);
    await vi.advanceTimersByTimeAsync(1);
    expect((await call(sim, "GET", "/account/credits")).status).toBe(200);
    const counters = sim.counters();
    expect(counters.rateLimited).toBe(4);
    // Arrivals at 0 (×8) and 59 999 share a window; the one at 60 000 does not join the 0s.
    expect(counters.busiestWindow).toBe(9);
    expect(counters.calls).toBe(10);
  });

  it("scales the window with timeScale", async () => {
    const sim = simulator({ rateLimit: 1, timeScale: 0.01 });
    expect((await call(sim, "GET", "/account/credits")).status).toBe(200);
    expect((await call(sim, "GET", "/account/credits")).status).toBe(429);
    await vi.advanceTimersByTimeAsync(600);
    expect((await call(sim, "GET", "/account/credits")).status).toBe(200);
  });
});

describe("webhooks", () => {
  it("sends one signed IN_PROGRESS event per contact, then the batch event", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, apiKeys: ["k0", "k1"] });
    const body = enrichBody(3, {
      webhook_url: "https://hooks.test/batch",
      webhook_events: { contact_finished: "https://hooks.test/contact" },
    });
    const started = await call(sim, "POST", "/contact/enrich/bulk", { body, key: "k1" });
    const id = started.body.enrichment_id as string;
    await vi.advanceTimersByTimeAsync(90_000);
    expect(sent.map((s) => s.url)).toEqual([
      "https://hooks.test/contact",
      "https://hooks.test/contact",
      "https://hooks.test/contact",
      "https://hooks.test/batch",
    ]);
    for (const s of sent) expect(s.headers["x-signature-sha1"]).toBe(expectedSignature("k1", s.body));
    const events = sent.slice(0, 3).map((s) => s.json);
    let running = 0;
    for (const event of events) {
      expect(event).toMatchObject({ id, name: "test batch", status: "IN_PROGRESS" });
      const data = event.data as SimRecord[];
      expect(data).toHaveLength(1);
      running += recordCost(data[0] as SimRecord, "enrich");
      expect(event.cost).toEqual({ credits: running });
    }
    expect(new Set(events.map((e) => ((e.data as SimRecord[])[0] as SimRecord).custom.row)).size).toBe(3);
    const get = await call(sim, "GET", `/contact/enrich/bulk/${id}`, { key: "k0" });
    expect(sent[3]?.json).toEqual(get.body);
    expect(sim.enrichments()[0]?.apiKeyIndex).toBe(1);
    expect(sim.deliveries().map((d) => [d.kind, d.attempt, d.outcome])).toEqual([
      ["contact", 1, 200],
      ["contact", 1, 200],
      ["contact", 1, 200],
      ["batch", 1, 200],
    ]);
    expect(sim.counters()).toMatchObject({ deliveriesAttempted: 4, deliveriesSucceeded: 4 });
  });

  it("sends the batch event of a CREDITS_INSUFFICIENT batch", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, credits: 0 });
    const body = enrichBody(5, { webhook_url: "https://hooks.test/batch" });
    await start(sim, body);
    await vi.advanceTimersByTimeAsync(90_000);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.json.status).toBe("CREDITS_INSUFFICIENT");
  });
});

describe("faults", () => {
  const hooks = {
    webhook_url: "https://hooks.test/batch",
    webhook_events: { contact_finished: "https://hooks.test/contact" },
  };

  it("duplicateDeliveryRate sends delivered webhooks twice with the same bytes", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, faults: { duplicateDeliveryRate: 1 } });
    await start(sim, enrichBody(2, hooks));
    await vi.advanceTimersByTimeAsync(90_000);
    expect(sent).toHaveLength(6);
    const copies = new Map<string, number>();
    for (const s of sent)
      copies.set(s.body.toString("base64"), (copies.get(s.body.toString("base64")) ?? 0) + 1);
    expect([...copies.values()]).toEqual([2, 2, 2]);
    expect(sim.deliveries().filter((d) => d.duplicate === true)).toHaveLength(3);
    expect(sim.counters().deliveriesDuplicated).toBe(3);
  });

  it("lostDeliveryRate drops deliveries silently", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, faults: { lostDeliveryRate: 1 } });
    await start(sim, enrichBody(2, hooks));
    await vi.advanceTimersByTimeAsync(90_000);
    expect(sent).toHaveLength(0);
    expect(sim.counters()).toMatchObject({ deliveriesLost: 3, deliveriesAttempted: 0 });
    expect(sim.deliveries()).toEqual([]);
  });

  it("webhooksNeverArrive swallows every delivery silently: none attempted, none refused, none retried", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, faults: { webhooksNeverArrive: true } });
    const id = await start(sim, enrichBody(2, hooks));
    await vi.advanceTimersByTimeAsync(30 * MINUTE);
    expect(sent).toHaveLength(0);
    expect(sim.counters()).toMatchObject({
      deliveriesLost: 3,
      deliveriesAttempted: 0,
      deliveriesFailed: 0,
      deliveriesRetried: 0,
    });
    // The batch itself finished: only its webhooks are gone.
    expect((await call(sim, "GET", `/contact/enrich/bulk/${id}`)).body.status).toBe("FINISHED");
  });

  it("webhooksNeverArrive in a window: deliveries due inside it are swallowed, those after it arrive", async () => {
    const { deliver, sent } = captureDeliveries();
    // Contacts finish 30-90 s after the start: every delivery of the first batch falls in the window.
    const sim = simulator({ deliver, faults: { webhooksNeverArrive: { untilMs: 10 * MINUTE } } });
    await start(sim, enrichBody(2, hooks));
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(sent).toHaveLength(0);
    await start(sim, enrichBody(2, hooks));
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    expect(sent).toHaveLength(3);
    expect(sim.counters().deliveriesLost).toBe(3);
  });

  it("slowProviderContactMs: contacts take 60-240 s", async () => {
    const sim = simulator({ contactDurationMs: slowProviderContactMs() });
    await start(sim, enrichBody(50));
    const [job] = sim.enrichments();
    const durations = (job?.contacts ?? []).map((contact) => contact.dueAt - (job?.createdAt ?? 0));
    expect(Math.min(...durations)).toBeGreaterThanOrEqual(60_000);
    expect(Math.max(...durations)).toBeLessThanOrEqual(240_000);
    expect(Math.max(...durations)).toBeGreaterThan(200_000);
    expect(slowProviderContactMs(0.01)).toEqual({ min: 600, max: 2_400 });
  });

  it("lostDeliveryRate is a seeded probability", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, faults: { lostDeliveryRate: 0.5 } });
    await start(sim, enrichBody(100, { webhook_events: hooks.webhook_events }));
    await vi.advanceTimersByTimeAsync(90_000);
    expect(sent.length).toBeGreaterThan(30);
    expect(sent.length).toBeLessThan(70);
    expect(sim.counters().deliveriesLost).toBe(100 - sent.length);
  });

  it("loseBatchWebhook drops the batch webhook of the chosen enrichments", async () => {
    const { deliver, sent } = captureDeliveries();
    const seen: Array<{ enrichmentId: string; ordinal: number }> = [];
    const sim = simulator({
      deliver,
      faults: {
        loseBatchWebhook: (info) => {
          seen.push(info);
          return info.ordinal === 1;
        },
      },
    });
    const ids = [
      await start(sim, enrichBody(1, { webhook_url: hooks.webhook_url })),
      await start(sim, enrichBody(1, { webhook_url: hooks.webhook_url })),
      await start(sim, enrichBody(1, { webhook_url: hooks.webhook_url })),
    ];
    await vi.advanceTimersByTimeAsync(90_000);
    expect(seen.sort((a, b) => a.ordinal - b.ordinal)).toEqual(
      ids.map((enrichmentId, ordinal) => ({ enrichmentId, ordinal })),
    );
    expect(sent.map((s) => s.json.id).sort()).toEqual([ids[0], ids[2]].sort());
    expect(sim.counters().deliveriesLost).toBe(1);
  });

  it("contactEventsAfterBatch holds contact events until the batch event was attempted", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = simulator({ deliver, faults: { contactEventsAfterBatch: true } });
    await start(sim, enrichBody(3, hooks));
    const lastDue = Math.max(...(sim.enrichments()[0]?.contacts ?? []).map((c) => c.dueAt));
    await vi.advanceTimersByTimeAsync(lastDue - 1);
    expect(sim.enrichments()[0]?.contacts.filter((c) => c.finishedAt !== undefined)).toHaveLength(2);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent.map((s) => s.url)).toEqual([
      "https://hooks.test/batch",
      "https://hooks.test/contact",
      "https://hooks.test/contact",
      "https://hooks.test/contact",
    ]);
    expect(sent.slice(1).map((s) => s.json.status)).toEqual(["IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS"]);
  });

  it("getErrorRate makes GET result endpoints answer 500", async () => {
    const sim = simulator({ faults: { getErrorRate: 1 } });
    const id = await start(sim);
    const answer = await call(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ code: "error.internal" });
    expect((await call(sim, "GET", "/account/credits")).status).toBe(200);
    expect(sim.counters().serverErrors).toBe(1);
  });

  it("random429Rate answers 429 at random on authenticated calls", async () => {
    const sim = simulator({ faults: { random429Rate: 1 } });
    const answer = await call(sim, "POST", "/contact/enrich/bulk", { body: enrichBody(1) });
    expect(answer.status).toBe(429);
    expect(answer.body.code).toBe("error.rate.limit");
    expect((await call(sim, "GET", "/account/credits", { key: "bad" })).status).toBe(401);
    expect(sim.counters()).toMatchObject({ rateLimited: 1, enrichmentsCreated: 0, busiestWindow: 1 });

    const some = simulator({ faults: { random429Rate: 0.3 } });
    const statuses = [];
    for (let i = 0; i < 50; i++) statuses.push((await call(some, "GET", "/account/keys/verify")).status);
    const limited = statuses.filter((s) => s === 429).length;
    expect(limited).toBeGreaterThan(5);
    expect(limited).toBeLessThan(30);
  });

  it("latencyMs delays every answer on the scheduler", async () => {
    const sim = simulator({ faults: { latencyMs: 500 } });
    let done = false;
    const pending = call(sim, "GET", "/account/credits").then((answer) => {
      done = true;
      return answer;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).status).toBe(200);
  });

  it("inProgressAs200 answers 200 IN_PROGRESS without data for a running batch", async () => {
    const sim = simulator({ faults: { inProgressAs200: true } });
    const id = await start(sim);
    const answer = await call(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ id, name: "test batch", status: "IN_PROGRESS", cost: { credits: 0 } });
    await vi.advanceTimersByTimeAsync(90_000);
    expect((await call(sim, "GET", `/contact/enrich/bulk/${id}`)).body.status).toBe("FINISHED");
  });
});

describe("determinism and close", () => {
  async function scenario(seed: number) {
    const { deliver } = captureDeliveries();
    const sim = simulator({ seed, deliver, faults: { lostDeliveryRate: 0.3, duplicateDeliveryRate: 0.3 } });
    const ids = [
      await start(sim, enrichBody(10, { webhook_events: { contact_finished: "https://h.test/c" } })),
      await start(sim, enrichBody(5, { webhook_url: "https://h.test/b" })),
    ];
    await vi.advanceTimersByTimeAsync(90_000);
    const results = [];
    for (const id of ids) results.push((await call(sim, "GET", `/contact/enrich/bulk/${id}`)).body);
    return {
      ids,
      results,
      timings: sim.enrichments().map((e) => e.contacts.map((c) => c.dueAt)),
      deliveries: sim.deliveries(),
      counters: sim.counters(),
    };
  }

  it("replays exactly from the same seed", async () => {
    const first = await scenario(7);
    vi.setSystemTime(0);
    const second = await scenario(7);
    expect(second).toEqual(first);
    vi.setSystemTime(0);
    const other = await scenario(8);
    expect(other.ids).not.toEqual(first.ids);
    expect(other.timings).not.toEqual(first.timings);
  });

  it("fires nothing after close()", async () => {
    const { deliver, sent } = captureDeliveries(() => 500);
    const sim = simulator({ deliver });
    const id = await start(sim, enrichBody(3, { webhook_url: "https://h.test/b" }));
    await vi.advanceTimersByTimeAsync(90_000);
    expect(sent).toHaveLength(1); // first attempt failed, a retry is pending
    sim.close();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(sent).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    expect((await call(sim, "GET", `/contact/enrich/bulk/${id}`)).status).toBe(503);

    const running = simulator({ deliver });
    await start(running, enrichBody(3, { webhook_url: "https://h.test/b" }));
    running.close();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(running.enrichments()[0]?.status).toBe("IN_PROGRESS");
    expect(running.balance()).toBe(1_000_000);
  });
});
