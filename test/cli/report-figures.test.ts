import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { callBuckets } from "../../src/cli/report/charts.js";
import { binOf, DELAY_EDGES_MS, DelayHistogram } from "../../src/cli/report/delay-histogram.js";
import { countTicks, esc, formatSpan, ticks } from "../../src/cli/report/format.js";
import { busiestWindow } from "../../src/cli/report/html.js";

describe("the report's figures", () => {
  it("counts each delay in the one bin whose range holds it; the bins add up (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ms: fc.nat(200_000_000), webhook: fc.boolean() }), { maxLength: 200 }),
        (delays) => {
          const histogram = new DelayHistogram();
          for (const { ms, webhook } of delays) histogram.add(ms, webhook ? "webhook" : "poll");
          const bins = histogram.bins();
          expect(bins.reduce((sum, bin) => sum + bin.webhook + bin.poll, 0)).toBe(delays.length);
          expect(histogram.count).toBe(delays.length);
          for (const { ms } of delays) {
            const index = binOf(ms);
            const from = index === 0 ? 0 : (DELAY_EDGES_MS[index - 1] as number);
            expect(ms).toBeGreaterThanOrEqual(from);
            if (index > 0) expect(ms).toBeGreaterThan(from);
            if (index < DELAY_EDGES_MS.length)
              expect(ms).toBeLessThanOrEqual(DELAY_EDGES_MS[index] as number);
          }
          if (delays.length > 0) {
            expect(histogram.min).toBe(Math.min(...delays.map((d) => d.ms)));
            expect(histogram.max).toBe(Math.max(...delays.map((d) => d.ms)));
            const median = histogram.quantileBin(0.5);
            const sorted = delays.map((d) => d.ms).sort((a, b) => a - b);
            const middle = sorted[Math.ceil(0.5 * sorted.length) - 1] as number;
            expect(middle).toBeGreaterThanOrEqual(median?.from as number);
            if (median?.to !== null) expect(middle).toBeLessThanOrEqual(median?.to as number);
          } else expect(bins).toEqual([]);
        },
      ),
    );
  });

  it("finds the busiest sliding window of calls, as counting every window would (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(10_000), { maxLength: 80 }),
        fc.integer({ min: 1, max: 3_000 }),
        (times, windowMs) => {
          const calls = times.map((at) => ({ at }));
          let brute = 0;
          for (const start of times)
            brute = Math.max(brute, times.filter((at) => at >= start && at < start + windowMs).length);
          expect(busiestWindow(calls, windowMs)).toBe(brute);
        },
      ),
    );
  });

  it("puts each call in the window it started in", () => {
    const buckets = callBuckets(
      [
        { at: 1_000, priority: "submit" },
        { at: 1_599, priority: "poll" },
        { at: 1_600, priority: "poll" },
        { at: 2_900, priority: "read" },
      ],
      1_000,
      2_900,
      600,
    );
    expect(buckets).toEqual([
      { start: 1_000, submit: 1, read: 0, poll: 1 },
      { start: 1_600, submit: 0, read: 0, poll: 1 },
      { start: 2_200, submit: 0, read: 0, poll: 0 },
      { start: 2_800, submit: 0, read: 1, poll: 0 },
    ]);
  });

  it("escapes what the log holds, and writes spans and axes for people", () => {
    expect(esc(`<img src=x onerror="a('b')">&`)).toBe(
      "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;",
    );
    expect([340, 2_340, 45_000, 65_000, 3_725_000].map(formatSpan)).toEqual([
      "340 ms",
      "2.3 s",
      "45 s",
      "1 min 05 s",
      "1 h 02 min",
    ]);
    expect(ticks(57_000)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000]);
    expect(countTicks(60)).toEqual([0, 20, 40, 60]);
  });
});
