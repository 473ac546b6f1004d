import type { DomainEvent, EventOf } from "../events/event-types.js";
import type { BatchState } from "../events/projections/enrichment-state.js";
import { type BatchPhase, countByPhase, ENDED, expectedFinishOf, phaseOf } from "./batch-phase.js";
import { type ContactResult, hasContactData, toContactResult } from "./contact-result.js";
import {
  type BatchProgress,
  type FailedContacts,
  initialProgress,
  type JobFailure,
  type JobProgress,
  type JobStopReason,
} from "./job-progress.js";

interface IdentityState {
  rows: number[];
  /** The batch and key it is awaited from. */
  target: { batchId: string; key: string } | null;
  outcome: "pending" | "resolved" | "failed";
  /** Why it failed (while it is failed). */
  failure: JobFailure | null;
}

interface TrackedBatch extends Omit<BatchProgress, "phase"> {
  /** Contact key → identity, for this job's contacts in it. */
  keys: Map<string, string>;
  /** Belongs to this job (this run or an earlier one): its credits count. */
  own: boolean;
  /** How it waits for its results (known once its request is seen). */
  mode: BatchState["mode"] | null;
  /** A poll of it was observed, or polling took over. */
  polled: boolean;
}

/** What a {@link JobTracker} is told when it is created. */
export interface JobTrackerInit {
  jobId: string;
  /** Each row's identity, in input order. */
  rows: readonly string[];
  correlationKey: string | null;
  /** Whether a batch abandoned as ambiguous is sent again (rather than reported). */
  resubmitAmbiguous: boolean;
  /**
   * When a batch of `size` contacts accepted at `acceptedAt` is expected to have finished (the
   * provider's timings as the log saw them: `ProviderTimings.expectedFinish`).
   */
  expectedFinish: (acceptedAt: number, size: number) => number;
}

/**
 * One job's state: each row's contact identity, the batch and key it is awaited from, and each
 * batch the job sent or follows. Folds the log's events (only those of its batches count) and
 * what its submission tells it; hands out each row's result once.
 */
export class JobTracker {
  readonly jobId: string;
  private readonly identities = new Map<string, IdentityState>();
  private readonly tracked = new Map<string, TrackedBatch>();
  private readonly batchOfEnrichment = new Map<string, string>();
  private readonly ready: ContactResult[] = [];
  private readonly toResubmit: string[] = [];
  private readonly counts: Omit<
    JobProgress,
    "batches" | "batchesByPhase" | "expectedFinishAt" | "credits" | "settled" | "stopped" | "jobId" | "total"
  >;
  private pending: number;
  private stoppedBy: JobStopReason | null = null;

  constructor(private readonly init: JobTrackerInit) {
    this.jobId = init.jobId;
    init.rows.forEach((identity, row) => {
      const state = this.identities.get(identity);
      if (state) state.rows.push(row);
      else this.identities.set(identity, { rows: [row], target: null, outcome: "pending", failure: null });
    });
    this.pending = this.identities.size;
    const {
      jobId: _jobId,
      total: _total,
      batches: _batches,
      batchesByPhase: _batchesByPhase,
      expectedFinishAt: _expectedFinishAt,
      credits: _credits,
      settled: _settled,
      stopped: _stopped,
      ...counts
    } = initialProgress(init.jobId, init.rows.length);
    this.counts = counts;
  }

  /** The distinct identities of the job, in order of first appearance. */
  distinctIdentities(): string[] {
    return [...this.identities.keys()];
  }

  /**
   * Every row has its result or its failure, and every batch holding some of them reached its end
   * (per-contact events may bring every result before the batch's final status and cost).
   */
  get settled(): boolean {
    if (this.stoppedBy !== null) return true;
    if (this.pending > 0) return false;
    for (const batch of this.tracked.values()) if (batch.size > 0 && !ENDED.has(batch.state)) return false;
    return true;
  }

  /** An identity's result, found in the log: its rows get it now, as reused. */
  reuse(identity: string, event: EventOf<"contact.resolved">): void {
    const state = this.identities.get(identity);
    if (state?.outcome !== "pending") return;
    this.resolve(state, event, true);
  }

