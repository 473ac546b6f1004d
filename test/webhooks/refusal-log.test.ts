import { describe, expect, it } from "vitest";
import { streamLogger } from "../../src/internal/logger.js";
import { RefusalLog } from "../../src/webhooks/refusal-log.js";

/** A RefusalLog on a clock the test moves, writing into an array. */
function logOnClock(intervalMs = 60_000) {
  let now = 1_000_000;
  const lines: string[] = [];
  const log = new RefusalLog(
    streamLogger("debug", (line) => lines.push(line)),
    () => now,
    intervalMs,
  );
  return { log, lines, advance: (ms: number) => (now += ms) };
}

describe("RefusalLog", () => {
  it("writes the first refusal at once, then at most one line per interval with the counts since", () => {
    const { log, lines, advance } = logOnClock();
    log.note("missing signature");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /warn: refused 1 webhook request \(1 missing signature\); refusals are summarised at most once every 60 s/,
    );

    for (let i = 0; i < 500; i++) {
      advance(100); // 50 s in all: still inside the interval
      log.note(i % 5 === 0 ? "wrong path" : "bad signature");
    }
    expect(lines).toHaveLength(1);

    advance(10_000);
    log.note("bad signature");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /refused 501 webhook requests \(401 bad signature, 100 wrong path\) in the last 60 s/,
    );
    expect(lines[1]).toContain('{"refused":{"bad signature":401,"wrong path":100}}');
  });

  it("flush writes what is pending, and nothing when nothing is", () => {
    const { log, lines, advance } = logOnClock(1_000);
    log.flush();
    expect(lines).toEqual([]);
    log.note("timed out");
    advance(10);
    log.note("timed out");
    log.note("over the connection cap");
    expect(lines).toHaveLength(1);
    log.flush();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /refused 2 webhook requests \(1 timed out, 1 over the connection cap\) in the last 0 s/,
    );
    log.flush();
    expect(lines).toHaveLength(2);
  });

  it("after a quiet interval, a new refusal is written at once again", () => {
    const { log, lines, advance } = logOnClock(1_000);
    log.note("wrong method");
    advance(5_000);
    log.note("wrong method");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/refused 1 webhook request \(1 wrong method\) in the last 5 s/);
  });
});
