import type { Subscription } from "rxjs";
import type { Scheduler } from "../internal/time.js";
import { unitFor } from "./determinism.js";
import type {
  SimulatedContact,
  SimulatedEnrichment,
  SimulatedKind,
  SimulatedStatus,
  SimulatorFaults,
} from "./options.js";
import type { JobPlan, JobView, SentRecord, Shapes } from "./shapes.js";
import { recordCost, type SimRecord } from "./synthetic.js";
import type { SendControls, WebhookJob } from "./webhook-sender.js";

/** One contact of a running job. */
interface ContactState {
  index: number;
  dueAt: number;
  finishedAt?: number;
  record?: SentRecord;
  synthesize: () => SimRecord;
}

/** One enrichment or reverse lookup, from its POST to its end. */
export interface JobState {
  id: string;
  kind: SimulatedKind;
  ordinal: number;
  name: string;
  apiKey: string;
  apiKeyIndex: number;
  request: unknown;
  createdAt: number;
  startedAt?: number;
  /** Waiting for a running slot, running, or over. */
  state: "waiting" | "running" | "ended";
  status: SimulatedStatus;
  finishedAt?: number;
  credits: number;
  webhookUrl?: string;
  contactFinishedUrl?: string;
  contacts: ContactState[];
  remaining: number;
  plan: JobPlan;
  /** GETs answered while it was not over. */
  gets: number;
  /** Contacts by due time (then index), and the position of the next one to finish. */
  queue: ContactState[];
  cursor: number;
  /** The one pending timer of the job: for its next due contact. */
  timer?: Subscription;
  heldContactEvents: Array<{ job: WebhookJob; key: string }>;
}

/** What a new job is made of, once its request passed validation. */
export interface NewJob {
  id: string;
  kind: SimulatedKind;
  name: string;
  apiKey: string;
  apiKeyIndex: number;
  request: unknown;
  webhookUrl?: string;
  contactFinishedUrl?: string;
  /** One per contact: what is found for it, computed when it finishes. */
  synthesizers: Array<() => SimRecord>;
}

/** What {@link JobRunner} needs from its simulator. */
export interface JobRunnerDeps {
  scheduler: Scheduler;
  seed: number;
  duration: { min: number; max: number };
  /** Jobs of one kind running at once; further ones wait (see `SimulatorOptions.runningLimit`). */
  runningLimit: number;
  faults: Pick<SimulatorFaults, "loseBatchWebhook" | "contactEventsAfterBatch">;
  shapes: Shapes;
  /** Sends a webhook, applying the simulator's delivery faults (`key` names the delivery for them). */
  send(job: WebhookJob, key: string, controls?: Pick<SendControls, "lose" | "onFirstAttemptSettled">): void;
  /** The account's credits: what is left, and spending them. */
  balance(): number;
  spend(credits: number): void;
}

/**
 * The jobs of a simulator and their lifecycle: waiting for a running slot, contacts finishing at
 * their due times (one timer per job), credits spent, per-contact events and the batch webhook
 * sent, the final status.
 */
export class JobRunner {
  readonly jobs = new Map<string, JobState>();
  private readonly waiting: Record<SimulatedKind, JobState[]> = { enrich: [], reverse: [] };
  private readonly running: Record<SimulatedKind, number> = { enrich: 0, reverse: 0 };
  private nextOrdinal = 0;
  private closed = false;

  constructor(private readonly deps: JobRunnerDeps) {}

  /** Creates a job at `now`: it runs at once, or waits (status CREATED) while the running limit is taken. */
  start(spec: NewJob, now: number): JobState {
    const contacts: ContactState[] = spec.synthesizers.map((synthesize, index) => ({
      index,
      dueAt: Number.POSITIVE_INFINITY,
      synthesize,
    }));
    const ordinal = this.nextOrdinal++;
    const job: JobState = {
      id: spec.id,
      kind: spec.kind,
      ordinal,
      name: spec.name,
      apiKey: spec.apiKey,
      apiKeyIndex: spec.apiKeyIndex,
      request: spec.request,
      createdAt: now,
      state: "waiting",
      status: "CREATED",
      credits: 0,
      contacts,
      remaining: contacts.length,
      plan: this.deps.shapes.plan({
        id: spec.id,
        ordinal,
        kind: spec.kind,
        contacts: contacts.length,
      }),
      gets: 0,
      queue: [],
      cursor: 0,
      heldContactEvents: [],
    };
    if (spec.webhookUrl !== undefined) job.webhookUrl = spec.webhookUrl;
    if (spec.contactFinishedUrl !== undefined) job.contactFinishedUrl = spec.contactFinishedUrl;
    this.jobs.set(job.id, job);
    if (this.running[job.kind] < this.deps.runningLimit) this.run(job, now);
    else this.waiting[job.kind].push(job);
    return job;
  }

