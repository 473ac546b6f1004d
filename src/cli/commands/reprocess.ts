import { reprocessQuarantined } from "../../webhooks/reprocess.js";
import { parseFlags } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { openExistingStore, storeLocation } from "../runtime.js";
import { DEFAULT_STORE } from "./lookup.js";

export const REPROCESS_USAGE = `fullenrich-rx reprocess [--store PATH|URL] [--json]

Parses the quarantined webhook deliveries in the event log again (signed deliveries that an
earlier version could not parse: \`status\` lists them), typically after upgrading fullenrich-rx.
Those that parse now are added to the log as ordinary deliveries, once; a running engine or the
next \`enrich\` / \`export\` picks their results up. Exits 1 while some still do not parse.`;

export async function reprocessCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, { store: { type: "string" }, json: { type: "boolean" } });
  const path = storeLocation(io.cwd, values.store ?? DEFAULT_STORE);
  const store = await openExistingStore(path);
  try {
    const report = await reprocessQuarantined(store);
    if (values.json) {
      print(io.stdout, JSON.stringify(report));
    } else {
      print(
        io.stdout,
        `${report.reprocessed.length} quarantined deliveries parsed and added to ${path}; ${report.alreadyReprocessed} done by an earlier run; ${report.stillQuarantined.length} still quarantined`,
      );
      for (const item of report.reprocessed)
        print(
          io.stdout,
          `  sha256 ${item.digest.slice(0, 12)}…: ${item.event} event of ${item.enrichmentId}`,
        );
      for (const item of report.stillQuarantined)
        print(
          io.stdout,
          `  still quarantined: position ${item.position}, sha256 ${item.digest.slice(0, 12)}…: ${item.reason}`,
        );
    }
    return report.stillQuarantined.length > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
