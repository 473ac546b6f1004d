import { afterEach, describe, expect, it, vi } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { enrichBody, expectedSignature, type Receiver, startReceiver } from "./helpers.js";

/** 30–90 s become 60–180 ms; the webhook retry interval becomes 120 ms. */
const TIME_SCALE = 0.002;
const RETRY_INTERVAL = 60_000 * TIME_SCALE;

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function serve(options: Parameters<typeof startSimulator>[0]): Promise<RunningSimulator> {
  const running = await startSimulator(options);
  cleanup.push(() => running.close());
  return running;
}

async function receiver(answer: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(answer);
  cleanup.push(() => r.close());
  return r;
}

async function api(running: RunningSimulator, method: string, path: string, body?: unknown, key = "sim-key") {
  const response = await fetch(`${running.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe("startSimulator over loopback HTTP", () => {
  it("listens on 127.0.0.1 with an ephemeral port and serves the API", async () => {
    const running = await serve({ timeScale: TIME_SCALE, credits: 77 });
    expect(running.url).toBe(`http://127.0.0.1:${running.port}`);
    expect(running.baseUrl).toBe(`${running.url}/api/v2`);
    expect(running.port).toBeGreaterThan(0);
    expect(await api(running, "GET", "/account/credits")).toMatchObject({
      status: 200,
      body: { balance: 77 },
    });
    const unauthorized = await fetch(`${running.baseUrl}/account/credits`);
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("content-type")).toBe("application/json");
    expect(await unauthorized.json()).toMatchObject({ code: "error.authorization.not_set" });
    const invalid = await api(running, "POST", "/contact/enrich/bulk", { name: "x", data: [] });
    expect(invalid).toMatchObject({ status: 400, body: { code: "error.enrichment.data.empty" } });
  });

  it("retries a 500-answering receiver 5 times, same bytes, valid signature, one interval apart", async () => {
    const hooks = await receiver(() => 500);
    const running = await serve({
      timeScale: TIME_SCALE,
      apiKeys: ["other", "hook-key"],
      webhookTimeoutMs: 5_000,
    });
    const started = await api(
      running,
      "POST",
      "/contact/enrich/bulk",
      enrichBody(1, { webhook_url: `${hooks.url}/batch` }),
      "hook-key",
    );
    expect(started.status).toBe(200);
    const hits = await hooks.waitFor(6);
    await vi.waitFor(() => expect(running.simulator.counters().deliveriesAbandoned).toBe(1));
    // Abandoned means no retry is pending: exactly 6 attempts.
    expect(hooks.hits).toHaveLength(6);
    const first = hits[0];
    for (const hit of hits) {
      expect(hit.body.equals(first?.body ?? Buffer.alloc(0))).toBe(true);
      expect(hit.headers["content-type"]).toBe("application/json");
      expect(hit.headers["x-signature-sha1"]).toBe(expectedSignature("hook-key", hit.body));
    }
    for (let i = 1; i < hits.length; i++) {
      expect((hits[i]?.at ?? 0) - (hits[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(RETRY_INTERVAL - 5);
    }
    const log = running.simulator.deliveries();
    expect(log.map((entry) => [entry.attempt, entry.outcome])).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => [n, 500]),
    );
    for (let i = 1; i < log.length; i++) {
      expect((log[i]?.at ?? 0) - (log[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(RETRY_INTERVAL);
    }
    expect(new Set(log.map((entry) => entry.bodySha256)).size).toBe(1);
    expect(running.simulator.counters()).toMatchObject({
      deliveriesAttempted: 6,
      deliveriesFailed: 6,
      deliveriesRetried: 5,
      deliveriesAbandoned: 1,
    });
    expect(JSON.parse(first?.body.toString("utf8") ?? "{}")).toMatchObject({
      id: started.body.enrichment_id,
      status: "FINISHED",
    });
  });

  it("delivers per-contact events and the batch event, matching GET", async () => {
    const hooks = await receiver(() => 200);
    const running = await serve({ timeScale: TIME_SCALE });
    const started = await api(
      running,
      "POST",
      "/contact/enrich/bulk",
      enrichBody(4, {
        webhook_url: `${hooks.url}/batch`,
        webhook_events: { contact_finished: `${hooks.url}/contact` },
      }),
    );
    const id = started.body.enrichment_id as string;
    const partial = await api(running, "GET", `/contact/enrich/bulk/${id}?forceResults=true`);
    expect(partial.body.status).toBe("IN_PROGRESS");
    const [batch] = await hooks.waitFor(1, "/batch");
    const contacts = hooks.hits.filter((hit) => hit.path === "/contact");
    expect(contacts).toHaveLength(4);
    for (const hit of [...contacts, batch]) {
      expect(hit?.headers["x-signature-sha1"]).toBe(
        expectedSignature("sim-key", hit?.body ?? Buffer.alloc(0)),
      );
    }
    const events = contacts.map((hit) => JSON.parse(hit.body.toString("utf8")) as Record<string, unknown>);
    for (const event of events) {
      expect(event).toMatchObject({ id, status: "IN_PROGRESS" });
      expect(event.data).toHaveLength(1);
    }
    const done = await api(running, "GET", `/contact/enrich/bulk/${id}`);
    expect(done.status).toBe(200);
    expect(JSON.parse(batch?.body.toString("utf8") ?? "{}")).toEqual(done.body);
    const rows = events.map((e) => (e.data as Array<{ custom: { row: string } }>)[0]?.custom.row).sort();
    expect(rows).toEqual(["0", "1", "2", "3"]);
  });

  it("close() stops the server, its keep-alive connections and the simulator", async () => {
    const running = await startSimulator({ timeScale: TIME_SCALE });
    await api(running, "POST", "/contact/enrich/bulk", enrichBody(2)); // leaves a keep-alive connection
    await running.close();
    await running.close(); // idempotent
    await expect(fetch(`${running.baseUrl}/account/credits`)).rejects.toThrow();
    expect(running.simulator.enrichments()[0]?.status).toBe("IN_PROGRESS");
  });
});
