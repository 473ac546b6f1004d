// What one scenario run measured: delays, calls, losses and duplicates, from the simulator's
// record of when each contact finished and the times at which the jobs' results$ emitted them.

/** Contacts for job `job`: each with a `custom.row` unique across the scenario. */
export function contactsFor(job, size) {
  return Array.from({ length: size }, (_, index) => ({
    first_name: `Ada${index}`,
    last_name: `Lovelace${job}x${index}`,
    domain: `example${(job * 7 + index) % 13}.com`,
    custom: { row: `${job}-${index}` },
  }));
}

export const contactKey = (enrichmentId, row) => `${enrichmentId}|${row}`;

/** Records every emission of a job's results$: time, count, and how it arrived. */
export class EmissionLog {
  constructor(now) {
    this.now = now;
    this.first = new Map();
    this.total = 0;
    this.lastAt = 0;
    this.completedJobs = 0;
    this.errors = [];
  }

  follow(job) {
    job.results$.subscribe({
      next: (result) => {
        const at = this.now();
        this.total++;
        this.lastAt = Math.max(this.lastAt, at);
        const key = contactKey(result.enrichmentId, result.custom.row);
        if (!this.first.has(key)) this.first.set(key, { at, via: result.via });
      },
      complete: () => {
        this.completedJobs++;
      },
      error: (error) => {
        this.errors.push(String(error?.message ?? error));
      },
    });
  }

  get distinct() {
    return this.first.size;
  }

  get duplicates() {
    return this.total - this.first.size;
  }
}

/**
 * What a naive consumer would have done: emit every record of every delivery it answered 2xx.
 * Counts records per contact, and by event kind, to see how many it would have emitted twice.
 */
export class NaiveConsumer {
  constructor() {
    this.seen = new Map();
    this.records = 0;
  }

  /** `body`: the bytes of a delivery that was answered 2xx. */
  observe(body) {
    let parsed;
    try {
      parsed = JSON.parse(Buffer.from(body).toString("utf8"));
    } catch {
      return;
    }
    const kind = parsed.status === "IN_PROGRESS" ? "contact" : "batch";
    for (const record of parsed.data ?? []) {
      const row = record?.custom?.row;
      if (typeof row !== "string") continue;
      const key = contactKey(parsed.id, row);
      const entry = this.seen.get(key) ?? { contact: 0, batch: 0 };
      entry[kind]++;
      this.seen.set(key, entry);
      this.records++;
    }
  }

  /** Records a naive consumer would have emitted more than once, and the part from contact+batch overlap. */
  summary() {
    let bothKinds = 0;
    for (const entry of this.seen.values()) if (entry.contact > 0 && entry.batch > 0) bothKinds++;
    return { records: this.records, duplicates: this.records - this.seen.size, bothKinds };
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/**
 * Joins the simulator's contacts to the emissions. `finishedAt` and emission times are in the same
 * clock (virtual ms, or real ms for the loopback run); `origin` is the submission instant in that
 * clock, and `scale` converts to provider time (durations ÷ timeScale).
 */
export function summarise({
  simulator,
  emissions,
  enrichments,
  contactsTotal,
  lastCallAt,
  lastDeliveryAt = 0,
  callWindowMs = 60_000,
  origin = 0,
  scale = 1,
  include = () => true,
  callsBaseline = 0,
}) {
  const delays = [];
  let finished = 0;
  let lost = 0;
  let neverFinished = 0;
  const byVia = {};
  const measured = simulator.enrichments().filter(include);
  for (const enrichment of measured) {
    const data = enrichment.request?.data ?? [];
    for (const contact of enrichment.contacts) {
      const row = data[contact.index]?.custom?.row;
      const seen = emissions.first.get(contactKey(enrichment.id, row));
      if (contact.finishedAt === undefined) {
        neverFinished++;
        if (!seen) lost++;
        continue;
      }
      finished++;
      if (!seen) {
        lost++;
        continue;
      }
      byVia[seen.via] = (byVia[seen.via] ?? 0) + 1;
      delays.push(Math.max(0, seen.at - contact.finishedAt) / scale);
    }
  }
  const submitted = measured.reduce((sum, e) => sum + e.contacts.length, 0);
  // Contacts that never reached the provider (a POST that failed) are lost too.
  lost += Math.max(0, contactsTotal - submitted);
  delays.sort((a, b) => a - b);
  const counters = simulator.counters();
  // The scenario's duration: from submission until its last result or delivery attempt, or until
  // the budget slot of its last API call frees (one rate window after it), whichever is last. So
  // calls per minute over it can never exceed the limit.
  const endAt = Math.max(emissions.lastAt, lastDeliveryAt, lastCallAt + callWindowMs);
  const durationMs = (endAt - origin) / scale;
  const minutes = durationMs / 60_000;
  const calls = counters.calls - callsBaseline;
  const callsPerMinute = minutes > 0 ? calls / minutes : 0;
  return {
    contacts: contactsTotal,
    finishedAtProvider: finished,
    emitted: emissions.distinct,
    lost,
    notFinishedAtProvider: neverFinished,
    duplicatesEmitted: emissions.duplicates,
    delayMs: {
      p50: percentile(delays, 50),
      p95: percentile(delays, 95),
      max: delays.length > 0 ? delays[delays.length - 1] : null,
      mean: delays.length > 0 ? delays.reduce((a, b) => a + b, 0) / delays.length : null,
    },
    via: byVia,
    calls,
    callsPerEnrichment: calls / enrichments,
    callsByRoute: counters.callsByRoute,
    rateLimited: counters.rateLimited,
    durationMs,
    callsPerMinute,
    budgetShare: callsPerMinute / 60,
    busiestWindow: counters.busiestWindow,
    busiestShare: counters.busiestWindow / 60,
    deliveries: {
      attempted: counters.deliveriesAttempted,
      succeeded: counters.deliveriesSucceeded,
      failed: counters.deliveriesFailed,
      abandoned: counters.deliveriesAbandoned,
    },
  };
}
