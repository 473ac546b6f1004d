import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openRuntime, type Runtime } from "../../src/cli/runtime.js";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { batchBody, bytesOf, enrichRecord, post, postSigned } from "../webhooks/helpers.js";
import { openRaw } from "../webhooks/raw-client.js";

// The engine's built-in receiver (enrich/reverse --webhook-url --listen): the path of the URL only,
// the health probe, and the same bounded server as `serve`.

const KEY = "fe_test_webhook_key_0123456789";
let sim: RunningSimulator;
const runtimes: Runtime[] = [];

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], timeScale: 0.01, seed: 5 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.close();
});

async function runtimeWith(webhook: {
  url?: string;
  limits?: { headersTimeoutMs: number };
}): Promise<Runtime> {
  const runtime = await openRuntime({
    apiKey: KEY,
    baseUrl: sim.baseUrl,
    store: ":memory:",
    rateLimit: 60,
    timeScale: 0.01,
    webhook: { ...webhook, listen: { host: "127.0.0.1", port: 0 }, contactEvents: false },
  });
  runtimes.push(runtime);
  return runtime;
}

describe("the engine's built-in receiver", () => {
  it("takes deliveries on the path of --webhook-url only, answers /healthz, and times out silent clients", async () => {
    const runtime = await runtimeWith({
      url: "https://hooks.example.com/fullenrich/deliveries?source=fe",
      limits: { headersTimeoutMs: 300 },
    });
    const origin = `http://${runtime.listening}`;
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(1, "runtime")]));
    expect((await postSigned(`${origin}/fullenrich/deliveries?source=fe`, body)).json).toEqual({
      status: "accepted",
    });
    expect((await postSigned(`${origin}/webhook`, body)).status).toBe(404);
    expect((await postSigned(`${origin}/`, body)).status).toBe(404);
    expect((await post(`${origin}/healthz`, "", {}, "GET")).json).toMatchObject({ store: "ready" });

    const silent = await openRaw(Number((runtime.listening as string).split(":").pop()));
    const closedAfter = await silent.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(280);
    expect(closedAfter).toBeLessThan(2_300);
    expect(runtime.receiver?.counters()).toMatchObject({
      accepted: 1,
      rejected: { "not-found": 2 },
      closed: { timeout: 1 },
    });
  });

  it("without --webhook-url (a provider on this machine), listens on /webhook", async () => {
    const runtime = await runtimeWith({});
    const origin = `http://${runtime.listening}`;
    const body = bytesOf(batchBody(randomUUID(), [enrichRecord(2, "runtime")]));
    expect((await postSigned(`${origin}/webhook`, body)).status).toBe(200);
    expect((await postSigned(`${origin}/`, body)).status).toBe(404);
  });
});
