import fc from "fast-check";
import { correlationId } from "../../src/engine/batches.js";
import { keyBatch } from "../../src/events/contact-key.js";
import { streams } from "../../src/events/event-types.js";
import type { EventStore } from "../../src/events/store.js";
import { LogBuilder, testKeying } from "./log-builder.js";

/** What happens to one batch of a random log. */
export interface BatchPlan {
  contacts: number;
  /** How its POST ended. */
  outcome: "accepted" | "refused" | "unknown" | "abandoned" | "no-answer";
  /** After acceptance: observations, in order (a final one settles it; later ones are duplicates). */
  observations: ("contact" | "pending" | "batch" | "poll" | "credits")[];
}

/** A random log's plan: its batches, the interleaving of their steps, and a few extras. */
export interface LogPlan {
  batches: BatchPlan[];
  order: number[];
  foreignDelivery: boolean;
  quarantined: boolean;
}

/** Random plans for a few batches, and an interleaving of their steps. */
export const randomLogPlan: fc.Arbitrary<LogPlan> = fc.record({
  batches: fc.array(
    fc.record({
      contacts: fc.integer({ min: 1, max: 5 }),
      outcome: fc.constantFrom(
        "accepted",
        "accepted",
        "accepted",
        "refused",
        "unknown",
        "abandoned",
        "no-answer",
      ),
      observations: fc.array(fc.constantFrom("contact", "pending", "batch", "poll", "credits"), {
        maxLength: 6,
      }),
    }) as fc.Arbitrary<BatchPlan>,
    { minLength: 1, maxLength: 6 },
  ),
  /** Which batch takes the next step, drawn until every batch has taken all of its steps. */
  order: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
  foreignDelivery: fc.boolean(),
  quarantined: fc.boolean(),
});

function person(batch: number, index: number) {
  return {
    first_name: `First${batch}x${index}`,
    last_name: `Last${index}`,
    domain: `b${batch}.example`,
    custom: { row: `${batch}.${index}`, _fxr: correlationId(`batch${batch}`, index) },
  };
}

function record(batch: number, index: number) {
  const contact = person(batch, index);
  return {
    input: { first_name: contact.first_name, last_name: contact.last_name, company_domain: contact.domain },
    custom: contact.custom,
    contact_info: {
      most_probable_work_email: { email: `p${batch}.${index}@x.example`, status: "DELIVERABLE" },
    },
  };
}

/**
 * Builds a realistic log from a plan (requests, answers, deliveries and polls, and the decisions
 * reconciliation draws from them, as the engine would append them) and returns it as a LogBuilder.
 */
export function buildRandomLog(plan: LogPlan): LogBuilder {
  const log = new LogBuilder();
  const steps = plan.batches.map((batch, b) => batchSteps(log, batch, b));
  let cursor = 0;
  const remaining = () => steps.some((list) => list.length > 0);
  while (remaining()) {
    const pick = plan.order[cursor++ % plan.order.length] ?? 0;
    const live = steps.filter((list) => list.length > 0);
    const step = live[pick % live.length]?.shift();
    step?.();
    log.now += 1_000;
  }
  if (plan.foreignDelivery) {
    log.append(
      "webhook.received",
      {
        digest: "foreign",
        event: "batch",
        enrichmentId: "foreign-enrichment",
        verified: true,
        payload: { id: "foreign-enrichment", status: "FINISHED", data: [record(99, 0)] },
        receivedAt: log.now,
      },
      "delivery:foreign",
      streams.deliveries,
    );
  }
  if (plan.quarantined) {
    log.append(
      "webhook.quarantined",
      { digest: "q", reason: "not JSON", body: "{", encoding: "utf8", verified: true, receivedAt: log.now },
      "delivery:q",
      streams.deliveries,
    );
  }
  return log;
}