  /** An identity is awaited from a batch sent earlier (by an earlier run, or another job). */
  follow(identity: string, batch: BatchState, key: string): void {
    const state = this.identities.get(identity);
    if (state?.outcome !== "pending") return;
    const tracked = this.track(batch.batchId, batch.batchIndex, true, batch.jobId === this.jobId);
    tracked.requestedAt = batch.requestedAt;
    tracked.mode = batch.mode;
    if (batch.enrichmentId !== null) this.accept(tracked, batch.enrichmentId, batch.acceptedAt);
    else if (batch.rejected?.outcomeUnknown || batch.rejected === null) tracked.state = "ambiguous";
    tracked.message = batch.rejected?.error.message ?? tracked.message;
    this.target(state, tracked, identity, key);
  }

  /** This run is about to POST a batch holding these identities under these keys. */
  assign(batch: {
    batchId: string;
    batchIndex: number;
    keys: readonly string[];
    identities: readonly string[];
  }): void {
    const tracked = this.track(batch.batchId, batch.batchIndex, false, true);
    batch.identities.forEach((identity, index) => {
      const state = this.identities.get(identity);
      if (state && state.outcome === "pending")
        this.target(state, tracked, identity, batch.keys[index] as string);
    });
  }

  /** The batch's POST left (counted as sent: its contacts may be billed). */
  markSent(batchId: string): void {
    const tracked = this.tracked.get(batchId);
    if (tracked && !tracked.followed) this.counts.sent += tracked.keys.size;
  }

  /**
   * These identities end without a result (never sent, refused, ambiguous…), with the reason. An
   * ambiguous one may still get its result, if a delivery adopts its batch before the job settles.
   */
  fail(identities: readonly string[], reason: JobFailure): void {
    const tracked = reason.batchId === null ? undefined : this.tracked.get(reason.batchId);
    if (tracked) {
      tracked.state = reason.state;
      tracked.message = reason.message;
    }
    for (const identity of identities) {
      const state = this.identities.get(identity);
      if (state?.outcome !== "pending") continue;
      state.outcome = "failed";
      state.failure = { ...reason };
      this.pending--;
      this.counts.failed += state.rows.length;
    }
  }

  /**
   * The job stops waiting (its signal aborted, its maximum wait passed): every row without a result
   * fails with this reason, and the batches they wait on end for this job. Returns the enrichments
   * that were open for it (the caller stops polling those nobody else waits for).
   */
  stop(reason: JobStopReason, message: string): string[] {
    const open = this.openEnrichments();
    const byBatch = new Map<string | null, string[]>();
    for (const [identity, state] of this.identities) {
      if (state.outcome !== "pending") continue;
      const batchId = state.target?.batchId ?? null;
      byBatch.set(batchId, [...(byBatch.get(batchId) ?? []), identity]);
    }
    for (const [batchId, identities] of byBatch) this.fail(identities, { batchId, state: reason, message });
    for (const batch of this.tracked.values()) {
      if (!ENDED.has(batch.state)) {
        batch.state = reason;
        batch.message ??= message;
      }
    }
    this.stoppedBy = reason;
    return open;
  }

  /** Identities whose ambiguous batch was abandoned and that are to be sent again (emptied by the call). */
  takeResubmissions(): string[] {
    return this.toResubmit.splice(0);
  }

  /** Results of rows resolved since the last call, in order. */
  takeResults(): ContactResult[] {
    return this.ready.splice(0);
  }

