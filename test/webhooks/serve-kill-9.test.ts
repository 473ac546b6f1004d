import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dedupKeys, parseEvent } from "../../src/events/event-types.js";
import { SqliteEventStore } from "../../src/events/stores/index.js";
import { seededRandom } from "../../src/internal/random.js";
import { type RunningCli, startCli } from "../support/cli-process.js";
import { bytesOf, contactBody, digestOf, enrichRecord, KEY, signedHeaders, waitUntil } from "./helpers.js";

/*
 * `fullenrich-rx serve` (the built CLI, a child process on a real SQLite file) killed with SIGKILL at
 * seeded points while clients keep sending signed deliveries; then started again on the same file.
 * Acknowledged means stored: every delivery answered 2xx is in the file as it came, and the
 * restarted receiver turns every one still unparsed (the kill landed between its answer and its
 * parse) into a parsed event, once. Needs `npm run build` (as `npm test` does).
 */

const ROUNDS = 5;
const CLIENTS = 12;
/** Bounds every loop: no round sends more than this. */
const MAX_SENT = 2_000;

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "fullenrich-rx-kill9-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Starts `serve` on the store and waits for the address it listens on. */
async function startServe(store: string): Promise<{ running: RunningCli; url: string }> {
  const running = startCli(["serve", "--listen", "127.0.0.1:0", "--store", store, "--path", "/webhook"], {
    cwd: directory,
    env: { FULLENRICH_API_KEY: KEY },
  });
  const url = await waitUntil(
    "serve to listen",
    () => {
      if (running.child.exitCode !== null) throw new Error(`serve exited: ${running.output().stderr}`);
      return /listening on (http:\/\/127\.0\.0\.1:\d+\/webhook)/.exec(running.output().stdout)?.[1];
    },
    // A node process starting its store's threads on a 2-core machine shared with other work.
    { timeoutMs: 30_000, intervalMs: 20 },
  );
  return { running, url };
}

/** What the store holds for these digests: stored as they came, and parsed. */
async function inStore(
  path: string,
  digests: Iterable<string>,
): Promise<{ stored: Set<string>; parsed: Set<string> }> {
  const store = await SqliteEventStore.open(path, { checkpointIntervalMs: 0 });
  try {
    const stored = new Set<string>();
    const parsed = new Set<string>();
    for (const digest of digests) {
      const raw = await store.findByDedupKey(dedupKeys.delivery(digest));
      if (raw) {
        const event = parseEvent(raw);
        if (event.type === "webhook.stored" && digestOf(Buffer.from(event.data.body, "utf8")) === digest) {
          stored.add(digest);
        }
      }
      const outcome = raw && (await store.findByDedupKey(dedupKeys.parsed(raw.position)));
      if (outcome && parseEvent(outcome).type === "webhook.received") parsed.add(digest);
    }
    return { stored, parsed };
  } finally {
    await store.close();
  }
}

describe("serve killed with SIGKILL while deliveries arrive", () => {
  it("keeps every acknowledged delivery, and parses each once after the restart", async () => {
    const random = seededRandom(18);
    let unparsedAtKill = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const store = join(directory, `round-${round}.db`);
      const { running, url } = await startServe(store);
      const id = randomUUID();
      const sent = new Set<string>();
      const acknowledged = new Set<string>();
      // The kill point: after this many acknowledgements (seeded), while the clients keep sending.
      const killAfter = 20 + random.int(300);
      let killed = false;
      let next = 0;
      const client = async (): Promise<void> => {
        while (!killed && next < MAX_SENT) {
          const body = bytesOf(contactBody(id, enrichRecord(next++, `kill-${round}`)));
          const digest = digestOf(body);
          sent.add(digest);
          try {
            const answer = await fetch(url, { method: "POST", headers: signedHeaders(body), body });
            await answer.arrayBuffer();
            if (answer.status >= 200 && answer.status < 300) acknowledged.add(digest);
          } catch {
            return; // the connection died with the server: not acknowledged
          }
          if (acknowledged.size >= killAfter && !killed) {
            killed = true;
            running.child.kill("SIGKILL");
          }
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      const exit = await running.done;
      expect(exit.signal, `round ${round}: ${exit.stderr}`).toBe("SIGKILL");
      expect(acknowledged.size).toBeGreaterThanOrEqual(killAfter);

      // Right after the kill: every acknowledged delivery is in the file, as it came.
      const afterKill = await inStore(store, sent);
      for (const digest of acknowledged) expect(afterKill.stored.has(digest)).toBe(true);
      unparsedAtKill += [...afterKill.stored].filter((digest) => !afterKill.parsed.has(digest)).length;

      // Started again: everything stored (acknowledged or not) becomes a parsed event.
      const again = await startServe(store);
      const settled = await waitUntil(
        "the restarted receiver to parse what was stored",
        async () => {
          const now = await inStore(store, sent);
          return now.parsed.size === now.stored.size ? now : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      for (const digest of acknowledged) expect(settled.parsed.has(digest)).toBe(true);
      again.running.child.kill("SIGTERM");
      const stopped = await again.running.done;
      expect(stopped.code, stopped.stderr).toBe(0);

      // Once each: one stored event and one parsed outcome per delivery, nothing else.
      const check = await SqliteEventStore.open(store, { checkpointIntervalMs: 0 });
      try {
        const events = await check.read();
        const keys = events.map((event) => event.dedupKey);
        expect(new Set(keys).size).toBe(keys.length);
        expect(events.filter((event) => event.type === "webhook.stored")).toHaveLength(settled.stored.size);
        expect(events.filter((event) => event.type === "webhook.received")).toHaveLength(settled.stored.size);
        expect(events).toHaveLength(2 * settled.stored.size);
      } finally {
        await check.close();
      }
    }
    // The kills did land between answers and parses: the restart had deliveries to parse.
    expect(unparsedAtKill).toBeGreaterThan(0);
  }, 400_000);
});
