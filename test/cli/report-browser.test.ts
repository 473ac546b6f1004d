import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DomainEvent, parseEvent } from "../../src/events/event-types.js";
import { SqliteEventStore } from "../../src/events/stores/sqlite-store.js";
import { runCli } from "../support/cli-process.js";
import { type RecordedRun, recordRun } from "../support/report-run.js";

/**
 * `fullenrich-rx report` as a person opens it: the page of a real run (the CLI against the simulator
 * over HTTP, a SQLite log) rendered by Debian's Chromium, headless, driven by playwright-core. The
 * figures on the page must be the log's own, counted here independently.
 */

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let dir: string;
let run: RecordedRun;
let events: DomainEvent[];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is needed for this test: apt-get install -y chromium`);
  dir = await mkdtemp(join(tmpdir(), "fxr-report-"));
  run = await recordRun(dir, { timeScale: 0.01, contacts: 60, pollingContacts: 20 });
  for (const cli of run.cli) expect(cli.code, cli.stderr).toBe(0);
  const store = await SqliteEventStore.open(run.store);
  try {
    events = (await store.read()).map(parseEvent);
  } finally {
    await store.close();
  }
}, 120_000);

afterAll(async () => {
  await run?.sim.close();
  await rm(dir, { recursive: true, force: true });
});

function count(predicate: (event: DomainEvent) => boolean): number {
  return events.filter(predicate).length;
}

/** Opens a page in a fresh Chromium profile; collects console errors, page errors and requests. */
async function openPage(url: string) {
  const profile = await mkdtemp(join(tmpdir(), "fxr-chromium-"));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1040, height: 900 },
  });
  const problems: string[] = [];
  const requests: string[] = [];
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(url, { waitUntil: "load" });
  return {
    page,
    problems,
    requests,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

describe("fullenrich-rx report, in headless Chromium", () => {
  it("the runs were what the report is about: every contact once, a fallback, polls, a quarantined delivery", () => {
    expect(count((e) => e.type === "contact.resolved")).toBe(run.contacts);
    expect(count((e) => e.type === "job.planned")).toBe(2);
    expect(count((e) => e.type === "poll.observed")).toBeGreaterThanOrEqual(2);
    expect(count((e) => e.type === "fallback.activated")).toBeGreaterThanOrEqual(1);
    expect(count((e) => e.type === "webhook.quarantined")).toBe(1);
    expect(count((e) => e.type === "enrichment.requested")).toBe(run.sim.simulator.enrichments().length);
  });

  it("writes one self-contained page, owner-only, whose figures are the log's", async () => {
    const out = join(dir, "report", "run.html");
    const result = await runCli(["report", "--store", run.store, "--out", out, "--time-scale", "0.01"], {
      cwd: dir,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`written to ${out}`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const html = await readFile(out, "utf8");
    // Nothing to fetch: no external URL in any attribute, a policy that forbids loading anything.
    expect(html).not.toMatch(/(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
    expect(html).toContain("default-src 'none'");

    const { page, problems, requests, close } = await openPage(pathToFileURL(out).href);
    try {
      expect(problems).toEqual([]);
      expect(requests).toEqual([pathToFileURL(out).href]);
      const metric = async (name: string): Promise<number> =>
        Number(await page.locator(`[data-metric="${name}"]`).first().textContent());
      const resolved = events.filter((e) => e.type === "contact.resolved");
      const delivered = events.filter((e) => e.type === "webhook.received");
      const calls = events.filter((e) => e.type === "api.called");
      const expected: Record<string, number> = {
        events: events.length,
        "results.total": resolved.length,
        "results.webhook": resolved.filter((e) => e.data.source === "webhook").length,
        "results.poll": resolved.filter((e) => e.data.source === "poll").length,
        "results.via.contact-event": resolved.filter((e) => e.data.via === "contact-event").length,
        "results.via.batch-event": resolved.filter((e) => e.data.via === "batch-event").length,
        "results.via.poll": resolved.filter((e) => e.data.via === "poll").length,
        batches: count((e) => e.type === "enrichment.requested"),
        polls: count((e) => e.type === "poll.observed"),
        credits: events.reduce(
          (sum, e) => sum + (e.type === "enrichment.completed" ? (e.data.credits ?? 0) : 0),
          0,
        ),
        "deliveries.batch": delivered.filter((e) => e.data.event === "batch").length,
        "deliveries.contact": delivered.filter((e) => e.data.event === "contact").length,
        "deliveries.quarantined": 1,
        "deliveries.duplicateContacts": count((e) => e.type === "contact.duplicate" && e.data.via !== "poll"),
        "calls.total": calls.length,
        "calls.submit": calls.filter((e) => e.data.priority === "submit").length,
        "calls.poll": calls.filter((e) => e.data.priority === "poll").length,
        "calls.limit": 60,
        "delays.count": resolved.length,
      };
      const shown: Record<string, number> = {};
      for (const name of Object.keys(expected)) shown[name] = await metric(name);
      expect(shown).toEqual(expected);
      // The log's calls are the provider's: the simulator counted as many.
      expect(shown["calls.total"]).toBe(run.sim.simulator.counters().calls);
      expect(expected["results.poll"]).toBeGreaterThanOrEqual(20); // the polling job's, at least
      expect((expected["results.poll"] as number) + (expected["results.webhook"] as number)).toBe(
        run.contacts,
      );

      // The timeline has a row per batch, with its story; the charts are drawn.
      expect(await page.locator("g.batch").count()).toBe(expected.batches);
      const fallback = events.find((e) => e.type === "fallback.activated");
      const row = page.locator(`g.batch[data-batch="${fallback?.data.batchId}"] > title`);
      expect(await row.textContent()).toMatch(/polling took over .* \(deadline\)/);
      expect(await page.locator('svg[aria-label="delay distribution"] rect').count()).toBeGreaterThan(0);
      expect(await page.locator('svg[aria-label="API calls per window against the limit"]').count()).toBe(1);
      expect(await page.locator('[data-metric-table="quarantined"] tbody tr').count()).toBe(1);
      expect(await page.locator("h1").textContent()).toBe("fullenrich-rx run report");

      // A picture of it, kept out of the repository.
      const shot = join(dir, "run.png");
      await page.screenshot({ path: shot, fullPage: true });
      expect((await stat(shot)).size).toBeGreaterThan(20_000);
    } finally {
      await close();
    }
  }, 90_000);

  it("--out - writes the page to stdout (no file named -); --out is required", async () => {
    const piped = await runCli(["report", "--store", run.store, "--out", "-"], { cwd: dir });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.startsWith("<!doctype html>")).toBe(true);
    expect(piped.stdout).toContain(`<span data-metric="results.total">${run.contacts}</span>`);
    expect(existsSync(join(dir, "-"))).toBe(false);
    const missing = await runCli(["report", "--store", run.store], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--out FILE is required");
  });

  it("--job limits the page to one job; an unknown job is an error", async () => {
    const job = events.find((e) => e.type === "job.planned" && e.data.name === "more-leads");
    const jobId = job?.type === "job.planned" ? job.data.jobId : "";
    const out = join(dir, "job.html");
    const ok = await runCli(["report", "--store", run.store, "--out", out, "--job", jobId], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    const html = await readFile(out, "utf8");
    expect(html).toContain(`job <code>${jobId}</code>`);
    // Its two batches, its 20 results, all by poll; none of the other job's.
    expect(html.match(/<g class="batch"/g)).toHaveLength(2);
    expect(html).toContain('<span data-metric="results.total">20</span>');
    expect(html).toContain('<span data-metric="results.poll">20</span>');
    expect(html).toContain('<span data-metric="deliveries.contact">0</span>');
    const missing = await runCli(
      ["report", "--store", run.store, "--out", join(dir, "x.html"), "--job", "nosuch"],
      {
        cwd: dir,
      },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no job "nosuch"');
    expect(existsSync(join(dir, "x.html"))).toBe(false);
  });
});
