import { hasContactData } from "../../engine/contact-result.js";
import { type DomainEvent, parseEvent } from "../../events/event-types.js";
import type { EventStore } from "../../events/store.js";
import { DelayHistogram } from "./delay-histogram.js";

/** A batch as the log tells its story: sent, accepted, polled, finished, its results. */
export interface BatchStory {
  batchId: string;
  jobId: string;
  name: string;
  batchIndex: number;
  contacts: number;
  mode: "webhook" | "polling" | "both";
  requestedAt: number;
  enrichmentId: string | null;
  acceptedAt: number | null;
  /** The POST failed: why, and whether it may have started anyway. */
  rejected: { at: number; message: string; outcomeUnknown: boolean } | null;
  abandonedAt: number | null;
  completed: { at: number; status: string; source: "webhook" | "poll"; credits: number | null } | null;
  failed: { at: number; reason: string; message: string } | null;
  fallback: { at: number; reason: string } | null;
  /** When each poll of it was answered. */
  polls: number[];
  /** Its contacts' results: when, and how. */
  results: { at: number; source: "webhook" | "poll" }[];
}

/** Counts of the deliveries the log stored. */
export interface DeliveryCounts {
  /** Batch events (the final one of an enrichment) and per-contact events, stored and acknowledged. */
  batchEvents: number;
  contactEvents: number;
  /** Quarantined deliveries parsed again later (`reprocess`). */
  reprocessed: number;
  /** Signed, stored and acknowledged, but not parseable. */
  quarantined: number;
  /** Contacts in deliveries seen for the first time, and seen again (a retry, or both events). */
  newContacts: number;
  duplicateContacts: number;
}

/** A quarantined delivery, without its body (it may hold personal data). */
export interface QuarantinedDelivery {
  position: number;
  receivedAt: number;
  reason: string;
  digest: string;
  bytes: number;
  reprocessed: boolean;
}

/** What `report` shows, read from the log. */
export interface RunLog {
  /** The job the report is limited to, or null for the whole log. */
  jobId: string | null;
  events: number;
  /** The jobs in the report (a job's name, by id). */
  jobs: Map<string, string>;
  batches: BatchStory[];
  /** First and last instants of the run(s): from the first request to the last event about them. */
  span: { from: number; to: number } | null;
  results: {
    total: number;
    found: number;
    bySource: { webhook: number; poll: number };
    byVia: { "contact-event": number; "batch-event": number; poll: number };
    byStatus: Record<string, number>;
    /** Rows taken from the log by a rerun (no call, no wait), as the jobs' plans say. */
    reused: number;
  };
  /** From a batch's POST to each of its contacts' results. */
  delays: DelayHistogram;
  /** API calls by instant and kind (every job's: calls are not recorded per job). */
  calls: { at: number; priority: "submit" | "read" | "poll" }[];
  polls: { pending: number; done: number };
  fallbacks: Record<string, number>;
  deliveries: DeliveryCounts;
  quarantined: QuarantinedDelivery[];
  credits: number;
}

/** Events read from the store at once. */
const PAGE = 500;

/** Enrichments' deliveries, counted while it is not yet known whose they are. */
interface EnrichmentDeliveries {
  batchEvents: number;
  contactEvents: number;
  reprocessed: number;
}

/**
 * Reads the log a page at a time and folds it into a {@link RunLog}; with `jobId`, only that job's
 * batches, results and deliveries (API calls and quarantined deliveries name no job: those of the
 * job's time span are shown). What it keeps grows with the batches and contacts, not the events.
 */
export async function readRunLog(store: EventStore, jobId: string | null): Promise<RunLog> {
  const fold = new RunLogFold(jobId);
  for (let after = 0; ; ) {
    const page = await store.read({ after, limit: PAGE });
    for (const stored of page) fold.add(parseEvent(stored));
    if (page.length < PAGE) break;
    after = (page.at(-1) as { position: number }).position;
  }
  return fold.result();
}

