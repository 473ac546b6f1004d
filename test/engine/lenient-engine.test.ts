import { describe, expect, it } from "vitest";
import type { ContactResult } from "../../src/engine/contact-result.js";
import type { EnrichmentJob } from "../../src/engine/job.js";
import { type EventOf, type EventType, parseEvent } from "../../src/events/event-types.js";
import { contacts, virtualWorldPerTest, type World } from "../support/virtual-world.js";

const MINUTE = 60_000;

const start = virtualWorldPerTest();

function collect(job: EnrichmentJob): { results: ContactResult[]; done: boolean } {
  const state = { results: [] as ContactResult[], done: false };
  job.results$.subscribe({ next: (r) => state.results.push(r), complete: () => (state.done = true) });
  return state;
}

async function eventsOf<T extends EventType>(w: World, type: T): Promise<EventOf<T>[]> {
  return (await w.store.read()).map(parseEvent).filter((event): event is EventOf<T> => event.type === type);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** Every GET of a result answers what `answer` says instead (undefined: the simulator's own answer). */
function rewriteGets(
  w: World,
  answer: (simulated: Response, at: number) => Promise<Response | undefined>,
): void {
  const handle = w.simulator.handle.bind(w.simulator);
  w.simulator.handle = async (request) => {
    const simulated = await handle(request);
    if (request.method !== "GET") return simulated;
    return (await answer(simulated, Date.now())) ?? simulated;
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
    const seen = collect(w.engine.enrich(contacts(3)));
    await w.advance(10 * MINUTE);
    expect(seen.done).toBe(true);
    expect(seen.results).toHaveLength(3);
    const truth = w.simulator.enrichments()[0]?.contacts ?? [];
    for (const result of seen.results) {
      const row = Number(result.custom.row);
      expect(result.contactInfo ?? undefined).toEqual(truth[row]?.record?.contact_info);
    }
    const done = (await eventsOf(w, "poll.observed")).filter((event) => event.data.outcome === "done");
    expect(done).toHaveLength(1);
    expect(done[0]?.data.payload).toMatchObject({
      served_by: "v1",
      datas: expect.arrayContaining(["not a record", null]),
    });
    expect(done[0]?.data.payload).not.toHaveProperty("data");
  });
});
