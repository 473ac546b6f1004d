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
import { recordCost, type SimRecord } from "./synthetic.js";
import type { SendControls, WebhookJob } from "./webhook-sender.js";

/** One contact of a running job. */
interface ContactState {
  index: number;
  dueAt: number;
  finishedAt?: number;
  record?: SimRecord;
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
  /** Waiting for a running slot, running, or over. */
  state: "waiting" | "running" | "ended";
  status: SimulatedStatus;
  finishedAt?: number;
  credits: number;
  webhookUrl?: string;
  contactFinishedUrl?: string;
  contacts: ContactState[];
  remaining: number;
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
    const job: JobState = {
      id: spec.id,
      kind: spec.kind,
      ordinal: this.nextOrdinal++,
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
    job.status = "IN_PROGRESS";
    this.running[job.kind]++;
    this.scheduleNext(job);
  }

  /** The body of GET, of a 402 and of the batch webhook (and, while running, of forceResults). */
  resultBody(job: JobState): Record<string, unknown> {
    return {
      id: job.id,
      name: job.name,
      status: job.status,
      cost: { credits: job.credits },
      data: job.contacts.flatMap((contact) => (contact.record === undefined ? [] : [contact.record])),
    };
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
    this.deps.send(
      {
        url: job.webhookUrl,
        kind: "batch",
        enrichmentId: job.id,
        apiKey: job.apiKey,
        body: this.resultBody(job),
      },
      "batch",
      { lose, onFirstAttemptSettled: releaseHeld },
    );
  }

  private finishContact(job: JobState, contact: ContactState): void {
    if (this.closed || job.state !== "running") return;
    const record = contact.synthesize();
    const cost = recordCost(record, job.kind);
    if (cost > this.deps.balance()) {
      this.endJob(job, "CREDITS_INSUFFICIENT");
      return;
    }
    this.deps.spend(cost);
    job.credits += cost;
    contact.record = record;
    contact.finishedAt = this.deps.scheduler.now();
    job.remaining--;
    if (job.contactFinishedUrl !== undefined) {
      const event: WebhookJob = {
        url: job.contactFinishedUrl,
        kind: "contact",
        enrichmentId: job.id,
        apiKey: job.apiKey,
        body: {
          id: job.id,
          name: job.name,
          status: "IN_PROGRESS",
          cost: { credits: job.credits },
          data: [record],
        },
      };
      const key = `contact:${contact.index}`;
      if (this.deps.faults.contactEventsAfterBatch === true) job.heldContactEvents.push({ job: event, key });
      else this.deps.send(event, key);
    }
    if (job.remaining === 0) this.endJob(job, "FINISHED");
  }

  /** One timer per job, always for its next due contact, rather than one per contact. */
  private scheduleNext(job: JobState): void {
    const { scheduler } = this.deps;
    const next = job.queue[job.cursor];
    if (next === undefined || this.closed || job.state !== "running") return;
    job.timer = scheduler.schedule(
      () => {
        job.timer = undefined;
        const now = scheduler.now();
        while (job.state === "running") {
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
