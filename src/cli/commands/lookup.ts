import { basename, extname, resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_BASE_URL } from "../../api/client.js";
import { describeIssue, InvalidRequestError } from "../../api/errors.js";
import { ENRICH_FIELDS, type EnrichField } from "../../api/request-schemas.js";
import { prepareContacts } from "../../engine/batches.js";
import { DEFAULT_CORRELATION_KEY } from "../../events/contact-key.js";
import { sha256Hex } from "../../internal/crypto.js";
import { API_KEY_FLAGS, API_KEY_USAGE, resolveApiKey } from "../api-key.js";
import { duration, flag, hostPort, parseFlags, positiveNumber } from "../flags.js";
import { type InputRow, mappableFields, readInputFile } from "../input-file.js";
import { type CliIo, print } from "../io.js";
import {
  notEnrichedForCredits,
  printCreditsShortfall,
  printFailures,
  printSummary,
  resubmitCommand,
} from "../job-report.js";
import { LOG_FLAGS, LOG_USAGE, loggerFromFlags } from "../log-flags.js";
import { ProgressReporter } from "../progress.js";
import { ResultWriter } from "../result-writer.js";
import { openRuntime, storeLocation } from "../runtime.js";
import { UsageError } from "../usage-error.js";
import { webhookCheckWarning, webhookReachabilityWarning } from "../webhook-reachability.js";

/** Where the CLI keeps its event log unless told otherwise. */
export const DEFAULT_STORE = ".fullenrich-rx/events.db";

const FLAGS_USAGE = `${API_KEY_USAGE}
    [--base-url URL]           default: env FULLENRICH_BASE_URL, else ${DEFAULT_BASE_URL}
    [--store PATH|URL]         the event log: a SQLite file (default ./${DEFAULT_STORE})
                               or postgres://… to share it between several instances
    [--redis URL]              redis://… : share the rate limit and the polling between instances
    [--name NAME]              enrichment name; default from the input file's name
    [--fields LIST]            enrich only: enrich_fields, comma-separated; default
                               contact.work_emails
    [--batch-size N]           1..100; default 100
    [--webhook-url URL --listen HOST:PORT]   webhook mode (the built-in receiver listens on
                               HOST:PORT, takes deliveries on URL's path only and answers
                               GET /healthz; URL is what the provider calls). At start, one
                               signed probe delivery is POSTed to URL (no API call): if it does
                               not reach the receiver, says so and polls this run's batches.
                               Without: polling only
    [--contact-events]         also ask for per-contact events (webhook mode)
    [--rate-limit N]           API calls per minute; default 60
    [--time-scale F]           multiplies every built-in duration, the rate-limit window too
    [--format jsonl|csv]       --out as JSON Lines (default) or a flat CSV of the main fields;
                               --out - writes them to stdout (the summary then goes to stderr)
    [--map COL=FIELD,…]        read a CSV column as an API field or custom.<key>,
                               e.g. --map 'Company Domain=domain,Owner=custom.owner'
    [--ignore-unknown-columns] leave out CSV columns that are neither API fields nor custom.<key>
                               (a note names them); without it they are an error
    [--on-ambiguous report|resubmit]   a batch whose POST got no answer and that no webhook settled:
                               report it (default) or send it again (it may then be paid twice)
    [--refresh]                send every contact, even those already enriched in the log
    [--max-age DURATION]       results older than this (e.g. 30d, 12h) are sent again; default: any age
    [--max-running N]          enrichments running at the provider at once, 1..100; default 100
    [--max-wait DURATION]      stop waiting after this long (e.g. 20m): contacts without a result
                               are reported (exit 1), their batches no longer polled; the same
                               command run later follows them again, sending nothing twice
    [--quiet]                  no progress (on a terminal: redrawn every second; otherwise a
                               line every 10 s, or when a batch changes phase)
    [--json]                   a machine-readable summary on stdout
${LOG_USAGE}`;