  /** Ends a job that is not over with CANCELED (its batch webhook is sent). False otherwise. */
  cancel(enrichmentId: string): boolean {
    const job = this.jobs.get(enrichmentId);
    if (job === undefined || job.state === "ended" || this.closed) return false;
    this.endJob(job, "CANCELED");
    return true;
  }

  /** Starts running a job at `now`: its contacts are due within the simulator's contact duration. */
  private run(job: JobState, now: number): void {
    const { seed, duration } = this.deps;
    const span = duration.max - duration.min;
    for (const contact of job.contacts) {
      // Whole milliseconds: timers cannot fire in between anyway.
      contact.dueAt = Math.round(
        now + duration.min + span * unitFor(seed, "duration", job.ordinal, contact.index),
      );
    }
    job.queue = [...job.contacts].sort((a, b) => a.dueAt - b.dueAt || a.index - b.index);
    job.state = "running";
    job.startedAt = now;
    job.status = "IN_PROGRESS";
    this.running[job.kind]++;
    if (job.plan.stall?.afterContacts === 0 && job.remaining > 0) this.stall(job, job.plan.stall);
    else this.scheduleNext(job);
  }

  /**
   * The job reports a status neither running nor final for `forMs` (its remaining contacts wait as
   * long), then runs on; a webhook with that status, and the records so far, goes to its batch URL.
   */
  private stall(job: JobState, stall: NonNullable<JobPlan["stall"]>): void {
    const { scheduler } = this.deps;
    job.timer?.unsubscribe();
    job.timer = undefined;
    job.status = stall.status;
    if (job.webhookUrl !== undefined)
      this.deps.send(this.batchWebhook(job, job.webhookUrl), `stall:${stall.status}`);
    if (!Number.isFinite(stall.forMs)) return;
    for (const contact of job.queue.slice(job.cursor)) contact.dueAt += stall.forMs;
    job.timer = scheduler.schedule(() => {
      job.timer = undefined;
      job.status = "IN_PROGRESS";
      this.scheduleNext(job);
    }, stall.forMs);
  }

  /** A job as the shapes see it: its status, credits and the records found so far. */
  view(job: JobState): JobView {
    const records = job.contacts.flatMap((contact) => (contact.record === undefined ? [] : [contact.record]));
    return {
      id: job.id,
      kind: job.kind,
      ordinal: job.ordinal,
      name: job.name,
      status: job.status,
      credits: job.credits,
      createdAt: job.createdAt,
      started: job.state !== "waiting",
      anyFinished: records.length > 0,
      ended: job.state === "ended",
      records,
      plan: job.plan,
    };
  }

  /** The body of GET, of a 402 and of the batch webhook (and, while running, of forceResults). */
  resultBody(job: JobState): Record<string, unknown> {
    return this.deps.shapes.resultBody(this.view(job));
  }

  /** Snapshots of every job, in creation order. */
  snapshots(): SimulatedEnrichment[] {
    return [...this.jobs.values()].map((job) => {
      const snapshot: SimulatedEnrichment = {
        id: job.id,
        kind: job.kind,
        name: job.name,
        apiKeyIndex: job.apiKeyIndex,
        request: job.request,
        createdAt: job.createdAt,
        status: job.status,
        credits: job.credits,
        contacts: job.contacts.map((contact) => {
          const copy: SimulatedContact = { index: contact.index, dueAt: contact.dueAt };
          if (contact.finishedAt !== undefined) copy.finishedAt = contact.finishedAt;
          if (contact.record !== undefined) copy.record = contact.record;
          return copy;
        }),
      };
      if (job.startedAt !== undefined) snapshot.startedAt = job.startedAt;
      if (job.finishedAt !== undefined) snapshot.finishedAt = job.finishedAt;
      return snapshot;
    });
  }

