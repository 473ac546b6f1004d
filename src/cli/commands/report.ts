import { open } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { flag, parseFlags, positiveNumber } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { makePrivateDirectory, PRIVATE_FILE_MODE, warnIfSharedFile } from "../private-file.js";
import { reportHtml } from "../report/html.js";
import { readRunLog } from "../report/run-log.js";
import { openExistingStore, storeLocation } from "../runtime.js";
import { UsageError } from "../usage-error.js";
import { DEFAULT_STORE } from "./lookup.js";

export const REPORT_USAGE = `fullenrich-rx report --out FILE [--store PATH|URL] [--job ID] [--rate-limit N] [--time-scale F]

Writes one self-contained HTML page about the runs in the event log (or one job's, see \`status\`):
a timeline of batches (sent, accepted, polled, finished; each result by webhook or by poll), the
distribution of delays from a batch's POST to its results, API calls per minute against the rate
limit, results by source, webhook deliveries by outcome, and quarantined deliveries. The page loads
nothing (inline CSS and SVG): open it anywhere, offline. It reads the log a page at a time. A new
--out is created owner-only (0600): it names contacts' batches and enrichments. --out - writes the
page to stdout.
    [--store PATH|URL]   the event log (default ./${DEFAULT_STORE})
    [--job ID]           only this job's batches, results and deliveries
    [--rate-limit N]     the account's calls per minute, drawn as the limit; default 60
    [--time-scale F]     the --time-scale the runs used (their minute is F × 60 s); default 1`;

const rateLimit = z.coerce
  .number({ error: "must be a number" })
  .int({ error: "must be a whole number" })
  .positive({ error: "must be at least 1" });

export async function reportCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    store: { type: "string" },
    out: { type: "string" },
    job: { type: "string" },
    "rate-limit": { type: "string" },
    "time-scale": { type: "string" },
  });
  if (!values.out) throw new UsageError("--out FILE is required (--out - for stdout)");
  const limit = flag("rate-limit", rateLimit, values["rate-limit"] ?? "60");
  const timeScale = flag("time-scale", positiveNumber, values["time-scale"] ?? "1");
  const location = storeLocation(io.cwd, values.store ?? DEFAULT_STORE);
  const store = await openExistingStore(location);
  let html: string;
  let batches: number;
  try {
    const log = await readRunLog(store, values.job ?? null);
    if (values.job !== undefined && log.jobs.size === 0) {
      print(
        io.stderr,
        `fullenrich-rx report: no job ${JSON.stringify(values.job)} in ${location} (\`fullenrich-rx status\` lists the jobs)`,
      );
      return 1;
    }
    batches = log.batches.length;
    html = reportHtml(log, {
      store: location,
      rateLimit: limit,
      windowMs: 60_000 * timeScale,
      writtenAt: Date.now(),
    });
  } finally {
    await store.close();
  }
  if (values.out === "-") {
    io.stdout.write(html);
    return 0;
  }
  const path = resolve(io.cwd, values.out);
  await makePrivateDirectory(dirname(path));
  const file = await open(path, "w", PRIVATE_FILE_MODE);
  try {
    await warnIfSharedFile(file, path, "a run report", (line) => print(io.stderr, line)).catch(
      () => undefined,
    );
    await file.writeFile(html);
  } finally {
    await file.close();
  }
  print(io.stdout, `report of ${batches} batches written to ${path}`);
  return 0;
}