export const ENRICH_USAGE = `fullenrich-rx enrich --input FILE --out FILE [flags]

Enriches the contacts of a .csv (columns first_name,last_name,domain,company_name,linkedin_url and
any custom.<key>) or a .jsonl file (one API contact object per line) and writes one JSON line per
row to --out, exactly once. A contact already enriched in the event log (same fields, enrich_fields
and custom) is taken from there, not sent again; one still running there is followed; identical
rows are sent once. Run the same command again after a crash (even kill -9), or on an edited input:
only contacts never sent are sent, and --out ends up with every row once. A batch refused outright
(a wrong key, no credits, no network) is sent by that same command once the cause is fixed. At most
100 batches run at the provider at once (its limit); the others wait their turn.
--out holds personal data: a new file is created owner-only (0600), and a directory it needs
owner-only (0700); an existing file others can read keeps its mode, with a warning saying how to fix it.
${FLAGS_USAGE}`;

export const REVERSE_USAGE = `fullenrich-rx reverse --input FILE --out FILE [flags]

Reverse email lookups: rows carry \`email\` (and any custom.<key>). Same flags and guarantees as enrich.
${FLAGS_USAGE}`;

const LOOKUP_FLAGS = {
  input: { type: "string" },
  out: { type: "string" },
  ...API_KEY_FLAGS,
  "base-url": { type: "string" },
  store: { type: "string" },
  redis: { type: "string" },
  name: { type: "string" },
  fields: { type: "string" },
  "batch-size": { type: "string" },
  "webhook-url": { type: "string" },
  listen: { type: "string" },
  "contact-events": { type: "boolean" },
  "rate-limit": { type: "string" },
  "time-scale": { type: "string" },
  format: { type: "string" },
  "on-ambiguous": { type: "string" },
  refresh: { type: "boolean" },
  "max-age": { type: "string" },
  "max-running": { type: "string" },
  "max-wait": { type: "string" },
  quiet: { type: "boolean" },
  json: { type: "boolean" },
  map: { type: "string" },
  "ignore-unknown-columns": { type: "boolean" },
  ...LOG_FLAGS,
} as const;

const batchSize = z.coerce
  .number({ error: "must be a number" })
  .int({ error: "must be a whole number" })
  .min(1, { error: "must be from 1 to 100" })
  .max(100, { error: "must be from 1 to 100" });
const rateLimit = z.coerce
  .number({ error: "must be a number" })
  .int({ error: "must be a whole number" })
  .positive({ error: "must be at least 1" });
const redisUrl = z.url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" });
const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

function parseFields(list: string | undefined): EnrichField[] {
  const fields = (list ?? "contact.work_emails")
    .split(",")
    .map((field) => field.trim())
    .filter((field) => field !== "");
  for (const field of fields) {
    if (!(ENRICH_FIELDS as readonly string[]).includes(field)) {
      throw new UsageError(
        `--fields: unknown enrich field ${JSON.stringify(field)} (expected ${ENRICH_FIELDS.join(", ")})`,
      );
    }
  }
  if (fields.length === 0) throw new UsageError("--fields: list at least one field");
  return fields as EnrichField[];
}

/** Turns validation issues (contact indexes) into a message naming the file's lines. */
function rowIssues(error: InvalidRequestError, rows: readonly InputRow[]): string {
  const lines = error.issues.slice(0, 10).map((issue) => {
    if (issue.index === undefined) return describeIssue(issue);
    const row = rows[issue.index];
    return `row ${row?.line ?? issue.index + 1}: ${issue.field}: ${issue.message}`;
  });
  const more = error.issues.length > 10 ? `\n  … and ${error.issues.length - 10} more` : "";
  return `invalid input, nothing was sent:\n  ${lines.join("\n  ")}${more}`;
}

/** `--map 'Company Domain=domain,Owner=custom.owner'`: CSV column → field. */
function parseColumnMap(text: string, kind: "enrich" | "reverse"): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    const column = pair.slice(0, at).trim();
    const field = pair.slice(at + 1).trim();
    if (at < 0 || column === "" || field === "") {
      throw new UsageError(
        `--map: ${JSON.stringify(pair)} is not COLUMN=FIELD (FIELD: ${mappableFields(kind)}), e.g. --map 'Company Domain=domain'`,
      );
    }
    map[column] = field;
  }
  return map;
}

export function enrichCommand(args: readonly string[], io: CliIo): Promise<number> {
  return runLookup("enrich", args, io);
}

export function reverseCommand(args: readonly string[], io: CliIo): Promise<number> {
  return runLookup("reverse", args, io);
}

