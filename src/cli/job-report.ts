import type { ContactResult } from "../engine/contact-result.js";
import type { BatchFailure, JobSummary } from "../engine/job.js";
import type { InputRow } from "./input-file.js";
import { type CliIo, print } from "./io.js";

/** Contacts that ended for lack of credits without a record: a rerun after a top-up enriches them. */
export function notEnrichedForCredits(result: ContactResult): boolean {
  return result.status === "CREDITS_INSUFFICIENT" && !result.enriched;
}

/** The summary of a job: a line or two for people, or one JSON object with `--json`. */
export function printSummary(io: CliIo, summary: JobSummary, outPath: string, json: boolean): void {
  if (json) {
    print(
      io.stdout,
      JSON.stringify({
        job: summary.jobId,
        out: outPath,
        contacts: summary.total,
        resolved: summary.resolved,
        found: summary.found,
        sent: summary.sent,
        reused: summary.reused,
        failed: summary.failed,
        byStatus: summary.byStatus,
        bySource: summary.bySource,
        credits: summary.credits,
        apiCalls: summary.apiCalls,
        elapsedMs: summary.elapsedMs,
        stopped: summary.stopped,
        failures: summary.failures,
      }),
    );
    return;
  }
  const statuses = Object.entries(summary.byStatus)
    .map(([status, count]) => `${status} ${count}`)
    .join(", ");
  print(
    io.stdout,
    `${summary.resolved}/${summary.total} contacts written to ${outPath} (${summary.found} found; ${statuses || "none"})`,
  );
  const sources = `by webhook ${summary.bySource.webhook}, by polling ${summary.bySource.poll}`;
  const reused = summary.reused > 0 ? `, ${summary.reused} reused from the log (no call, no wait)` : "";
  const calls =
    summary.apiCalls === 0 && summary.sent === 0
      ? `0 API calls (${whyNothingWasSent(summary)})`
      : `${summary.apiCalls} API calls`;
  print(
    io.stdout,
    `${summary.sent} contacts sent${reused}; ${sources}; ${summary.credits} credits; ${calls}; ${(summary.elapsedMs / 1000).toFixed(1)} s`,
  );
}

/** Why a job sent nothing: its contacts were in the log, followed there, or it stopped first. */
function whyNothingWasSent(summary: JobSummary): string {
  if (summary.stopped === "aborted") return "the job was aborted before sending";
  if (summary.stopped === "timed-out") return "the job's maximum wait passed before sending";
  if (summary.total > 0 && summary.reused === summary.total) {
    return `all ${summary.total} contacts already enriched in the store; --refresh sends them again`;
  }
  if (summary.reused > 0) {
    return `${summary.reused} of ${summary.total} contacts already enriched in the store, the others followed in batches sent earlier`;
  }
  return "every contact was followed in batches sent earlier";
}

/** Lines of the input file, from the job's row indexes: `lines 3, 4, 9` (the first 20). */
function fileLines(rows: readonly number[], input: readonly InputRow[]): string {
  const lines = rows.slice(0, 20).map((row) => String(input[row]?.line ?? row + 1));
  const more = rows.length > 20 ? ` and ${rows.length - 20} more` : "";
  return `${rows.length === 1 ? "line" : "lines"} ${lines.join(", ")}${more}`;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that sends ambiguous batches again: the same one with `--on-ambiguous resubmit`. The
 * API key is never printed: a key given with `--api-key` is replaced by the environment variable.
 */
export function resubmitCommand(command: string, args: readonly string[]): string {
  const kept: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === "--on-ambiguous") {
      index++;
      continue;
    }
    if (arg.startsWith("--on-ambiguous=")) continue;
    if (arg === "--api-key") {
      kept.push(arg, '"$FULLENRICH_API_KEY"');
      index++;
      continue;
    }
    kept.push(arg.startsWith("--api-key=") ? '--api-key="$FULLENRICH_API_KEY"' : quote(arg));
  }
  return ["fullenrich-rx", command, ...kept, "--on-ambiguous", "resubmit"].join(" ");
}

/**
 * What went wrong, on stderr: each batch without results, with what to do. An ambiguous batch
 * (its POST got no answer, and nothing settled it) names its contacts' lines and when it was sent,
 * and the command that sends it again.
 */
export function printFailures(
  io: CliIo,
  failures: readonly BatchFailure[],
  input: readonly InputRow[],
  resend: string,
): void {
  for (const failure of failures) {
    const sentAt =
      failure.requestedAt === null ? "" : `, sent ${new Date(failure.requestedAt).toISOString()}`;
    const which = failure.batchId === null ? "not sent" : `batch ${failure.batchIndex + 1}`;
    print(
      io.stderr,
      `${which} (${failure.contacts} contacts: ${fileLines(failure.rows, input)}${sentAt}) ${failure.state}: ${failure.message}`,
    );
  }
  if (failures.some((failure) => failure.state === "rejected")) {
    print(
      io.stderr,
      "nothing was started for the rejected batches: once the cause is fixed, run the same command again to send them (the others are not sent twice).",
    );
  }
  if (failures.some((failure) => failure.state === "timed-out")) {
    print(
      io.stderr,
      "the job stopped waiting (--max-wait) before these contacts had a result; run the same command again later: it follows their batches (nothing is sent twice) and writes every row once its result is there.",
    );
  }
  if (failures.some((failure) => failure.state === "ambiguous")) {
    print(
      io.stderr,
      `the ambiguous batches may or may not be running at FullEnrich (check its dashboard); a rerun does not send them again unless asked to, at the risk of paying twice:\n  ${resend}`,
    );
  }
}

/** Says how many contacts the account's credits did not cover, and that the same command finishes them. */
export function printCreditsShortfall(io: CliIo, count: number): void {
  if (count === 0) return;
  print(
    io.stderr,
    `${count} contacts were not enriched: the account ran out of credits. Top up, then run the same command again: it enriches them (and nothing else).`,
  );
}
