import type { Writable } from "node:stream";
import type { LiveJobProgress } from "../engine/job.js";
import { progressLine, progressLines } from "./progress-view.js";

/** How progress is shown: lines redrawn in place (TTY), a line every few seconds (logs), or nothing. */
export type ProgressStyle = "bar" | "lines" | "none";

/** Where the reporter reads the progress: at any instant (a job's `progressNow`). */
export interface ProgressSource {
  progressNow(): LiveJobProgress;
}

/** Options of {@link ProgressReporter}. */
export interface ProgressReporterOptions {
  /** Names the job on the first line (TTY). */
  title?: string;
  /** The clock (ms); default `Date.now`. */
  now?: () => number;
  /** How often the TTY view is redrawn. Default 1 s. */
  redrawMs?: number;
  /** Without a TTY: a line at least this often (more often only when batches change phase). Default 10 s. */
  lineEveryMs?: number;
}

/** On a terminal, changes are drawn at once, but not more often than this. */
const MIN_REDRAW_MS = 100;

/** What changes the phase of the job: a line is written for it (without a TTY). */
function stateOf(progress: LiveJobProgress): string {
  return JSON.stringify([progress.batchesByPhase, progress.failed, progress.settled]);
}

/**
 * Shows a job's progress on stderr, driven by a clock: on a terminal, lines redrawn in place every
 * second (fitting its width), so the elapsed time, the next poll and the budget move while nothing
 * resolves; without one, a line every 10 s, or sooner when a batch changes phase — never one per
 * result.
 */
export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  /** A redraw held back by {@link MIN_REDRAW_MS}. */
  private pending: NodeJS.Timeout | undefined;
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  /** Lines drawn last (TTY): the cursor stands at the end of the last one. */
  private drawn = 0;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private lastState: string | null = null;
  private readonly now: () => number;

  constructor(
    private readonly stream: Writable & { columns?: number },
    private readonly style: ProgressStyle,
    private readonly source: ProgressSource,
    private readonly options: ProgressReporterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Draws now, then on the clock. */
  start(): void {
    if (this.style === "none" || this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.redrawMs ?? 1_000);
    this.timer.unref();
  }

  /** Something changed (a result, a batch): on a terminal, shows it at once (a burst: every 100 ms). */
  changed(): void {
    if (this.style !== "bar" || !this.timer || this.pending) return;
    const wait = this.lastDrawAt + MIN_REDRAW_MS - this.now();
    if (wait <= 0) {
      this.draw(this.source.progressNow());
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = undefined;
      if (this.timer) this.draw(this.source.progressNow());
    }, wait);
    this.pending.unref();
  }

  /** Stops the clock; on a terminal, draws the last state and ends its lines. */
  finish(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    clearTimeout(this.pending);
    this.timer = undefined;
    this.pending = undefined;
    if (this.style === "bar") {
      this.draw(this.source.progressNow());
      this.stream.write("\n");
    }
  }

  /**
   * Writes a line (a log line, ending in a newline) without breaking the view: on a terminal, the
   * lines drawn are cleared, the line written, and the view drawn again under it.
   */
  writeAbove(line: string): void {
    if (this.style !== "bar" || !this.timer || this.drawn === 0) {
      this.stream.write(line);
      return;
    }
    const back = this.drawn > 1 ? `\x1b[${this.drawn - 1}A` : "";
    this.stream.write(`\r${back}\x1b[J${line}`);
    this.drawn = 0;
    this.draw(this.source.progressNow());
  }

  private tick(): void {
    const progress = this.source.progressNow();
    if (this.style === "bar") {
      this.draw(progress);
      return;
    }
    const state = stateOf(progress);
    const now = this.now();
    if (state !== this.lastState || now - this.lastLineAt >= (this.options.lineEveryMs ?? 10_000)) {
      this.lastState = state;
      this.lastLineAt = now;
      this.stream.write(`${progressLine(progress, now)}\n`);
    }
  }

  /** Redraws the lines in place: back to the first line drawn, then each line cleared and written. */
  private draw(progress: LiveJobProgress): void {
    // One column short of the width: a line filling it would wrap on some terminals.
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    const lines = progressLines(progress, {
      width,
      now: this.now(),
      ...(this.options.title ? { title: this.options.title } : {}),
    });
    const back = this.drawn > 1 ? `\x1b[${this.drawn - 1}A` : "";
    this.stream.write(`\r${back}${lines.map((line) => `\x1b[2K${line}`).join("\n")}`);
    this.drawn = lines.length;
    this.lastDrawAt = this.now();
  }
}