async function runLookup(kind: "enrich" | "reverse", args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, LOOKUP_FLAGS);
  if (!values.input) throw new UsageError("--input FILE is required");
  if (!values.out) throw new UsageError("--out FILE is required");
  const format = flag(
    "format",
    z.enum(["jsonl", "csv"], { error: "must be jsonl or csv" }),
    values.format ?? "jsonl",
  );
  const onAmbiguous = flag(
    "on-ambiguous",
    z.enum(["report", "resubmit"], { error: "must be report or resubmit" }),
    values["on-ambiguous"] ?? "report",
  );
  if (kind === "reverse" && values.fields !== undefined) {
    throw new UsageError(
      "--fields applies to enrich only: a reverse lookup takes no enrich_fields (it finds the person behind each email)",
    );
  }
  const enrichFields = kind === "enrich" ? parseFields(values.fields) : undefined;
  const columnMap = values.map === undefined ? undefined : parseColumnMap(values.map, kind);
  const size = flag("batch-size", batchSize, values["batch-size"] ?? "100");
  const perMinute = flag("rate-limit", rateLimit, values["rate-limit"] ?? "60");
  const timeScale = flag("time-scale", positiveNumber, values["time-scale"] ?? "1");
  const maxAgeMs = values["max-age"] === undefined ? undefined : flag("max-age", duration, values["max-age"]);
  const maxRunning = flag("max-running", batchSize, values["max-running"] ?? "100");
  // Log lines go above the progress view once it is drawn (see below).
  let writeLog = (line: string): void => {
    io.stderr.write(line);
  };
  const logger = loggerFromFlags(values, io, (line) => writeLog(line));
  const maxWaitMs =
    values["max-wait"] === undefined ? undefined : flag("max-wait", duration, values["max-wait"]);
  if (maxWaitMs === 0) throw new UsageError("--max-wait: must be longer than 0");
  const reuse = {
    ...(values.refresh ? { refresh: true } : {}),
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
    ...(maxWaitMs === undefined ? {} : { maxWaitMs }),
  };
  if ((values["webhook-url"] === undefined) !== (values.listen === undefined)) {
    throw new UsageError(
      "webhook mode needs both --webhook-url URL (what the provider calls) and --listen HOST:PORT",
    );
  }
  if (values["contact-events"] && values["webhook-url"] === undefined) {
    throw new UsageError("--contact-events needs webhook mode (--webhook-url and --listen)");
  }
  const webhook =
    values["webhook-url"] !== undefined && values.listen !== undefined
      ? {
          url: flag("webhook-url", httpUrl, values["webhook-url"]),
          listen: flag("listen", hostPort, values.listen),
          contactEvents: values["contact-events"] === true,
        }
      : undefined;
  const apiKey = await resolveApiKey(values, io);
  if (!apiKey) {
    throw new UsageError(
      "no API key: set FULLENRICH_API_KEY or pass --api-key-file PATH (or try `fullenrich-rx demo`, which needs none)",
    );
  }
  const baseUrl = flag(
    "base-url",
    httpUrl,
    values["base-url"] ?? io.env.FULLENRICH_BASE_URL ?? DEFAULT_BASE_URL,
  );
  const unreachable = webhook ? webhookReachabilityWarning(webhook.url, baseUrl) : null;
  if (unreachable) print(io.stderr, unreachable);
  const inputPath = resolve(io.cwd, values.input);
  const toStdout = values.out === "-";
  const outPath = toStdout ? "-" : resolve(io.cwd, values.out);
  const name = values.name ?? basename(inputPath, extname(inputPath));

  const { rows, ignoredColumns } = await readInputFile(inputPath, kind, {
    ...(columnMap ? { map: columnMap } : {}),
    ignoreUnknown: values["ignore-unknown-columns"] === true,
  });
  if (ignoredColumns.length > 0) {
    print(
      io.stderr,
      `note: left out ${ignoredColumns.length === 1 ? "the column" : "the columns"} ${ignoredColumns.map((column) => JSON.stringify(column)).join(", ")} (--ignore-unknown-columns; --map reads one as a field)`,
    );
  }
  const contacts = rows.map((row) => row.contact);
  try {
    prepareContacts(kind, contacts, {
      batchSize: size,
      correlationKey: DEFAULT_CORRELATION_KEY,
      ...(enrichFields ? { enrichFields } : {}),
    });
  } catch (error) {
    if (error instanceof InvalidRequestError) throw new UsageError(rowIssues(error, rows));
    throw error;
  }
  // The same command (same contacts and options) is the same job: a rerun resumes it.
  const jobId = `cli-${sha256Hex(JSON.stringify({ kind, name, enrichFields, size, contacts })).slice(0, 20)}`;
  const customKeys = [
    ...new Set(contacts.flatMap((contact) => Object.keys((contact.custom as object | undefined) ?? {}))),
  ];

  const runtime = await openRuntime({
    apiKey,
    baseUrl,
    store: storeLocation(io.cwd, values.store ?? DEFAULT_STORE),
    ...(values.redis ? { redis: flag("redis", redisUrl, values.redis) } : {}),
    rateLimit: perMinute,
    timeScale,
    maxRunning,
    logger,
    ...(webhook ? { webhook } : {}),
  });
  const writer = await (toStdout
    ? Promise.resolve(ResultWriter.to(io.stdout, format, kind, customKeys))
    : ResultWriter.open(outPath, format, kind, customKeys, (line) => print(io.stderr, line))
  ).catch(async (error: unknown) => {
    await runtime.close();
    throw error;
  });
  if (runtime.listening && !values.quiet) {
    print(
      io.stderr,
      `webhook receiver listening on ${runtime.listening}; the provider calls ${webhook?.url}`,
    );
  }
  // The start-up check (one signed probe delivery to --webhook-url, no API call), before any batch.
  const unchecked = webhookCheckWarning(await runtime.engine.webhookCheck, runtime.listening);
  if (unchecked && !unreachable) print(io.stderr, unchecked);
  const job =
    kind === "enrich"
      ? runtime.engine.enrich(contacts, {
          jobId,
          name,
          batchSize: size,
          onAmbiguous,
          ...reuse,
          ...(enrichFields ? { enrichFields } : {}),
        })
      : runtime.engine.reverseLookup(contacts as { email: string }[], {
          jobId,
          name,
          batchSize: size,
          onAmbiguous,
          ...reuse,
        });

  let written = 0;
  let creditsShortfall = 0;
  const progress = new ProgressReporter(
    io.stderr,
    values.quiet ? "none" : io.stderr.isTTY ? "bar" : "lines",
    job,
    { title: name },
  );
  progress.start();
  writeLog = (line) => progress.writeAbove(line);
  const progressSubscription = job.progress$.subscribe({
    next: () => progress.changed(),
    error: () => undefined,
  });
  const outcome = await new Promise<"done" | "aborted">((done, fail) => {
    const subscription = job.results$.subscribe({
      next: (result) => {
        writer.write(result);
        written++;
        if (notEnrichedForCredits(result)) creditsShortfall++;
      },
      complete: () => done("done"),
      error: fail,
    });
    const onAbort = (): void => {
      subscription.unsubscribe();
      done("aborted");
    };
    if (io.signal.aborted) onAbort();
    else io.signal.addEventListener("abort", onAbort, { once: true });
  }).catch(async (error: unknown) => {
    progress.finish();
    progressSubscription.unsubscribe();
    await writer.close();
    await runtime.close();
    throw error;
  });
  progressSubscription.unsubscribe();
  progress.finish();
  await writer.close();

  if (outcome === "aborted") {
    await runtime.close();
    print(
      io.stderr,
      `stopped after ${written} of ${job.total} contacts; the log is consistent. To resume, run the same command again with the same --store (nothing already submitted is sent again).`,
    );
    return 130;
  }
  const summary = await job.summary;
  await runtime.close();
  // With --out -, stdout holds the results: the summary goes to stderr.
  printSummary(
    toStdout ? { ...io, stdout: io.stderr } : io,
    summary,
    toStdout ? "stdout" : outPath,
    values.json === true,
  );
  printCreditsShortfall(io, creditsShortfall);
  if (summary.failures.length > 0) {
    printFailures(io, summary.failures, rows, resubmitCommand(kind, args));
    return 1;
  }
  return 0;
}
