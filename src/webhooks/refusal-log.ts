import type { Logger } from "../internal/logger.js";

/** Default shortest time between two lines of the {@link RefusalLog}: one minute. */
export const DEFAULT_REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Counts refused requests and closed connections by reason and logs them as a summary: the first
 * refusal after a quiet interval at once, then at most one line per interval with the counts
 * gathered since the last line (a flood of forged requests costs one line a minute, not one line
 * each). Counts left when the flow stops are written by {@link flush} (on close) or with the next
 * line. No timer runs: the clock is only read when something is counted.
 */
export class RefusalLog {
  private pending = new Map<string, number>();
  private total = 0;
  private lastLineAt: number | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly intervalMs: number = DEFAULT_REFUSAL_LOG_INTERVAL_MS,
  ) {}

  /** Counts one refusal; `label` is how the reason reads in the line ("missing signature"). */
  note(label: string): void {
    this.pending.set(label, (this.pending.get(label) ?? 0) + 1);
    this.total++;
    const at = this.now();
    if (this.lastLineAt === undefined || at - this.lastLineAt >= this.intervalMs) this.write(at);
  }

  /** Writes what was counted since the last line, if anything. */
  flush(): void {
    if (this.total > 0) this.write(this.now());
  }

  private write(at: number): void {
    const counts = Object.fromEntries([...this.pending].sort(([, a], [, b]) => b - a));
    const parts = Object.entries(counts).map(([label, count]) => `${count} ${label}`);
    const what = this.total === 1 ? "1 webhook request" : `${this.total} webhook requests`;
    this.logger.warn(
      `refused ${what} (${parts.join(", ")})${this.lastLineAt === undefined ? "" : ` in the last ${formatSeconds(at - this.lastLineAt)}`}; refusals are summarised at most once every ${formatSeconds(this.intervalMs)}`,
      { refused: counts },
    );
    this.pending = new Map();
    this.total = 0;
    this.lastLineAt = at;
  }
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
