import { describe, expect, it } from "vitest";
import {
  EXPECTED_FINISH_QUANTILE,
  MIN_LEARNED_SAMPLES,
  ProviderTimings,
} from "../../src/engine/learned-timings.js";
import { DEFAULT_TIMINGS, firstPollDelay } from "../../src/engine/timings.js";
import { COMPLETION_SAMPLES_PER_CLASS, sizeClass } from "../../src/events/projections/completion-times.js";
import { EnrichmentsProjection } from "../../src/events/projections/enrichments-projection.js";
import { type Random, seededRandom } from "../../src/internal/random.js";
import { LogBuilder, testKeying } from "../support/log-builder.js";

/**
 * A provider whose contacts each take a duration drawn uniformly from [min, max] (as the simulator
 * draws them); a batch finishes with its slowest contact.
 */
function batchDuration(random: Random, size: number, min: number, max: number): number {
  let slowest = 0;
  for (let i = 0; i < size; i++) slowest = Math.max(slowest, random.between(min, max));
  return Math.round(slowest);
}

/** The exact `q`-quantile of such a batch's duration: P(done by t) = ((t − min)/(max − min))^size. */
function trueQuantile(q: number, size: number, min: number, max: number): number {
  return min + (max - min) * q ** (1 / size);
}

/**
 * Runs `batches` batches of `size` through the log, one after the other: requested, accepted, then
 * the observation that found each finished (its batch webhook, or a poll `lateMs` after it finished).
 */
function observe(
  log: LogBuilder,
  options: {
    batches: number;
    size: number;
    min: number;
    max: number;
    via: "webhook" | "poll";
    lateMs?: number;
  },
): void {
  const random = seededRandom(11);
  const base = log.events.length;
  for (let b = 0; b < options.batches; b++) {
    const batchId = `batch-${base}-${b}`;
    const enrichmentId = `enr-${base}-${b}`;
    const acceptedAt = log.now;
    log.append("enrichment.requested", {
      batchId,
      jobId: "job",
      batchIndex: b,
      contactsDigest: "d",
      kind: "enrich",
      name: "n",
      contacts: Array.from({ length: options.size }, (_, i) => ({
        key: `k${i}`,
        contact: { first_name: "A", last_name: `B${b}x${i}`, domain: "example.com" },
      })),
      keying: testKeying,
      webhookUrl: options.via === "webhook" ? "http://hooks.test/x" : null,
      contactWebhookUrl: null,
      mode: options.via === "webhook" ? "webhook" : "polling",
      requestedAt: acceptedAt,
    });
    log.append("enrichment.accepted", { batchId, enrichmentId, acceptedAt });
    const finishedAt = acceptedAt + batchDuration(random, options.size, options.min, options.max);
    const payload = { id: enrichmentId, name: "n", status: "FINISHED", cost: { credits: 0 }, data: [] };
    if (options.via === "webhook") {
      log.append("webhook.received", {
        digest: `digest-${batchId}`,
        event: "batch",
        enrichmentId,
        verified: true,
        payload,
        receivedAt: finishedAt,
      });
    } else {
      log.append("poll.observed", {
        enrichmentId,
        kind: "enrich",
        outcome: "done",
        status: "FINISHED",
        httpStatus: 200,
        payload,
        observedAt: finishedAt + (options.lateMs ?? 0),
      });
    }
    log.now = finishedAt + 1_000;
  }
}

