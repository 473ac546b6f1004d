import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dedupKeys, newEvent, streams } from "../../src/events/event-types.js";
import { SqliteEventStore } from "../../src/events/stores/sqlite-store.js";
import { sha256Hex } from "../../src/internal/crypto.js";
import { runCli } from "../support/cli-process.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-reprocess-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("fullenrich-rx reprocess (built CLI)", () => {
  it("parses quarantined deliveries again, once; status stops listing those that parse", async () => {
    const path = join(dir, "events.db");
    const store = await SqliteEventStore.open(path);
    const bodies = [
      JSON.stringify({
        id: "9c1f0a7e-0000-4000-8000-000000000002",
        name: "x",
        status: "FINISHED",
        cost: { credits: 0 },
        data: [],
      }),
      "<html>502 Bad Gateway</html>",
    ];
    for (const body of bodies) {
      const digest = sha256Hex(new TextEncoder().encode(body));
      await store.append(streams.deliveries, [
        newEvent(
          "webhook.quarantined",
          { digest, reason: "did not parse then", body, encoding: "utf8", verified: true, receivedAt: 1 },
          dedupKeys.delivery(digest),
        ),
      ]);
    }
    await store.close();

    const before = await runCli(["status", "--store", "events.db"], { cwd: dir });
    expect(before.stdout).toMatch(
      /2 webhook deliveries QUARANTINED .*`fullenrich-rx reprocess` parses them again/,
    );

    const first = await runCli(["reprocess", "--store", "events.db"], { cwd: dir });
    expect(first.code).toBe(1); // one still does not parse
    expect(first.stdout).toMatch(
      /^1 quarantined deliveries parsed and added to .*; 0 done by an earlier run; 1 still quarantined/,
    );
    expect(first.stdout).toMatch(/batch event of 9c1f0a7e-0000-4000-8000-000000000002/);
    expect(first.stdout).toMatch(/still quarantined: position 2, .*: not JSON/);

    const after = await runCli(["status", "--store", "events.db"], { cwd: dir });
    expect(after.stdout).toMatch(/1 webhook deliveries QUARANTINED/);

    const again = await runCli(["reprocess", "--store", "events.db", "--json"], { cwd: dir });
    expect(JSON.parse(again.stdout)).toMatchObject({ reprocessed: [], alreadyReprocessed: 1 });
  });
});
