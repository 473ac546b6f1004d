import { describe, expect, it, vi } from "vitest";
import { LIVE_STALL_STATUSES, type Simulator } from "../../src/simulator/index.js";
import { captureDeliveries, enrichBody, person, simulatorsPerTest } from "./helpers.js";

const MINUTE = 60_000;
const hooks = {
  webhook_url: "https://hooks.test/batch",
  webhook_events: { contact_finished: "https://hooks.test/contact" },
};

const live = simulatorsPerTest({ profile: "liveShapes", seed: 5 });

/** A call whose body may not be JSON. */
async function raw(
  sim: Simulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; type: string | null; text: string; json: Record<string, unknown> | null }> {
  const response = await sim.handle(
    new Request(`http://sim.local/api/v2${path}`, {
      method,
      headers: { authorization: "Bearer sim-key", "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // an HTML page
  }
  return { status: response.status, type: response.headers.get("content-type"), text, json };
}

async function startEnrich(sim: Simulator, body: Record<string, unknown>): Promise<string> {
  const answer = await raw(sim, "POST", "/contact/enrich/bulk", body);
  expect(answer.status, answer.text).toBe(200);
  return answer.json?.enrichment_id as string;
}

/** Every value found anywhere in a JSON value, with its key. */
function entries(value: unknown, key = ""): [string, unknown][] {
  if (value === null || typeof value !== "object") return [[key, value]];
  const own: [string, unknown][] = Array.isArray(value) ? [] : Object.entries(value).map(([k, v]) => [k, v]);
  return [
    ...own,
    ...(Array.isArray(value) ? value : Object.values(value)).flatMap((item, index) =>
      entries(item, Array.isArray(value) ? String(index) : (Object.keys(value)[index] as string)),
    ),
  ];
}

describe("the liveShapes profile: records", () => {
  it("nulls, empty contact_info, unknown keys, lesser emails, several per list, a normalised echo without full_name", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = live({ deliver, liveShapes: { stallRate: 0, cancelRate: 0 } });
    const contacts = Array.from({ length: 60 }, (_, index) =>
      person(index, {
        first_name: `  Ada${index}  `,
        domain: index % 2 === 0 ? "HTTPS://WWW.Example.COM/about" : "example.com",
        ...(index % 3 === 0 ? { linkedin_url: `https://linkedin.com/in/ada-${index}/?trk=x` } : {}),
      }),
    );
    const id = await startEnrich(sim, { name: "shapes", data: contacts, webhook_url: hooks.webhook_url });
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    const done = await raw(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(done.status).toBe(200);
    const body = done.json as Record<string, unknown>;
    const records = (body.data ?? body.datas) as Record<string, unknown>[];
    expect(records).toHaveLength(60);
    // The truth the simulator keeps is exactly what it sent, and the webhook says the same.
    const truth = sim.enrichments()[0]?.contacts.map((contact) => contact.record);
    expect(records).toEqual(truth);
    expect(sent.at(-1)?.json).toEqual(body);

    const infos = records.map((record) => record.contact_info as Record<string, unknown>);
    expect(infos.some((info) => Object.keys(info).length === 0)).toBe(true);
    expect(infos.some((info) => info.most_probable_personal_email === null)).toBe(true);
    expect(
      infos.some((info) => (info.most_probable_phone as { region?: unknown } | null)?.region === null),
    ).toBe(true);
    const emails = infos.flatMap((info) => [
      ...((info.work_emails as Record<string, unknown>[] | null) ?? []),
      ...((info.personal_emails as Record<string, unknown>[] | null) ?? []),
    ]);
    for (const status of ["DELIVERABLE", "INVALID", "INVALID_DOMAIN", "CATCH_ALL", null]) {
      expect(
        emails.some((email) => email.status === status),
        String(status),
      ).toBe(true);
    }
    expect(infos.some((info) => ((info.work_emails as unknown[] | null) ?? []).length >= 2)).toBe(true);
    expect(infos.some((info) => info.work_emails === null || info.personal_emails === null)).toBe(true);
    expect(records.every((record) => typeof record.enriched_at === "string")).toBe(true);
    expect(infos.some((info) => typeof info.sources_checked === "number")).toBe(true);
    expect(emails.some((email) => typeof email.source === "string")).toBe(true);
    expect(records.filter((record) => record.profile === null)).toHaveLength(40);

    for (const [index, record] of records.entries()) {
      const input = record.input as Record<string, string>;
      expect(input).not.toHaveProperty("full_name");
      expect(input.first_name).toBe(`Ada${index}`);
      expect(input.company_domain).toBe("example.com");
      if (index % 3 === 0)
        expect(input.professional_network_url).toBe(`https://www.linkedin.com/in/ada-${index}`);
      expect(record.custom).toEqual({ row: String(index) });
    }
  });

  it("reverse lookups: the email echoed lower-cased, contact_info null, the profile or null", async () => {
    const sim = live({ liveShapes: { stallRate: 0, cancelRate: 0, datasRate: 0 } });
    const data = Array.from({ length: 10 }, (_, index) => ({ email: `Person.${index}@Example.org` }));
    const started = await raw(sim, "POST", "/contact/reverse/email/bulk", { name: "r", data });
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    const done = await raw(sim, "GET", `/contact/reverse/email/bulk/${started.json?.enrichment_id}`);
    const records = done.json?.data as Record<string, unknown>[];
    expect(records.map((record) => (record.input as { email: string }).email)).toEqual(
      data.map((row) => row.email.toLowerCase()),
    );
    expect(records.every((record) => record.contact_info === null && record.custom === null)).toBe(true);
    expect(records.some((record) => record.profile === null)).toBe(true);
    expect(records.some((record) => record.profile !== null)).toBe(true);
  });
});

describe("the liveShapes profile: bodies and answers", () => {
  it("while running, a GET answers 200 CREATED/IN_PROGRESS with data: null, or a 400 `.in_progress` code of its kind", async () => {
    const sim = live({
      liveShapes: { stallRate: 0, cancelRate: 0 },
      contactDurationMs: { min: MINUTE, max: 3 * MINUTE },
    });
    const enrichId = await startEnrich(sim, enrichBody(10));
    const reverse = await raw(sim, "POST", "/contact/reverse/email/bulk", {
      name: "r",
      data: Array.from({ length: 10 }, (_, index) => ({ email: `p${index}@example.org` })),
    });
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      if (i === 10) await vi.advanceTimersByTimeAsync(90_000);
      for (const [kind, path] of [
        ["enrich", `/contact/enrich/bulk/${enrichId}`],
        ["reverse", `/contact/reverse/email/bulk/${reverse.json?.enrichment_id}`],
      ]) {
        const answer = await raw(sim, "GET", path as string);
        if (answer.status === 200) {
          expect(answer.json).toMatchObject({ data: null, cost: null });
          seen.add(`${kind} 200 ${answer.json?.status}`);
        } else {
          expect(answer.status).toBe(400);
          seen.add(`${kind} 400 ${answer.json?.code}`);
        }
      }
    }
    expect([...seen].sort()).toEqual([
      "enrich 200 CREATED",
      "enrich 200 IN_PROGRESS",
      "enrich 400 error.enrichment.in_progress",
      "reverse 200 CREATED",
      "reverse 200 IN_PROGRESS",
      "reverse 400 error.reverse.email.in_progress",
    ]);
  });

  it("some jobs say `datas`; a final body without records says null", async () => {
    const sim = live({ liveShapes: { stallRate: 0, cancelRate: 0, datasRate: 0.5 } });
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push(await startEnrich(sim, enrichBody(1)));
    const empty = await startEnrich(sim, enrichBody(2));
    expect(sim.cancel(empty)).toBe(true);
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    const keys = await Promise.all(
      ids.map(async (id) => Object.keys((await raw(sim, "GET", `/contact/enrich/bulk/${id}`)).json ?? {})),
    );
    expect(keys.some((list) => list.includes("datas") && !list.includes("data"))).toBe(true);
    expect(keys.some((list) => list.includes("data") && !list.includes("datas"))).toBe(true);
    const canceled = (await raw(sim, "GET", `/contact/enrich/bulk/${empty}`)).json ?? {};
    expect(canceled.status).toBe("CANCELED");
    expect("data" in canceled ? canceled.data : canceled.datas).toBeNull();
  });

  it("refuses a contact without enrich_fields (400), and a POST at zero balance (402)", async () => {
    const sim = live();
    const { enrich_fields: _none, ...bare } = person(0);
    const refused = await raw(sim, "POST", "/contact/enrich/bulk", { name: "n", data: [bare] });
    expect(refused).toMatchObject({ status: 400, json: { code: "error.enrichment.enrich_fields.empty" } });
    sim.setBalance(0);
    const broke = await raw(sim, "POST", "/contact/enrich/bulk", enrichBody(1));
    expect(broke).toMatchObject({ status: 402, json: { code: "error.credits.insufficient" } });
    expect(sim.enrichments()).toHaveLength(0);
  });

  it("5xx answers are HTML pages; serverErrorAfterStart answers a POST 502 yet runs the job", async () => {
    const sim = live({ faults: { getErrorRate: 1, serverErrorAfterStart: ({ ordinal }) => ordinal === 0 } });
    const post = await raw(sim, "POST", "/contact/enrich/bulk", enrichBody(1));
    expect(post.status).toBe(502);
    expect(post.type).toBe("text/html");
    expect(post.json).toBeNull();
    expect(sim.enrichments()).toHaveLength(1);
    const get = await raw(sim, "GET", `/contact/enrich/bulk/${sim.enrichments()[0]?.id}`);
    expect(get).toMatchObject({ status: 502, type: "text/html", json: null });
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    expect(sim.enrichments()[0]?.status).toBe("FINISHED");
    expect(sim.counters().serverErrors).toBe(2);
  });

  it("a failed webhook is attempted 5 times in all", async () => {
    const { deliver } = captureDeliveries(() => 503);
    const sim = live({ deliver, liveShapes: { stallRate: 0, cancelRate: 0 } });
    await startEnrich(sim, enrichBody(1, { webhook_url: hooks.webhook_url }));
    await vi.advanceTimersByTimeAsync(20 * MINUTE);
    expect(sim.deliveries().map((delivery) => delivery.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(sim.counters().deliveriesAbandoned).toBe(1);
  });

  it("at most 100 enrichments run at once: the 101st waits, CREATED, until one ends", async () => {
    const sim = live({ liveShapes: { stallRate: 0, cancelRate: 0 }, rateLimit: 1_000 });
    for (let i = 0; i < 101; i++) await startEnrich(sim, enrichBody(1));
    const statuses = sim.enrichments().map((enrichment) => enrichment.status);
    expect(statuses.filter((status) => status === "IN_PROGRESS")).toHaveLength(100);
    expect(statuses[100]).toBe("CREATED");
    await vi.advanceTimersByTimeAsync(4 * MINUTE);
    expect(sim.enrichments().every((enrichment) => enrichment.status === "FINISHED")).toBe(true);
  });
});

describe("the liveShapes profile: statuses on the way", () => {
  it("a job passes through RATE_LIMIT / UNKNOWN / an undocumented status (GET and a webhook say so), then finishes later", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = live({
      deliver,
      contactDurationMs: { min: MINUTE, max: MINUTE + 3 },
      liveShapes: { stallRate: 1, cancelRate: 0, datasRate: 0, stallMs: 5 * MINUTE },
    });
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await startEnrich(sim, enrichBody(4, hooks)));
    await vi.advanceTimersByTimeAsync(MINUTE + 2);
    const during = await Promise.all(ids.map((id) => raw(sim, "GET", `/contact/enrich/bulk/${id}`)));
    const statuses = during.map((answer) => answer.json?.status);
    expect(new Set(statuses)).toEqual(new Set(LIVE_STALL_STATUSES));
    expect(during.every((answer) => answer.status === 200 && answer.json?.data === null)).toBe(true);
    const stallHooks = sent.filter((hit) => hit.url === hooks.webhook_url);
    expect(stallHooks.map((hit) => hit.json.status).sort()).toEqual([...statuses].sort());
    // Two of four contacts had finished: the webhook carries them.
    expect(stallHooks.every((hit) => (hit.json.data as unknown[]).length === 2)).toBe(true);
    await vi.advanceTimersByTimeAsync(6 * MINUTE);
    const after = await Promise.all(ids.map((id) => raw(sim, "GET", `/contact/enrich/bulk/${id}`)));
    expect(after.map((answer) => answer.json?.status)).toEqual(ids.map(() => "FINISHED"));
    expect(sim.enrichments().every((enrichment) => (enrichment.finishedAt ?? 0) >= 6 * MINUTE)).toBe(true);
  });

  it("a plan can hold a status for good (the job never ends)", async () => {
    const sim = live({
      liveShapes: { plan: () => ({ stall: { status: "UNKNOWN", afterContacts: 0, forMs: Infinity } }) },
    });
    const id = await startEnrich(sim, enrichBody(2));
    await vi.advanceTimersByTimeAsync(600 * MINUTE);
    expect((await raw(sim, "GET", `/contact/enrich/bulk/${id}`)).json?.status).toBe("UNKNOWN");
    expect(sim.enrichments()[0]?.contacts.every((contact) => contact.record === undefined)).toBe(true);
  });

  it("some jobs are canceled once half their contacts finished: the batch webhook says CANCELED with those records", async () => {
    const { deliver, sent } = captureDeliveries();
    const sim = live({ deliver, liveShapes: { stallRate: 0, cancelRate: 1, datasRate: 0 } });
    const id = await startEnrich(sim, enrichBody(5, { webhook_url: hooks.webhook_url }));
    await vi.advanceTimersByTimeAsync(2 * MINUTE);
    const done = await raw(sim, "GET", `/contact/enrich/bulk/${id}`);
    expect(done.json?.status).toBe("CANCELED");
    expect(done.json?.data).toHaveLength(3);
    expect(sent.map((hit) => hit.json)).toEqual([done.json]);
  });

  it("every shape is drawn from the seed: the same seed gives the same bodies", async () => {
    const run = async () => {
      const sim = live({ seed: 9 });
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await startEnrich(sim, enrichBody(3)));
      await vi.advanceTimersByTimeAsync(10 * MINUTE);
      return Promise.all(ids.map(async (id) => (await raw(sim, "GET", `/contact/enrich/bulk/${id}`)).text));
    };
    const first = await run();
    vi.setSystemTime(0);
    const second = await run();
    expect(second).toEqual(first);
    expect(entries(JSON.parse(first[0] as string)).length).toBeGreaterThan(10);
  });
});