describe("learned timings: the provider's real completion times, from the log", () => {
  it("starts from the documented 30–90 s until enough batches of a size were seen", () => {
    const log = new LogBuilder();
    const provider = new ProviderTimings(DEFAULT_TIMINGS, log.projection);
    expect(provider.expectedDurationMs(10)).toBe(90_000);
    expect(provider.firstPollDelayMs(10)).toBe(firstPollDelay(DEFAULT_TIMINGS, 10));
    expect(provider.pollIntervalMs(10)).toBe(DEFAULT_TIMINGS.pollIntervalMs);
    observe(log, { batches: MIN_LEARNED_SAMPLES - 1, size: 10, min: 60_000, max: 240_000, via: "webhook" });
    expect(provider.learned(10, 0.5)).toBeNull();
    expect(provider.expectedDurationMs(10)).toBe(90_000);
    observe(log, { batches: 1, size: 10, min: 60_000, max: 240_000, via: "webhook" });
    expect(provider.expectedDurationMs(10)).toBeGreaterThan(150_000);
    // Another size class has seen nothing yet: documented.
    expect(provider.expectedDurationMs(1)).toBe(90_000);
  });

  it.each([
    ["slow (60–240 s), by webhook", 60_000, 240_000, "webhook"],
    ["slow (60–240 s), by polls", 60_000, 240_000, "poll"],
    ["fast (5–20 s), by webhook", 5_000, 20_000, "webhook"],
  ] as const)("converges on a %s provider", (_name, min, max, via) => {
    const log = new LogBuilder();
    const provider = new ProviderTimings(DEFAULT_TIMINGS, log.projection);
    const size = 10;
    // Polls see a finished batch a few seconds late: the estimate is an upper bound.
    observe(log, { batches: COMPLETION_SAMPLES_PER_CLASS, size, min, max, via, lateMs: 3_000 });
    const spread = max - min;
    const finish = trueQuantile(EXPECTED_FINISH_QUANTILE, size, min, max);
    const firstPoll = trueQuantile(DEFAULT_TIMINGS.firstPollQuantile, size, min, max);
    const late = via === "poll" ? 3_000 : 0;
    // Within 8 % of the spread of the true quantiles (64 samples), never below what was observed.
    expect(Math.abs(provider.expectedDurationMs(size) - late - finish)).toBeLessThan(0.08 * spread);
    expect(Math.abs(provider.firstPollDelayMs(size) - late - firstPoll)).toBeLessThan(0.08 * spread);
    // Polls after the first are spaced out for a provider more spread out than documented.
    if (via !== "poll" && max - min > 60_000)
      expect(provider.pollIntervalMs(size)).toBeGreaterThan(2 * 5_000);
    if (max - min < 60_000) expect(provider.pollIntervalMs(size)).toBe(5_000);
    expect(provider.probeAt(0, size)).toBe(
      provider.expectedDurationMs(size) + DEFAULT_TIMINGS.fallbackSlackMs,
    );
    expect(provider.webhookDeadline(0, size)).toBe(
      provider.expectedDurationMs(size) + 5 * 60_000 + DEFAULT_TIMINGS.fallbackSlackMs,
    );
  });

  it("follows a provider that changes pace: the latest batches count", () => {
    const log = new LogBuilder();
    const provider = new ProviderTimings(DEFAULT_TIMINGS, log.projection);
    observe(log, {
      batches: COMPLETION_SAMPLES_PER_CLASS,
      size: 1,
      min: 60_000,
      max: 240_000,
      via: "webhook",
    });
    expect(provider.expectedDurationMs(1)).toBeGreaterThan(200_000);
    observe(log, { batches: COMPLETION_SAMPLES_PER_CLASS, size: 1, min: 5_000, max: 20_000, via: "webhook" });
    expect(provider.expectedDurationMs(1)).toBeLessThanOrEqual(20_000);
  });

  it("counts the first observation of an enrichment only, FINISHED batches only", () => {
    const log = new LogBuilder();
    observe(log, { batches: 3, size: 4, min: 60_000, max: 60_000, via: "webhook" });
    const [first] = log.ofType("enrichment.accepted");
    // A poll after the webhook settled it: nothing new.
    log.append("poll.observed", {
      enrichmentId: first?.data.enrichmentId as string,
      kind: "enrich",
      outcome: "done",
      status: "FINISHED",
      httpStatus: 200,
      payload: { id: "x", status: "FINISHED", data: [] },
      observedAt: 999_999,
    });
    expect(log.projection.completionTimes(4)).toEqual([60_000, 60_000, 60_000]);
    expect(log.projection.completionTimes(5)).toEqual([60_000, 60_000, 60_000]); // same class
    expect(sizeClass(4)).toBe(sizeClass(7));
    expect(log.projection.completionTimes(8)).toEqual([]);
  });

  it("a poll of a webhook batch counts only when an earlier poll found it running (not a probe or fallback of an old batch)", () => {
    const log = new LogBuilder();
    const batch = (id: string) => {
      log.append("enrichment.requested", {
        batchId: id,
        jobId: "job",
        batchIndex: 0,
        contactsDigest: "d",
        kind: "enrich",
        name: "n",
        contacts: [{ key: "k0", contact: { first_name: "A", last_name: id, domain: "example.com" } }],
        keying: testKeying,
        webhookUrl: "http://hooks.test/x",
        contactWebhookUrl: null,
        mode: "webhook",
        requestedAt: 0,
      });
      log.append("enrichment.accepted", { batchId: id, enrichmentId: `e-${id}`, acceptedAt: 0 });
    };
    const poll = (id: string, outcome: "pending" | "done", observedAt: number) =>
      log.append("poll.observed", {
        enrichmentId: `e-${id}`,
        kind: "enrich",
        outcome,
        status: outcome === "done" ? "FINISHED" : "IN_PROGRESS",
        httpStatus: outcome === "done" ? 200 : 400,
        payload: outcome === "done" ? { id: `e-${id}`, status: "FINISHED", data: [] } : null,
        observedAt,
      });
    batch("late");
    poll("late", "done", 600_000); // found finished 10 minutes in: when it finished is unknown
    batch("bracketed");
    poll("bracketed", "pending", 150_000);
    poll("bracketed", "done", 160_000);
    expect(log.projection.completionTimes(1)).toEqual([155_000]); // between the two polls
  });

  it("survives a snapshot", () => {
    const log = new LogBuilder();
    observe(log, { batches: 6, size: 10, min: 60_000, max: 240_000, via: "webhook" });
    const restored = EnrichmentsProjection.restore(JSON.parse(JSON.stringify(log.projection.snapshot())));
    expect(restored.completionTimes(10)).toEqual(log.projection.completionTimes(10));
    expect(restored.completionTimes(10)).toHaveLength(6);
  });
});
