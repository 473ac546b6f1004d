import { resolve } from "node:path";
import { z } from "zod";
import { FullEnrichError } from "../../api/errors.js";
import { type ContactResult, toContactResult } from "../../engine/contact-result.js";
import { DEFAULT_CORRELATION_KEY } from "../../events/contact-key.js";
import { type DomainEvent, type EventOf, parseEvent, tags } from "../../events/event-types.js";
import type { EventStore } from "../../events/store.js";
import { flag, parseFlags } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { ResultWriter } from "../result-writer.js";
import { openExistingStore, storeLocation } from "../runtime.js";
import { UsageError } from "../usage-error.js";
import { DEFAULT_STORE } from "./lookup.js";

export const EXPORT_USAGE = `fullenrich-rx export --store PATH|URL --out FILE [--format jsonl|csv] [--job ID]

Writes every resolved result in the event log again, one line per contact (the same lines as
enrich's --out), optionally only those of one job (see \`status\`; a job the log does not hold is
an error). A new --out file is created owner-only (0600): it holds personal data. --out - writes
to stdout (the count then goes to stderr).`;

/** Events read per page. */
const EXPORT_PAGE = 1_000;

export async function exportCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    store: { type: "string" },
    out: { type: "string" },
    format: { type: "string" },
    job: { type: "string" },
  });
  if (!values.out) throw new UsageError("--out FILE is required");
  const format = flag(
    "format",
    z.enum(["jsonl", "csv"], { error: "must be jsonl or csv" }),
    values.format ?? "jsonl",
  );
  const location = storeLocation(io.cwd, values.store ?? DEFAULT_STORE);
  const store = await openExistingStore(location);
  const toStdout = values.out === "-";
  const outPath = toStdout ? "stdout" : resolve(io.cwd, values.out);
  let written = 0;
  try {
    if (values.job !== undefined && !(await holdsJob(store, values.job))) {
      throw new FullEnrichError(
        `no job ${JSON.stringify(values.job)} in the event log at ${location}: \`fullenrich-rx status --store …\` lists its jobs`,
      );
    }
    const results = (): AsyncGenerator<ContactResult> => resolvedResults(store, values.job);
    // A CSV's header needs every custom key first: one pass to find them, one to write.
    const kinds = new Set<string>();
    const customKeys = new Set<string>();
    if (format === "csv") {
      for await (const result of results()) {
        kinds.add(result.kind);
        for (const key of Object.keys(result.custom)) customKeys.add(key);
      }
    }
    const kind = kinds.size === 1 && kinds.has("reverse") ? "reverse" : "enrich";
    const writer = toStdout
      ? ResultWriter.to(io.stdout, format, kind, [...customKeys])
      : await ResultWriter.open(outPath, format, kind, [...customKeys], (line) => print(io.stderr, line));
    try {
      for await (const result of results()) {
        writer.write(result);
        written++;
      }
    } finally {
      await writer.close();
    }
  } finally {
    await store.close();
  }
  print(toStdout ? io.stderr : io.stdout, `${written} results written to ${outPath}`);
  return 0;
}

/** Whether the log holds a job of this id (its plan, or any event naming it). */
async function holdsJob(store: EventStore, jobId: string): Promise<boolean> {
  if ((await store.readByTags([tags.job(jobId)], { types: ["job.planned"] })).length > 0) return true;
  // A log no engine of this version has opened yet carries no tags: look through it.
  let after = 0;
  for (;;) {
    const page = await store.read({ after, limit: EXPORT_PAGE });
    if (page.length === 0) return false;
    for (const stored of page) {
      after = stored.position;
      if ((stored.data as { jobId?: unknown } | null)?.jobId === jobId) return true;
    }
  }
}

/**
 * Every resolved result of the log (or of one job, through its tag), in log order, a page at a
 * time: memory stays flat whatever the log's length.
 */
async function* resolvedResults(store: EventStore, jobId: string | undefined): AsyncGenerator<ContactResult> {
  const ofJob = (event: DomainEvent): event is EventOf<"contact.resolved"> =>
    event.type === "contact.resolved" && (jobId === undefined || event.data.jobId === jobId);
  if (jobId !== undefined) {
    const tagged = await store.readByTags([tags.job(jobId)], { types: ["contact.resolved"] });
    // A log no engine of this version has opened yet carries no tags: read it whole then.
    if (tagged.length > 0) {
      for (const stored of tagged) {
        const event = parseEvent(stored);
        if (ofJob(event)) yield toContactResult(event, DEFAULT_CORRELATION_KEY);
      }
      return;
    }
  }
  let after = 0;
  for (;;) {
    const page = await store.read({ after, limit: EXPORT_PAGE });
    if (page.length === 0) return;
    for (const stored of page) {
      after = stored.position;
      const event = parseEvent(stored);
      if (ofJob(event)) yield toContactResult(event, DEFAULT_CORRELATION_KEY);
    }
  }
}