function batchSteps(log: LogBuilder, plan: BatchPlan, b: number): (() => void)[] {
  const batchId = `batch${b}`;
  const enrichmentId = `enrichment${b}`;
  const contacts = Array.from({ length: plan.contacts }, (_, index) => person(b, index));
  const body = (status: string, data: unknown[]) => ({
    id: enrichmentId,
    status,
    cost: { credits: 2 },
    data,
  });
  const steps: (() => void)[] = [
    () => log.append("api.called", { calledAt: log.now, priority: "submit" }, undefined, streams.calls),
    () => {
      const keys = keyBatch(testKeying, contacts, "request");
      log.append(
        "enrichment.requested",
        {
          batchId,
          jobId: `job${b % 2}`,
          batchIndex: b,
          contactsDigest: "d",
          kind: "enrich",
          name: "random",
          contacts: contacts.map((contact, i) => ({ key: keys[i] as string, contact })),
          keying: testKeying,
          webhookUrl: "http://hooks.example/",
          contactWebhookUrl: null,
          mode: "webhook",
          requestedAt: log.now,
        },
        `requested:${batchId}`,
        streams.batch(batchId),
      );
    },
  ];
  const rejected = (outcomeUnknown: boolean) => () =>
    log.append(
      "enrichment.rejected",
      { batchId, outcomeUnknown, error: { name: "E", message: "e" }, rejectedAt: log.now },
      `rejected:${batchId}`,
      streams.batch(batchId),
    );
  switch (plan.outcome) {
    case "refused":
      steps.push(rejected(false));
      return steps;
    case "unknown":
      steps.push(rejected(true));
      return steps;
    case "abandoned":
      steps.push(rejected(true), () =>
        log.append(
          "enrichment.abandoned",
          { batchId, reason: "no delivery", abandonedAt: log.now },
          `abandoned:${batchId}`,
          streams.batch(batchId),
        ),
      );
      return steps;
    case "no-answer":
      return steps;
    case "accepted":
      break;
  }
  steps.push(() =>
    log.append(
      "enrichment.accepted",
      { batchId, enrichmentId, acceptedAt: log.now },
      `accepted:${batchId}`,
      streams.batch(batchId),
    ),
  );
  plan.observations.forEach((observation, n) => {
    const digest = `${batchId}-${n}`;
    steps.push(() => {
      switch (observation) {
        case "contact":
          log.append(
            "webhook.received",
            {
              digest,
              event: "contact",
              enrichmentId,
              verified: true,
              payload: body("IN_PROGRESS", [record(b, n % plan.contacts)]),
              receivedAt: log.now,
            },
            `delivery:${digest}`,
            streams.deliveries,
          );
          return;
        case "pending":
          log.append(
            "poll.observed",
            {
              enrichmentId,
              kind: "enrich",
              outcome: "pending",
              status: "IN_PROGRESS",
              httpStatus: 400,
              payload: null,
              observedAt: log.now,
            },
            undefined,
            streams.enrichment(enrichmentId),
          );
          return;
        case "batch":
          log.append(
            "webhook.received",
            {
              digest,
              event: "batch",
              enrichmentId,
              verified: true,
              payload: body(
                "FINISHED",
                contacts.map((_, i) => record(b, i)),
              ),
              receivedAt: log.now,
            },
            `delivery:${digest}`,
            streams.deliveries,
          );
          return;
        case "poll":
        case "credits": {
          const status = observation === "poll" ? "FINISHED" : "CREDITS_INSUFFICIENT";
          log.append(
            "poll.observed",
            {
              enrichmentId,
              kind: "enrich",
              outcome: "done",
              status,
              httpStatus: status === "FINISHED" ? 200 : 402,
              payload: body(
                status,
                contacts.slice(0, 1).map((_, i) => record(b, i)),
              ),
              observedAt: log.now,
            },
            undefined,
            streams.enrichment(enrichmentId),
          );
          return;
        }
      }
    });
  });
  return steps;
}

/** Appends a built log's events to a store, each to its stream, in order (positions match). */
export async function storeLog(log: LogBuilder, store: EventStore, upTo = log.events.length): Promise<void> {
  for (const event of log.events.slice(0, upTo)) {
    await store.append(event.stream, [
      {
        type: event.type,
        version: event.version,
        data: event.data,
        ...(event.dedupKey ? { dedupKey: event.dedupKey } : {}),
      },
    ]);
  }
}
