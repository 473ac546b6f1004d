import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { busiestWindowOf, RateWindow } from "../../src/simulator/index.js";

/** Brute force: every window [s, s + w) worth trying starts at an arrival. */
function bruteForce(instants: number[], windowMs: number): number {
  let best = 0;
  for (const start of instants) {
    best = Math.max(best, instants.filter((t) => t >= start && t < start + windowMs).length);
  }
  return best;
}

describe("RateWindow", () => {
  it("computes the busiest window exactly", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 1_500 }),
        (raw, windowMs) => {
          const instants = [...raw].sort((a, b) => a - b);
          const window = new RateWindow(windowMs);
          for (const t of instants) window.recordArrival(t);
          const expected = bruteForce(instants, windowMs);
          expect(window.busiestWindow()).toBe(expected);
          expect(busiestWindowOf(raw, windowMs)).toBe(expected);
          expect(window.totalArrivals()).toBe(instants.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("treats windows as half-open", () => {
    const window = new RateWindow(1000);
    window.recordArrival(0);
    window.recordArrival(999);
    expect(window.busiestWindow()).toBe(2);
    window.recordArrival(1999);
    expect(window.busiestWindow()).toBe(2);
    window.recordArrival(1999);
    expect(window.busiestWindow()).toBe(2); // 999 is not in the window ending at 1999
    window.recordArrival(2500);
    expect(window.busiestWindow()).toBe(3); // 1999, 1999, 2500
  });

  it("counts accepted calls in (now - window, now]", () => {
    const window = new RateWindow(1000);
    window.recordAccepted(0);
    window.recordAccepted(500);
    window.recordAccepted(999);
    expect(window.acceptedInWindow(999)).toBe(3);
    expect(window.acceptedInWindow(1000)).toBe(2);
    expect(window.acceptedInWindow(1500)).toBe(1);
    expect(window.acceptedInWindow(1999)).toBe(0);
  });
});
