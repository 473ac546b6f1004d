import type { Writable } from "node:stream";
import type { LiveJobProgress } from "../engine/job.js";

/** How progress is shown: a bar redrawn in place (TTY), a line every few seconds (logs), or nothing. */
export type ProgressStyle = "bar" | "lines" | "none";

function describe(progress: LiveJobProgress): string {
  const { batches, bySource } = progress;
  return [
    `${progress.resolved}/${progress.total} contacts`,
    `batches ${batches.completed + batches.failed}/${batches.total}${batches.failed > 0 ? ` (${batches.failed} failed)` : ""}`,
    `${progress.apiCalls} API calls`,
    `webhook ${bySource.webhook} / poll ${bySource.poll}`,
    `${(progress.elapsedMs / 1000).toFixed(1)} s`,
  ].join(" · ");
}

/** Writes a job's progress to stderr. */
export class ProgressReporter {
  private latest: LiveJobProgress | undefined;
  private lastDraw = 0;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: Writable & { columns?: number },
    private readonly style: ProgressStyle,
    intervalMs = 3_000,
  ) {
    if (style === "lines") {
      this.timer = setInterval(() => this.line(), intervalMs);
      this.timer.unref();
    }
  }

  update(progress: LiveJobProgress): void {
    this.latest = progress;
    if (this.style !== "bar") return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && progress.resolved < progress.total) return;
    this.lastDraw = now;
    const width = 24;
    const filled = progress.total === 0 ? width : Math.round((progress.resolved / progress.total) * width);
    const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
    const text = `${bar} ${describe(progress)}`;
    const columns = this.stream.columns ?? 120;
    this.stream.write(`\r${text.slice(0, columns - 1).padEnd(Math.min(columns - 1, text.length + 2))}`);
  }

  /** Stops the periodic lines and ends the bar's line. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.style === "bar" && this.latest) this.stream.write("\n");
  }

  private line(): void {
    if (this.latest) this.stream.write(`progress: ${describe(this.latest)}\n`);
  }
}
