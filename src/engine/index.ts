export { type ContactResult, toContactResult } from "./contact-result.js";
export {
  type EngineMode,
  type EngineOptions,
  EnrichmentEngine,
  JobMismatchError,
  type JobOptions,
  type ResumeReport,
  type WebhookSettings,
} from "./engine.js";
export { type BatchFailure, EnrichmentJob, type JobSummary, type LiveJobProgress } from "./job.js";
export type { BatchProgress, JobProgress } from "./job-tracker.js";
export type { PollOutcome } from "./poll-waiter.js";
export { DEFAULT_TIMINGS, type Timings } from "./timings.js";