  /** Cancels every timer and held event; nothing fires afterwards. */
  close(): void {
    this.closed = true;
    for (const job of this.jobs.values()) {
      job.timer?.unsubscribe();
      job.timer = undefined;
      job.heldContactEvents = [];
    }
  }

  private endJob(job: JobState, status: SimulatedStatus): void {
    const now = this.deps.scheduler.now();
    if (job.state === "running") this.running[job.kind]--;
    else this.waiting[job.kind] = this.waiting[job.kind].filter((other) => other !== job);
    job.state = "ended";
    job.status = status;
    job.finishedAt = now;
    job.timer?.unsubscribe();
    job.timer = undefined;
    const next = this.waiting[job.kind].shift();
    if (next !== undefined) this.run(next, now);
    const releaseHeld = (): void => {
      const held = job.heldContactEvents;
      job.heldContactEvents = [];
      for (const event of held) this.deps.send(event.job, event.key);
    };
    if (job.webhookUrl === undefined) {
      releaseHeld();
      return;
    }
    const lose = this.deps.faults.loseBatchWebhook?.({ enrichmentId: job.id, ordinal: job.ordinal }) === true;
    this.deps.send(this.batchWebhook(job, job.webhookUrl), "batch", {
      lose,
      onFirstAttemptSettled: releaseHeld,
    });
  }

  /** A POST of the job's result body (as it stands now) to its batch URL. */
  private batchWebhook(job: JobState, url: string): WebhookJob {
    return { url, kind: "batch", enrichmentId: job.id, apiKey: job.apiKey, body: this.resultBody(job) };
  }

  private finishContact(job: JobState, contact: ContactState): void {
    if (this.closed || job.state !== "running" || job.status !== "IN_PROGRESS") return;
    const found = contact.synthesize();
    const cost = recordCost(found, job.kind);
    if (cost > this.deps.balance()) {
      this.endJob(job, "CREDITS_INSUFFICIENT");
      return;
    }
    this.deps.spend(cost);
    job.credits += cost;
    const record = this.deps.shapes.record(found, {
      kind: job.kind,
      ordinal: job.ordinal,
      index: contact.index,
    });
    contact.record = record;
    contact.finishedAt = this.deps.scheduler.now();
    job.remaining--;
    if (job.contactFinishedUrl !== undefined) {
      const event: WebhookJob = {
        url: job.contactFinishedUrl,
        kind: "contact",
        enrichmentId: job.id,
        apiKey: job.apiKey,
        body: this.deps.shapes.contactEventBody(this.view(job), record),
      };
      const key = `contact:${contact.index}`;
      if (this.deps.faults.contactEventsAfterBatch === true) job.heldContactEvents.push({ job: event, key });
      else this.deps.send(event, key);
    }
    const finished = job.contacts.length - job.remaining;
    if (job.remaining === 0) this.endJob(job, "FINISHED");
    else if (job.plan.cancelAfterContacts === finished) this.endJob(job, "CANCELED");
    else if (job.plan.stall?.afterContacts === finished) this.stall(job, job.plan.stall);
  }

  /** One timer per job, always for its next due contact, rather than one per contact. */
  private scheduleNext(job: JobState): void {
    const { scheduler } = this.deps;
    const next = job.queue[job.cursor];
    if (next === undefined || this.closed || job.state !== "running" || job.status !== "IN_PROGRESS") return;
    job.timer = scheduler.schedule(
      () => {
        job.timer = undefined;
        const now = scheduler.now();
        while (job.state === "running" && job.status === "IN_PROGRESS") {
          const contact = job.queue[job.cursor];
          if (contact === undefined || contact.dueAt > now) break;
          job.cursor++;
          this.finishContact(job, contact);
        }
        this.scheduleNext(job);
      },
      Math.max(0, next.dueAt - scheduler.now()),
    );
  }
}