/** The fold of {@link readRunLog}, one event at a time. */
export class RunLogFold {
  private events = 0;
  private readonly jobs = new Map<string, string>();
  private readonly batches = new Map<string, BatchStory>();
  private readonly batchOfEnrichment = new Map<string, BatchStory>();
  private readonly deliveriesOf = new Map<string, EnrichmentDeliveries>();
  private readonly results: RunLog["results"] = {
    total: 0,
    found: 0,
    bySource: { webhook: 0, poll: 0 },
    byVia: { "contact-event": 0, "batch-event": 0, poll: 0 },
    byStatus: {},
    reused: 0,
  };
  private readonly delays = new DelayHistogram();
  private readonly calls: RunLog["calls"] = [];
  private readonly polls = { pending: 0, done: 0 };
  private readonly fallbacks: Record<string, number> = {};
  private readonly contactSightings = { newContacts: 0, duplicateContacts: 0 };
  private readonly quarantined = new Map<string, QuarantinedDelivery>();
  private credits = 0;
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly jobId: string | null) {}

  add(event: DomainEvent): void {
    this.events++;
    switch (event.type) {
      case "job.planned":
        if (!this.wanted(event.data.jobId)) return;
        this.jobs.set(event.data.jobId, event.data.name);
        this.results.reused += event.data.reused;
        return;
      case "enrichment.requested": {
        const { data } = event;
        if (!this.wanted(data.jobId)) return;
        if (!this.jobs.has(data.jobId)) this.jobs.set(data.jobId, data.name);
        this.batches.set(data.batchId, {
          batchId: data.batchId,
          jobId: data.jobId,
          name: data.name,
          batchIndex: data.batchIndex,
          contacts: data.contacts.length,
          mode: data.mode,
          requestedAt: data.requestedAt,
          enrichmentId: null,
          acceptedAt: null,
          rejected: null,
          abandonedAt: null,
          completed: null,
          failed: null,
          fallback: null,
          polls: [],
          results: [],
        });
        this.seen(data.requestedAt);
        return;
      }
      case "enrichment.accepted": {
        const batch = this.batches.get(event.data.batchId);
        if (!batch) return;
        batch.enrichmentId = event.data.enrichmentId;
        batch.acceptedAt = event.data.acceptedAt;
        this.batchOfEnrichment.set(event.data.enrichmentId, batch);
        this.seen(event.data.acceptedAt);
        return;
      }
      case "enrichment.rejected": {
        const batch = this.batches.get(event.data.batchId);
        if (!batch) return;
        const { rejectedAt, error, outcomeUnknown } = event.data;
        batch.rejected = { at: rejectedAt, message: error.message, outcomeUnknown };
        this.seen(rejectedAt);
        return;
      }
      case "enrichment.abandoned": {
        const batch = this.batches.get(event.data.batchId);
        if (batch) batch.abandonedAt = event.data.abandonedAt;
        return;
      }
      case "api.called":
        this.calls.push({ at: event.data.calledAt, priority: event.data.priority });
        return;
      case "poll.observed": {
        const batch = this.batchOfEnrichment.get(event.data.enrichmentId);
        if (!batch) return;
        batch.polls.push(event.data.observedAt);
        this.polls[event.data.outcome]++;
        this.seen(event.data.observedAt);
        return;
      }
      case "fallback.activated": {
        const batch = this.batchOfEnrichment.get(event.data.enrichmentId);
        if (!batch) return;
        batch.fallback = { at: event.data.activatedAt, reason: event.data.reason };
        this.fallbacks[event.data.reason] = (this.fallbacks[event.data.reason] ?? 0) + 1;
        return;
      }
      case "webhook.received": {
        const counts = this.deliveriesOf.get(event.data.enrichmentId) ?? {
          batchEvents: 0,
          contactEvents: 0,
          reprocessed: 0,
        };
        if (event.data.event === "batch") counts.batchEvents++;
        else counts.contactEvents++;
        if (event.data.reprocessedAt !== undefined) {
          counts.reprocessed++;
          const item = this.quarantined.get(event.data.digest);
          if (item) item.reprocessed = true;
        }
        this.deliveriesOf.set(event.data.enrichmentId, counts);
        return;
      }
      case "webhook.quarantined": {
        const { data } = event;
        const bytes =
          data.encoding === "base64" ? Buffer.from(data.body, "base64").length : Buffer.byteLength(data.body);
        this.quarantined.set(data.digest, {
          position: event.position,
          receivedAt: data.receivedAt,
          reason: data.reason,
          digest: data.digest,
          bytes,
          reprocessed: false,
        });
        return;
      }
      case "contact.resolved":
        this.resolved(event);
        return;
      case "contact.duplicate":
        if (event.data.via !== "poll" && this.batchOfEnrichment.has(event.data.enrichmentId))
          this.contactSightings.duplicateContacts++;
        return;
      case "enrichment.completed": {
        const batch = this.batchOfEnrichment.get(event.data.enrichmentId);
        if (!batch) return;
        const { completedAt, status, source, credits } = event.data;
        batch.completed = { at: completedAt, status, source, credits };
        this.credits += credits ?? 0;
        this.seen(completedAt);
        return;
      }
      case "enrichment.failed": {
        const batch = this.batchOfEnrichment.get(event.data.enrichmentId);
        if (!batch) return;
        const { failedAt, reason, message } = event.data;
        batch.failed = { at: failedAt, reason, message };
        this.seen(failedAt);
        return;
      }
      default:
        return;
    }
  }

  result(): RunLog {
    const batches = [...this.batches.values()].sort((a, b) => a.requestedAt - b.requestedAt);
    const from = batches[0]?.requestedAt;
    const span = from === undefined ? null : { from, to: Math.max(from, this.last) };
    const deliveries: DeliveryCounts = {
      batchEvents: 0,
      contactEvents: 0,
      reprocessed: 0,
      quarantined: this.quarantined.size,
      ...this.contactSightings,
    };
    for (const [enrichmentId, counts] of this.deliveriesOf) {
      if (this.jobId !== null && !this.batchOfEnrichment.has(enrichmentId)) continue;
      deliveries.batchEvents += counts.batchEvents;
      deliveries.contactEvents += counts.contactEvents;
      deliveries.reprocessed += counts.reprocessed;
    }
    const inSpan = (at: number): boolean =>
      this.jobId === null || (span !== null && at >= span.from && at <= span.to);
    return {
      jobId: this.jobId,
      events: this.events,
      jobs: this.jobs,
      batches,
      span,
      results: this.results,
      delays: this.delays,
      calls: this.calls.filter((call) => inSpan(call.at)),
      polls: this.polls,
      fallbacks: this.fallbacks,
      deliveries,
      quarantined: [...this.quarantined.values()].filter((item) => inSpan(item.receivedAt)),
      credits: this.credits,
    };
  }

  private resolved(event: Extract<DomainEvent, { type: "contact.resolved" }>): void {
    const { data } = event;
    const batch =
      (data.batchId === null ? undefined : this.batches.get(data.batchId)) ??
      this.batchOfEnrichment.get(data.enrichmentId);
    if (!batch) return;
    const results = this.results;
    results.total++;
    if (hasContactData(data.record)) results.found++;
    results.bySource[data.source]++;
    results.byVia[data.via]++;
    results.byStatus[data.status] = (results.byStatus[data.status] ?? 0) + 1;
    if (data.source === "webhook") this.contactSightings.newContacts++;
    batch.results.push({ at: data.resolvedAt, source: data.source });
    this.delays.add(Math.max(0, data.resolvedAt - batch.requestedAt), data.source);
    this.seen(data.resolvedAt);
  }

  private wanted(jobId: string): boolean {
    return this.jobId === null || this.jobId === jobId;
  }

  private seen(at: number): void {
    if (at > this.last) this.last = at;
  }
}
