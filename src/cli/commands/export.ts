import { resolve } from "node:path";
import { z } from "zod";
import { type ContactResult, toContactResult } from "../../engine/contact-result.js";
import { DEFAULT_CORRELATION_KEY } from "../../events/contact-key.js";
import { parseEvent } from "../../events/event-types.js";
import { flag, parseFlags } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { ResultWriter } from "../result-writer.js";
import { openExistingStore, storeLocation } from "../runtime.js";
import { UsageError } from "../usage-error.js";
import { DEFAULT_STORE } from "./lookup.js";

export const EXPORT_USAGE = `fullenrich-rx export --store PATH|URL --out FILE [--format jsonl|csv] [--job ID]

Writes every resolved result in the event log again, one line per contact (the same lines as
enrich's --out), optionally only those of one job (see \`status\`). A new --out file is created
owner-only (0600): it holds personal data.`;

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
  const store = await openExistingStore(storeLocation(io.cwd, values.store ?? DEFAULT_STORE));
  let results: ContactResult[];
  try {
    results = (await store.read())
      .map(parseEvent)
      .flatMap((event) =>
        event.type === "contact.resolved" ? [toContactResult(event, DEFAULT_CORRELATION_KEY)] : [],
      )
      .filter((result) => values.job === undefined || result.jobId === values.job);
  } finally {
    await store.close();
  }
  const kinds = new Set(results.map((result) => result.kind));
  const customKeys = [...new Set(results.flatMap((result) => Object.keys(result.custom)))];
  const writer = await ResultWriter.open(
    resolve(io.cwd, values.out),
    format,
    kinds.size === 1 && kinds.has("reverse") ? "reverse" : "enrich",
    customKeys,
    (line) => print(io.stderr, line),
  );
  for (const result of results) writer.write(result);
  await writer.close();
  print(io.stdout, `${results.length} results written to ${resolve(io.cwd, values.out)}`);
  return 0;
}
