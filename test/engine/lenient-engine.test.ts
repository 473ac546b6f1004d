import { describe, expect, it } from "vitest";
import { DEFAULT_TIMINGS } from "../../src/engine/timings.js";
import type { Logger } from "../../src/internal/logger.js";
import { LogBuilder } from "../support/log-builder.js";
import * as vw from "../support/virtual-world.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

const start = vw.virtualWorldPerTest();

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** Every GET of a result answers what `answer` says instead (undefined: the simulator's own answer). */
function rewriteGets(
  w: vw.World,
  answer: (simulated: Response, at: number) => Promise<Response | undefined>,
): void {
  const handle = w.simulator.handle.bind(w.simulator);
  w.simulator.handle = async (request) => {
    const simulated = await handle(request);
    if (request.method !== "GET") return simulated;
    return (await answer(simulated, Date.now())) ?? simulated;
  };
}

interface LoggedLine {
  level: "info" | "warn";
  message: string;
  fields: unknown;
}

/** A logger that keeps its info and warn lines. */
function recordingLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const ignore = () => {};
  return {
    lines,
    logger: {
      debug: ignore,
      info: (message, fields) => lines.push({ level: "info", message, fields }),
      error: ignore,
      warn: (message, fields) => lines.push({ level: "warn", message, fields }),
    },
  };
}

describe("a poll's answer is kept as the provider sent it", () => {
  it("a v1 `datas` body with an entry that is no record: stored raw, the contacts resolve from what parses", async () => {
    const w = await start({ mode: "polling" });
    rewriteGets(w, async (simulated) => {
      if (simulated.status !== 200) return undefined;
      const { data, ...rest } = (await simulated.json()) as { data: unknown[] };
      return json(200, { ...rest, datas: [...data, "not a record", null], served_by: "v1" });
    });
    const seen = vw.collect(w.engine.enrich(vw.contacts(3)));
    await w.advance(10 * MINUTE);
    expect(seen.done).toBe(true);
    expect(seen.results).toHaveLength(3);
    const truth = w.simulator.enrichments()[0]?.contacts ?? [];
    for (const result of seen.results) {
      const row = Number(result.custom.row);
      expect(result.contactInfo ?? undefined).toEqual(truth[row]?.record?.contact_info);
    }
    const done = (await vw.eventsOf(w, "poll.observed")).filter((event) => event.data.outcome === "done");
    expect(done).toHaveLength(1);
    expect(done[0]?.data.payload).toMatchObject({
      served_by: "v1",
      datas: expect.arrayContaining(["not a record", null]),
    });
    expect(done[0]?.data.payload).not.toHaveProperty("data");
  });
});

