import { Writable } from "node:stream";
import fc from "fast-check";
import stringWidth from "string-width";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ProgressReporter, type ProgressStyle } from "../../src/cli/progress.js";
import {
  estimate,
  fitParts,
  formatDuration,
  progressLine,
  progressLines,
  truncate,
} from "../../src/cli/progress-view.js";
import type { LiveJobProgress } from "../../src/engine/job.js";
import { initialProgress } from "../../src/engine/job-progress.js";

const NOW = 1_000_000;

function progress(overrides: Partial<LiveJobProgress> = {}): LiveJobProgress {
  return {
    ...initialProgress("job", 250),
    apiCalls: 0,
    elapsedMs: 0,
    nextPoll: null,
    rateBudget: { calls: 0, limit: 60, windowMs: 60_000, waiting: 0 },
    ...overrides,
  };
}

/** A busy moment of a big webhook-mode run: every figure as wide as it gets in practice. */
const busy = progress({
  total: 12_500,
  resolved: 4_321,
  bySource: { webhook: 4_000, poll: 321 },
  reused: 1_200,
  failed: 100,
  batchesByPhase: { queued: 12, running: 3, waitingForWebhook: 60, polling: 25, done: 25 },
  expectedFinishAt: NOW + 83_000,
  elapsedMs: 3_723_000,
  nextPoll: { enrichmentId: "e", at: NOW + 380_000, fallback: true },
  rateBudget: { calls: 59, limit: 60, windowMs: 60_000, waiting: 12 },
});

describe("the progress view", () => {
  it("writes durations for people", () => {
    expect([0, 400, 12_000, 65_000, 3_599_000, 3_723_000].map(formatDuration)).toEqual([
      "0s",
      "0s",
      "12s",
      "1m05s",
      "59m59s",
      "1h02m",
    ]);
  });

  it("at 80 columns, a busy run shows every figure on four lines, none cut", () => {
    const lines = progressLines(busy, { width: 79, now: NOW, title: "leads" });
    expect(lines).toEqual([
      "leads [######----------] 4321/12500 contacts 34% · 1h02m elapsed · ETA ≥1m23s",
      "results: by webhook 4000 · by poll 321 · reused 1200 · failed 100",
      "batches: 12 queued · 3 running · 60 waiting for webhook · 25 polling · 25 done",
      "webhook due; polling in 6m20s · API 59/60 in the last minute · 12 calls waiting",
    ]);
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(79);
  });

  it("fits any width, leaving whole parts out rather than cutting words (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 240 }),
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.nat(100_000),
        (width, title, resolved) => {
          const lines = progressLines(
            { ...busy, resolved: Math.min(resolved, busy.total) },
            { width, now: NOW, title },
          );
          expect(lines).toHaveLength(4);
          for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(width);
          // Every line is whole parts joined by " · ", or a first part cut with "…".
          for (const line of lines)
            for (const part of line.split(" · ").slice(1)) expect(part.endsWith("…")).toBe(false);
        },
      ),
    );
  });

  it("counts wide characters as two columns", () => {
    expect(truncate("日本語のファイル", 9)).toBe("日本語の…");
    expect(stringWidth(truncate("日本語のファイル", 9))).toBeLessThanOrEqual(9);
    const lines = progressLines(busy, { width: 40, now: NOW, title: "顧客リスト顧客リスト" });
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(40);
    expect(fitParts(["a", "bb", "ccc"], 6)).toBe("a · bb");
  });

  it("estimates the end from when the running batches should finish", () => {
    const running = { ...busy.batchesByPhase, queued: 0 };
    expect(estimate({ ...busy, batchesByPhase: running }, NOW)).toBe("~1m23s");
    expect(estimate(busy, NOW)).toBe("≥1m23s"); // batches still wait their turn
    expect(estimate({ ...busy, batchesByPhase: running }, NOW + 95_000)).toBe("overdue 12s");
    expect(estimate({ ...busy, expectedFinishAt: null }, NOW)).toBeNull();
    expect(estimate({ ...busy, settled: true }, NOW)).toBeNull();
  });

  it("says what is awaited next: a poll, a due poll held by the rate limit, or a webhook", () => {
    const poll = { enrichmentId: "e", at: NOW + 12_000, fallback: false };
    const line = (p: LiveJobProgress): string => progressLines(p, { width: 200, now: NOW })[3] as string;
    expect(line({ ...busy, nextPoll: poll })).toMatch(/^next poll in 12s · API 59\/60 in/);
    expect(line({ ...busy, nextPoll: { ...poll, at: NOW - 1 } })).toMatch(
      /^poll due, waiting for the rate limit · API 59\/60 in the last minute · 12 calls waiting$/,
    );
    expect(line({ ...busy, nextPoll: null, rateBudget: { ...busy.rateBudget, windowMs: 600 } })).toBe(
      "API 59/60 in the last 0.6s · 12 calls waiting",
    );
  });

  it("as one log line: every figure", () => {
    expect(progressLine(busy, NOW)).toBe(
      "progress: 4321/12500 contacts (by webhook 4000, by poll 321, reused 1200, failed 100) · batches 12 queued, 3 running, 60 waiting for webhook, 25 polling, 25 done · webhook due; polling in 6m20s · API 59/60 in the last minute, 12 calls waiting · 1h02m elapsed · ETA ≥1m23s",
    );
  });
});