  /** Folds an event of the log; returns whether it concerned this job. */
  apply(event: DomainEvent): boolean {
    const tracked = this.batchOf(event);
    if (!tracked) return false;
    switch (event.type) {
      case "enrichment.requested":
        tracked.requestedAt = event.data.requestedAt;
        tracked.mode = event.data.mode;
        return true;
      case "enrichment.accepted":
        this.accept(tracked, event.data.enrichmentId, event.data.acceptedAt);
        return true;
      case "poll.observed":
      case "fallback.activated":
        // Its polls began: what it waits for changed (only the first one is news).
        if (tracked.polled) return false;
        tracked.polled = true;
        return true;
      case "enrichment.rejected":
        if (tracked.state === "requested") {
          tracked.state = event.data.outcomeUnknown ? "ambiguous" : "rejected";
          tracked.message = event.data.error.message;
        }
        return true;
      case "enrichment.abandoned":
        if (tracked.state !== "ambiguous" && tracked.state !== "requested") return true;
        tracked.state = "ambiguous";
        tracked.message = event.data.reason;
        if (this.init.resubmitAmbiguous) {
          for (const identity of this.pendingOf(tracked)) this.toResubmit.push(identity);
        } else {
          this.fail(this.pendingOf(tracked), {
            batchId: tracked.batchId,
            state: "ambiguous",
            message: event.data.reason,
          });
        }
        return true;
      case "contact.resolved": {
        const identity = tracked.keys.get(event.data.contactKey);
        const state = identity === undefined ? undefined : this.identities.get(identity);
        const target = state?.target;
        // Pending, or failed as ambiguous and adopted after all (a late delivery): its result counts.
        const awaited = state?.outcome === "pending" || state?.failure?.state === "ambiguous";
        if (!state || !awaited || target?.batchId !== tracked.batchId) return true;
        this.resolve(state, event, false);
        return true;
      }
      case "enrichment.completed":
        tracked.credits = event.data.credits;
        tracked.finalStatus = event.data.status;
        tracked.state = "completed";
        // Contacts the provider's final answer left out are resolved before it: none should be left.
        this.fail(this.pendingOf(tracked), {
          batchId: tracked.batchId,
          state: "completed",
          message: `completed ${event.data.status} without a result for some contacts`,
        });
        return true;
      case "enrichment.failed":
        this.fail(this.pendingOf(tracked), {
          batchId: tracked.batchId,
          state: "failed",
          message: event.data.message,
        });
        return true;
      default:
        return false;
    }
  }

  /** The job's progress now. */
  progress(): JobProgress {
    const batches = [...this.tracked.values()];
    return {
      jobId: this.jobId,
      total: this.init.rows.length,
      ...structuredClone(this.counts),
      batches: {
        total: batches.length,
        submitted: batches.filter((b) => b.requestedAt !== null).length,
        accepted: batches.filter((b) => b.enrichmentId !== null).length,
        completed: batches.filter((b) => b.state === "completed").length,
        failed: batches.filter((b) => ["failed", "rejected", "ambiguous"].includes(b.state)).length,
      },
      batchesByPhase: countByPhase(batches.map((b) => ({ size: b.size, phase: this.phaseOf(b) }))),
      expectedFinishAt: expectedFinishOf(batches, this.init.expectedFinish),
      credits: batches.reduce((sum, b) => sum + (b.own ? (b.credits ?? 0) : 0), 0),
      settled: this.settled,
      stopped: this.stoppedBy,
    };
  }

  /** The enrichments of the job's batches that have not ended (those that may still be polled). */
  openEnrichments(): string[] {
    return [...this.tracked.values()]
      .filter((batch) => batch.enrichmentId !== null && !ENDED.has(batch.state))
      .map((batch) => batch.enrichmentId as string);
  }

  /** Every batch the job sent or follows, in order of their index. */
  batches(): BatchProgress[] {
    return [...this.tracked.values()]
      .sort((a, b) => a.batchIndex - b.batchIndex || (a.requestedAt ?? 0) - (b.requestedAt ?? 0))
      .map(({ keys: _keys, own: _own, mode: _mode, polled: _polled, ...batch }) => ({
        ...batch,
        phase: this.phaseOf(this.tracked.get(batch.batchId) as TrackedBatch),
        rows: [...batch.rows],
      }));
  }

  /** What a batch waits for now. */
  private phaseOf(batch: TrackedBatch): BatchPhase {
    return phaseOf(batch, batch.state === "ambiguous" && this.pendingOf(batch).length > 0);
  }

