// The five ways of getting results that the benchmark compares, as engine options.

import { seededRandom } from "../../dist/index.js";

/** The provider's advice as a baseline: one poll every 5 minutes, no back-off, no jitter. */
export const FIVE_MINUTE_POLLING = {
  firstPollAfterMs: 300_000,
  pollIntervalMs: 300_000,
  pollBackoffFactor: 1,
  pollMaxIntervalMs: 300_000,
  pollJitter: 0,
};

/**
 * `engine`: options passed to EnrichmentEngine.start (besides client, store, webhook).
 * `contactEvents`: whether the provider is asked for per-contact events.
 * `webhooks`: whether a webhook URL is registered at all (a receiver outage only matters then).
 * `library`: a fullenrich-rx mode (exactly once is asserted) rather than a baseline integration.
 */
export const MODES = [
  {
    id: "webhook-batch",
    label: "Webhook, batch event only",
    short: "batch webhook",
    engine: { mode: "webhook", fallback: false },
    contactEvents: false,
    webhooks: true,
    library: false,
  },
  {
    id: "webhook-contact",
    label: "Webhook + per-contact events",
    short: "per-contact webhook",
    engine: { mode: "webhook", fallback: false },
    contactEvents: true,
    webhooks: true,
    library: false,
  },
  {
    id: "poll-5min",
    label: "Polling every 5 min",
    short: "5-min polling",
    engine: { mode: "polling", timings: FIVE_MINUTE_POLLING },
    contactEvents: false,
    webhooks: false,
    library: false,
  },
  {
    id: "adaptive",
    label: "fullenrich-rx adaptive polling",
    short: "adaptive polling",
    engine: { mode: "polling" },
    contactEvents: false,
    webhooks: false,
    library: true,
  },
  {
    id: "hybrid",
    label: "fullenrich-rx hybrid (webhooks + fallback)",
    short: "hybrid",
    engine: { mode: "webhook" },
    contactEvents: true,
    webhooks: true,
    library: true,
  },
];

export const MODE_BY_ID = new Map(MODES.map((mode) => [mode.id, mode]));

/**
 * What-if variants, run on a few scenarios only, to put numbers on timings worth changing. They
 * use the engine's public `timings` option; nothing in the library is changed.
 */
export const WHAT_IF_MODES = [
  {
    id: "hybrid-early-fallback",
    label: "hybrid, fallback 1 min after the expected finish (what-if)",
    short: "hybrid, early fallback",
    // fallbackAfterRetries: 0 makes the fallback deadline the expected finish (90 s) + slack
    // (60 s), instead of + the provider's 5-minute retry window as well.
    engine: { mode: "webhook", timings: { fallbackAfterRetries: 0 } },
    contactEvents: true,
    webhooks: true,
    library: true,
    baseline: "hybrid",
  },
  {
    id: "hybrid-no-startup-check",
    label: "hybrid without the start-up check (what-if)",
    short: "hybrid, no start-up check",
    // Only the probes of overdue batches notice the outage: what a receiver that goes down after
    // the start would see.
    engine: { mode: "webhook" },
    startupCheck: false,
    contactEvents: true,
    webhooks: true,
    library: true,
    baseline: "hybrid",
  },
  {
    id: "adaptive-first-poll-30s",
    label: "adaptive polling, first poll at 30 s whatever the batch size (what-if)",
    short: "adaptive, first poll at 30 s",
    engine: { mode: "polling", timings: { firstPollAfterMs: 30_000 } },
    contactEvents: false,
    webhooks: false,
    library: true,
    baseline: "adaptive",
  },
];

/**
 * The hybrid's target scenarios (issue 17), run at 10 enrichments × 10 contacts: `extra` is what
 * the scenario passes to runVirtual (see virtual.mjs).
 */
export const TARGET_SCENARIOS = [
  { id: "dead", label: "webhook URL dead for the whole run", extra: { deadHook: true } },
  { id: "silent", label: "webhooks never arrive (silently dropped)", extra: { silent: true } },
  { id: "slow", label: "slow provider (60–240 s a contact)", extra: { slow: true } },
  {
    id: "slow-warm",
    label: "slow provider, after 10 enrichments learned",
    extra: { slow: true, warmup: 10 },
  },
];
export const ANY_MODE_BY_ID = new Map([...MODES, ...WHAT_IF_MODES].map((mode) => [mode.id, mode]));

/** The mode with its engine options for a batch size. */
export function resolveMode(id, batchSize) {
  const mode = ANY_MODE_BY_ID.get(id);
  if (!mode) throw new Error(`unknown mode ${id}`);
  return mode.engineFor ? { ...mode, engine: mode.engineFor(batchSize) } : mode;
}

/**
 * The engine options of a benchmark run in `mode`: seeded jitter, predictable ids, the mode's own
 * settings, and the webhook settings (the receiver at `hookUrl`, the start-up probe through
 * `probeFetch`) when the mode uses webhooks.
 */
export function engineOptions(mode, { seed, hookUrl, receiver, probeFetch }) {
  let nextId = 0;
  return {
    random: seededRandom(seed),
    newId: () => `b${(++nextId).toString(36)}`,
    ...mode.engine,
    ...(mode.webhooks
      ? {
          webhook: {
            url: hookUrl,
            contactEvents: mode.contactEvents,
            receiver,
            // The start-up check: its probe delivery goes the receiver's way (outage included).
            probe: mode.startupCheck === false ? false : { fetch: probeFetch },
          },
        }
      : {}),
  };
}