describe("statuses that are neither running nor final", () => {
  it("are polled with the normal back-off, then failed after unknownStatusCapMs with a message naming the status; logged once, at info", async () => {
    const { logger, lines } = recordingLogger();
    const w = await start({ mode: "polling", engine: { logger } });
    rewriteGets(w, async () => json(200, { id: "x", status: "RATE_LIMIT", cost: null, data: null }));
    const job = w.engine.enrich(vw.contacts(2));
    const seen = vw.collect(job);
    await w.advance(3 * 60 * MINUTE);
    const summary = await job.summary;
    expect(seen.done).toBe(true);
    expect(seen.results).toEqual([]);
    expect(summary.failures).toHaveLength(1);
    expect(summary.failures[0]?.message).toMatch(/status "RATE_LIMIT", neither running nor final/);
    const failed = await vw.eventsOf(w, "enrichment.failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data.reason).toBe("error");
    const times = vw.gets(w).map((call) => call.at);
    const cap = DEFAULT_TIMINGS.unknownStatusCapMs;
    // The first poll saw it; the failure came at the first poll at least `cap` later (gaps ≤ 72 s).
    expect(failed[0]?.data.failedAt).toBeGreaterThanOrEqual((times[0] as number) + cap);
    expect(failed[0]?.data.failedAt).toBeLessThanOrEqual((times[0] as number) + cap + 72 * SECOND);
    expect(times.at(-1)).toBe(failed[0]?.data.failedAt);
    // The normal back-off toward one a minute: about 30 polls in 30 minutes, not hundreds.
    expect(times.length).toBeGreaterThan(20);
    expect(times.length).toBeLessThan(45);
    // Info, not a warning: the engine copes; what needs the user is the failure after the cap.
    expect(lines.filter((line) => /does not document as running or final/.test(line.message))).toEqual([
      expect.objectContaining({ level: "info", fields: expect.objectContaining({ status: "RATE_LIMIT" }) }),
    ]);
  });

  it("the cap scales with timeScale and can be set", async () => {
    const w = await start({
      mode: "polling",
      engine: { timeScale: 0.5, timings: { unknownStatusCapMs: 4 * MINUTE } },
    });
    rewriteGets(w, async () => json(200, { id: "x", status: "SOMETHING_NEW", data: null }));
    const job = w.engine.enrich(vw.contacts(1));
    await w.advance(60 * MINUTE);
    const summary = await job.summary;
    expect(summary.failures[0]?.message).toMatch(/"SOMETHING_NEW"/);
    const first = vw.gets(w)[0]?.at as number;
    const failedAt = (await vw.eventsOf(w, "enrichment.failed"))[0]?.data.failedAt as number;
    expect(failedAt - first).toBeGreaterThanOrEqual(2 * MINUTE);
    expect(failedAt - first).toBeLessThan(3 * MINUTE);
  });

  it("an unknown status that gives way to a running one, then to a final one, resolves every contact and fails nothing", async () => {
    const w = await start({
      mode: "polling",
      simulator: { contactDurationMs: { min: 50 * MINUTE, max: 55 * MINUTE } },
    });
    // UNKNOWN for the first 25 minutes, IN_PROGRESS for the next 25: each under the 30-minute cap.
    rewriteGets(w, async (simulated, at) => {
      if (simulated.status === 200) return undefined;
      return json(200, { id: "x", status: at < 25 * MINUTE ? "UNKNOWN" : "IN_PROGRESS", data: null });
    });
    const seen = vw.collect(w.engine.enrich(vw.contacts(2)));
    await w.advance(90 * MINUTE);
    expect(seen.done).toBe(true);
    expect(seen.results.map((result) => result.status)).toEqual(["FINISHED", "FINISHED"]);
    expect(await vw.eventsOf(w, "enrichment.failed")).toEqual([]);
  });

  it("a delivery with such a status resolves the contacts in it like a per-contact event, and never completes the batch", () => {
    const log = new LogBuilder();
    log.append("enrichment.requested", {
      batchId: "b1",
      jobId: "j1",
      batchIndex: 0,
      contactsDigest: "d",
      kind: "enrich",
      name: "n",
      contacts: [0, 1].map((index) => ({
        key: `c:b1.${index}`,
        contact: {
          first_name: "A",
          last_name: `B${index}`,
          domain: "e.com",
          custom: { _fxr: `b1.${index}` },
        },
      })),
      keying: { correlationKey: "_fxr", idField: null },
      webhookUrl: "http://hooks.test",
      contactWebhookUrl: null,
      mode: "webhook",
      requestedAt: 0,
    });
    log.append("enrichment.accepted", { batchId: "b1", enrichmentId: "e1", acceptedAt: 0 });
    for (const status of ["RATE_LIMIT", "UNKNOWN", "NOT_IN_THE_DOCS"]) {
      log.append("webhook.received", {
        digest: status,
        event: "contact",
        enrichmentId: "e1",
        verified: true,
        payload: {
          id: "e1",
          status,
          datas: [
            {
              custom: { _fxr: "b1.0" },
              contact_info: { most_probable_work_email: { email: "a@e.com", status: null } },
            },
          ],
        },
        receivedAt: 1,
      });
    }
    const resolved = log.ofType("contact.resolved");
    expect(resolved.map((event) => [event.data.contactKey, event.data.status, event.data.via])).toEqual([
      ["c:b1.0", "FINISHED", "contact-event"],
    ]);
    expect(log.ofType("contact.duplicate")).toHaveLength(2);
    expect(log.ofType("enrichment.completed")).toEqual([]);
  });
});