  /** The contacts that ended without a result, grouped by batch and reason. */
  failures(): FailedContacts[] {
    const groups = new Map<string, FailedContacts>();
    for (const state of this.identities.values()) {
      if (state.outcome !== "failed" || !state.failure) continue;
      const { batchId, state: failedState, message } = state.failure;
      const key = `${batchId}\u0000${failedState}\u0000${message}`;
      let group = groups.get(key);
      if (!group) {
        const tracked = batchId === null ? undefined : this.tracked.get(batchId);
        group = {
          batchId,
          state: failedState,
          message,
          batchIndex: tracked?.batchIndex ?? -1,
          enrichmentId: tracked?.enrichmentId ?? null,
          requestedAt: tracked?.requestedAt ?? null,
          contacts: 0,
          rows: [],
        };
        groups.set(key, group);
      }
      group.contacts++;
      group.rows.push(...state.rows);
    }
    return [...groups.values()]
      .map((group) => ({ ...group, rows: group.rows.sort((a, b) => a - b) }))
      .sort((a, b) => a.batchIndex - b.batchIndex || (a.rows[0] ?? 0) - (b.rows[0] ?? 0));
  }

  private track(batchId: string, batchIndex: number, followed: boolean, own: boolean): TrackedBatch {
    let tracked = this.tracked.get(batchId);
    if (!tracked) {
      tracked = {
        batchIndex,
        batchId,
        size: 0,
        state: "requested",
        enrichmentId: null,
        resolved: 0,
        message: null,
        credits: null,
        finalStatus: null,
        requestedAt: null,
        acceptedAt: null,
        followed,
        rows: [],
        keys: new Map(),
        own,
        mode: null,
        polled: false,
      };
      this.tracked.set(batchId, tracked);
    }
    return tracked;
  }

  private target(state: IdentityState, tracked: TrackedBatch, identity: string, key: string): void {
    if (state.target) {
      const previous = this.tracked.get(state.target.batchId);
      if (previous) {
        previous.keys.delete(state.target.key);
        previous.size--;
        previous.rows = previous.rows.filter((row) => !state.rows.includes(row));
      }
    }
    state.target = { batchId: tracked.batchId, key };
    tracked.keys.set(key, identity);
    tracked.size++;
    tracked.rows.push(...state.rows);
  }

  private accept(tracked: TrackedBatch, enrichmentId: string, acceptedAt: number | null): void {
    tracked.enrichmentId = enrichmentId;
    tracked.acceptedAt = acceptedAt;
    this.batchOfEnrichment.set(enrichmentId, tracked.batchId);
    if (tracked.state === "requested" || tracked.state === "ambiguous") tracked.state = "accepted";
  }

  private resolve(state: IdentityState, event: EventOf<"contact.resolved">, reused: boolean): void {
    if (state.outcome === "failed") this.counts.failed -= state.rows.length;
    else this.pending--;
    state.outcome = "resolved";
    state.failure = null;
    const base = toContactResult(event, this.init.correlationKey);
    const tracked = state.target ? this.tracked.get(state.target.batchId) : undefined;
    if (tracked && !reused) tracked.resolved += 1;
    for (const _row of state.rows) {
      this.ready.push({ ...base, reused });
      const counts = this.counts;
      counts.resolved++;
      if (reused) counts.reused++;
      if (hasContactData(event.data.record)) counts.found++;
      counts.byStatus[event.data.status] = (counts.byStatus[event.data.status] ?? 0) + 1;
      counts.bySource[event.data.source]++;
    }
  }

  private pendingOf(tracked: TrackedBatch): string[] {
    return [...tracked.keys.values()].filter((identity) => {
      const state = this.identities.get(identity);
      return state?.outcome === "pending" && state.target?.batchId === tracked.batchId;
    });
  }

  private batchOf(event: DomainEvent): TrackedBatch | undefined {
    const data = event.data as { batchId?: string | null; enrichmentId?: string };
    const byEnrichment =
      data.enrichmentId === undefined ? undefined : this.batchOfEnrichment.get(data.enrichmentId);
    const batchId = data.batchId ?? byEnrichment;
    return batchId === undefined ? undefined : this.tracked.get(batchId);
  }
}
