import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import type { ContactResult } from "../../engine/contact-result.js";
import type { JobSummary } from "../../engine/job.js";
import { parseEvent } from "../../events/event-types.js";
import { startSimulator } from "../../simulator/index.js";
import { demoContacts } from "../demo-contacts.js";
import { flag, parseFlags, positiveNumber } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { openRuntime } from "../runtime.js";

export const DEMO_USAGE = `fullenrich-rx demo [--time-scale F] [--contacts N] [--store PATH]

No key, no network: starts the FullEnrich simulator in-process (default --time-scale 0.01, so a
minute lasts 0.6 s), then enriches a built-in sample of 50 contacts twice, in batches of 10:
  1. webhook mode, with one batch webhook lost on purpose: polling takes over for that batch;
  2. polling-only mode, as on a machine with no public URL.
It prints some results and a side-by-side summary. The event log is a SQLite file in a temporary
directory (or --store PATH).`;

const DEMO_KEY = "demo-key";

interface RunReport {
  label: string;
  summary: JobSummary;
  firstMs: number;
  allMs: number;
  fallbacks: string[];
  sample: ContactResult[];
}

export async function demoCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    "time-scale": { type: "string" },
    contacts: { type: "string" },
    store: { type: "string" },
  });
  const timeScale = flag("time-scale", positiveNumber, values["time-scale"] ?? "0.01");
  const count = flag("contacts", z.coerce.number().int().min(1).max(1000), values.contacts ?? "50");
  const directory = values.store ? null : await mkdtemp(join(tmpdir(), "fullenrich-rx-demo-"));
  const storePath = values.store ?? join(directory as string, "events.db");
  const contacts = demoContacts(count);
  // The webhook run's third batch (ordinal 2) never gets its batch webhook.
  const simulator = await startSimulator({
    apiKeys: [DEMO_KEY],
    timeScale,
    seed: 2026,
    faults: { loseBatchWebhook: ({ ordinal }) => ordinal === 2 },
  });
  print(
    io.stdout,
    `FullEnrich simulator on ${simulator.baseUrl} (time scale ${timeScale}: one provider minute = ${(60 * timeScale).toFixed(2)} s)`,
  );
  print(io.stdout, `event log: ${storePath}\n`);
  try {
    const reports: RunReport[] = [];
    for (const mode of ["webhook", "polling"] as const) {
      if (io.signal.aborted) break;
      const runtime = await openRuntime({
        apiKey: DEMO_KEY,
        baseUrl: simulator.baseUrl,
        store: storePath,
        rateLimit: 60,
        timeScale,
        batchSize: 10,
        ...(mode === "webhook"
          ? { webhook: { listen: { host: "127.0.0.1", port: 0 }, contactEvents: false } }
          : {}),
      });
      try {
        reports.push(await runOnce(runtime, mode, contacts, io));
      } finally {
        await runtime.close();
      }
    }
    if (reports.length === 2) printComparison(io, reports);
    if (io.signal.aborted) return 130;
    const short = reports.filter(
      (report) => report.summary.resolved !== contacts.length || report.summary.failures.length > 0,
    );
    for (const report of short) {
      print(
        io.stderr,
        `${report.label}: ${report.summary.resolved} of ${contacts.length} contacts resolved, ${report.summary.failures.length} batches failed — the demo should resolve them all; please report this`,
      );
    }
    return short.length > 0 ? 1 : 0;
  } finally {
    await simulator.close();
    if (directory) await rm(directory, { recursive: true, force: true });
  }
}

async function runOnce(
  runtime: Awaited<ReturnType<typeof openRuntime>>,
  mode: "webhook" | "polling",
  contacts: ReturnType<typeof demoContacts>,
  io: CliIo,
): Promise<RunReport> {
  const label = mode === "webhook" ? "webhook mode (one batch webhook lost)" : "polling only (no public URL)";
  print(io.stdout, `== ${label}`);
  const startHead = await runtime.store.head();
  const started = Date.now();
  let firstMs = 0;
  const sample: ContactResult[] = [];
  const job = runtime.engine.enrich(contacts, {
    name: `demo ${mode}`,
    enrichFields: ["contact.work_emails", "contact.phones"],
    // Both modes share one log: without it, the second would take every contact from the first.
    refresh: true,
  });
  await new Promise<void>((resolve, reject) => {
    const subscription = job.results$.subscribe({
      next: (result) => {
        if (firstMs === 0) firstMs = Date.now() - started;
        if (sample.length < 4) sample.push(result);
      },
      complete: resolve,
      error: reject,
    });
    io.signal.addEventListener("abort", () => {
      subscription.unsubscribe();
      resolve();
    });
  });
  const allMs = Date.now() - started;
  const summary = await job.summary;
  const fallbacks = (await runtime.store.read({ after: startHead })).map(parseEvent).flatMap((event) => {
    if (event.type === "fallback.activated") return [event.data.reason];
    // A probe (one poll of a batch overdue on its webhook) that found it finished.
    if (event.type === "deliveries.health" && event.data.state === "failing") return ["probe"];
    return [];
  });
  for (const result of sample) print(io.stdout, `  ${describeResult(result)}`);
  print(io.stdout, `  … ${summary.resolved} contacts in ${(allMs / 1000).toFixed(1)} s\n`);
  return { label, summary, firstMs, allMs, fallbacks, sample };
}

function describeResult(result: ContactResult): string {
  const input = result.input ?? {};
  const who = `${String(input.first_name ?? "")} ${String(input.last_name ?? "")}`.trim();
  const email = result.contactInfo?.most_probable_work_email?.email;
  const phone = result.contactInfo?.most_probable_phone?.number;
  const found = [email, phone].filter(Boolean).join(", ") || "nothing found";
  return `${result.custom.crm_id ?? result.contactKey} ${who}: ${found}  [${result.status}, by ${result.source}]`;
}

function printComparison(io: CliIo, reports: RunReport[]): void {
  const rows: [string, (report: RunReport) => string][] = [
    ["contacts (each exactly once)", (r) => `${r.summary.resolved}/${r.summary.total}`],
    ["time to first result", (r) => `${(r.firstMs / 1000).toFixed(1)} s`],
    ["time to all results", (r) => `${(r.allMs / 1000).toFixed(1)} s`],
    ["API calls", (r) => String(r.summary.apiCalls)],
    ["by webhook / by polling", (r) => `${r.summary.bySource.webhook} / ${r.summary.bySource.poll}`],
    [
      "probes and polling fallbacks",
      (r) =>
        r.fallbacks.length > 0 ? `${r.fallbacks.length} (${[...new Set(r.fallbacks)].join(", ")})` : "none",
    ],
    ["credits", (r) => String(r.summary.credits)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  const columns = reports.map((report) => Math.max(report.label.length, 12) + 2);
  const line = (cells: string[]): string =>
    cells
      .map((cell, index) => (index === 0 ? cell.padEnd(width) : cell.padEnd(columns[index - 1] as number)))
      .join("")
      .trimEnd();
  print(io.stdout, line(["", ...reports.map((report) => report.label)]));
  for (const [name, value] of rows) print(io.stdout, line([name, ...reports.map(value)]));
  print(
    io.stdout,
    "\nWebhooks cost one call per batch; the lost batch webhook was found by one probe (a poll) once the batch was overdue, its expected finish plus slack. Polling alone needs no public URL but spends the shared 60-calls-per-minute budget.",
  );
}
