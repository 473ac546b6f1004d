export { type ContactResult, toContactResult } from "./contact-result.js";
export { EnrichmentEngine } from "./engine.js";
export type {
  EngineMode,
  EngineOptions,
  JobOptions,
  ResumeReport,
  WebhookSettings,
} from "./engine-options.js";
export { type BatchFailure, EnrichmentJob, type JobSummary, type LiveJobProgress } from "./job.js";
export type { BatchProgress, JobProgress } from "./job-tracker.js";
export { LocalPollLeases, type PollLeases } from "./poll-leases.js";
export type { PollOutcome } from "./poll-waiter.js";
export type { PollingSchedulerDeps } from "./polling-scheduler.js";
export { RedisPollLeases, type RedisPollLeasesOptions } from "./redis-poll-leases.js";
export { DEFAULT_TIMINGS, type Timings } from "./timings.js";