class Capture extends Writable {
  text = "";
  writes = 0;
  constructor(readonly columns?: number) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    this.writes++;
    done();
  }
}

describe("the progress reporter: driven by a clock, not by results", () => {
  let current: LiveJobProgress;
  let startedAt: number;
  const source = { progressNow: () => ({ ...current, elapsedMs: Date.now() - startedAt }) };

  beforeEach(() => {
    vi.useFakeTimers({ now: NOW });
    startedAt = NOW;
    current = progress({
      batchesByPhase: { queued: 0, running: 0, waitingForWebhook: 3, polling: 0, done: 0 },
    });
  });
  afterEach(() => vi.useRealTimers());

  function reporter(style: ProgressStyle, stream: Capture): ProgressReporter {
    return new ProgressReporter(stream, style, source, { title: "leads" });
  }

  it("on a terminal: redraws in place every second while nothing resolves", async () => {
    const out = new Capture(80);
    const shown = reporter("bar", out);
    shown.start();
    const frames = [out.text];
    for (let second = 1; second <= 5; second++) {
      await vi.advanceTimersByTimeAsync(1_000);
      frames.push(out.text.slice(frames.join("").length));
    }
    expect(frames.every((frame) => frame.length > 0)).toBe(true);
    // Each frame goes back up to the first line and clears each line it writes.
    for (const frame of frames.slice(1)) {
      expect(frame.startsWith("\r\x1b[3A")).toBe(true);
      expect(frame.split("\x1b[2K")).toHaveLength(5);
    }
    expect(frames[1]).toContain("1s elapsed");
    expect(frames[5]).toContain("5s elapsed");
    expect(new Set(frames.map((frame) => frame.replace("\r\x1b[3A", "").replace("\r", ""))).size).toBe(6);
    shown.finish();
    expect(out.text.endsWith("\n")).toBe(true);
    const writes = out.writes;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(out.writes).toBe(writes); // stopped
  });

  it("on a terminal: a burst of results is drawn at once, then at most every 100 ms", async () => {
    const out = new Capture(80);
    const shown = reporter("bar", out);
    shown.start();
    await vi.advanceTimersByTimeAsync(500);
    const before = out.writes;
    // 100 results within 50 ms: one redraw at once, one 100 ms after the first with the last state.
    for (let step = 0; step < 100; step++) {
      current = { ...current, resolved: step + 1, bySource: { webhook: step + 1, poll: 0 } };
      shown.changed();
      if (step % 2 === 1) await vi.advanceTimersByTimeAsync(1);
    }
    expect(out.writes - before).toBe(1);
    await vi.advanceTimersByTimeAsync(60);
    expect(out.writes - before).toBe(2);
    expect(out.text.slice(-400)).toContain("100/250 contacts");
    shown.finish();
  });

  it("without a terminal: a line every 10 s, one when a batch changes phase, none per result", async () => {
    const out = new Capture();
    const shown = reporter("lines", out);
    shown.start();
    // 100 results, one every 100 ms, and no batch changes phase: lines only at 0, 10, 20 s.
    for (let step = 0; step < 100; step++) {
      current = { ...current, resolved: step + 1, bySource: { webhook: step + 1, poll: 0 } };
      shown.changed();
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(10_000); // 20 s
    let lines = out.text.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain("100/250 contacts");
    expect(lines[1]).toContain("10s elapsed");
    // A batch is done: a line within the second.
    current = { ...current, batchesByPhase: { ...current.batchesByPhase, waitingForWebhook: 2, done: 1 } };
    await vi.advanceTimersByTimeAsync(1_000);
    lines = out.text.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain("2 waiting for webhook, 0 polling, 1 done");
    expect(lines.every((line) => line.startsWith("progress: "))).toBe(true);
    shown.finish();
  });

  it("on a terminal: a log line is written above the view, which is drawn again under it", async () => {
    const out = new Capture(80);
    const shown = reporter("bar", out);
    shown.start();
    const before = out.text.length;
    shown.writeAbove("[fullenrich-rx] warn: FullEnrich answered 429\n");
    const frame = out.text.slice(before);
    // Back to the view's first line, cleared to the end of the screen, the log line, then the view.
    expect(frame.startsWith("\r\x1b[3A\x1b[J[fullenrich-rx] warn: FullEnrich answered 429\n")).toBe(true);
    expect(frame.split("\x1b[2K")).toHaveLength(5);
    // The next redraw goes back over the four lines of the view only, not over the log line.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(out.text.slice(before + frame.length).startsWith("\r\x1b[3A")).toBe(true);
    shown.finish();
    // Without a terminal, the line is written as it is.
    const plain = new Capture();
    const logged = reporter("lines", plain);
    logged.start();
    logged.writeAbove("log line\n");
    expect(plain.text.endsWith("log line\n")).toBe(true);
    logged.finish();
  });

  it("--quiet: nothing", async () => {
    const out = new Capture(80);
    const shown = reporter("none", out);
    shown.start();
    shown.changed();
    await vi.advanceTimersByTimeAsync(30_000);
    shown.finish();
    expect(out.text).toBe("");
  });
});
