import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SqliteEventStore } from "../../src/events/stores/sqlite-store.js";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { createFetchHandler } from "../../src/webhooks/fetch-adapter.js";
import { WebhookReceiver } from "../../src/webhooks/receiver.js";
import { signBody } from "../../src/webhooks/signature.js";
import { freePort, runCli } from "./cli-process.js";

/** A run worth a report, recorded in a SQLite log by the real CLI against the simulator over HTTP. */
export interface RecordedRun {
  /** The SQLite event log. */
  store: string;
  sim: RunningSimulator;
  /** Contacts of both runs. */
  contacts: number;
  /** The CLI's exit code and output, of each run. */
  cli: { code: number | null; stdout: string; stderr: string }[];
}

export const REPORT_RUN_KEY = "report-run-key";

/**
 * Webhook mode with per-contact events, `contacts` contacts in batches of 10 with at most 4 running
 * at once (the others queue), the batch webhook of the third enrichment lost (polling takes over
 * at its deadline), some deliveries sent twice; then one signed delivery that cannot be parsed
 * (quarantined). Then, with `pollingContacts`, another job of other contacts, polling only. Leaves
 * the simulator running: the caller closes it.
 */
export async function recordRun(
  dir: string,
  options: { timeScale: number; contacts: number; pollingContacts?: number; seed?: number },
): Promise<RecordedRun> {
  const sim = await startSimulator({
    apiKeys: [REPORT_RUN_KEY],
    timeScale: options.timeScale,
    seed: options.seed ?? 7,
    faults: { loseBatchWebhook: ({ ordinal }) => ordinal === 2, duplicateDeliveryRate: 0.2 },
  });
  const store = join(dir, "events.db");
  const enrich = async (name: string, count: number, first: number, more: string[]) => {
    const rows = Array.from(
      { length: count },
      (_, i) => `Person${first + i},Family${first + i},example${i % 5}.com,,,${first + i}`,
    );
    await writeFile(
      join(dir, `${name}.csv`),
      `first_name,last_name,domain,company_name,linkedin_url,custom.crm_id\n${rows.join("\n")}\n`,
    );
    return runCli(
      [
        "enrich",
        "--input",
        `${name}.csv`,
        "--out",
        `${name}.jsonl`,
        "--store",
        store,
        "--base-url",
        sim.baseUrl,
        "--time-scale",
        String(options.timeScale),
        "--batch-size",
        "10",
        "--quiet",
        ...more,
      ],
      { cwd: dir, env: { FULLENRICH_API_KEY: REPORT_RUN_KEY }, timeoutMs: 120_000 },
    );
  };
  const port = await freePort();
  const cli = [
    await enrich("leads", options.contacts, 1000, [
      "--max-running",
      "4",
      "--webhook-url",
      `http://127.0.0.1:${port}/hooks/fullenrich`,
      "--listen",
      `127.0.0.1:${port}`,
      "--contact-events",
    ]),
  ];
  const polling = options.pollingContacts ?? 0;
  if (polling > 0) cli.push(await enrich("more-leads", polling, 5000, []));
  // A signed delivery this version cannot read: stored as quarantined by the real receiver.
  const log = await SqliteEventStore.open(store);
  try {
    const receiver = new WebhookReceiver({ store: log, apiKeys: [REPORT_RUN_KEY] });
    const body = '{"id": "e-unknown", "data": "not a list"}';
    const answer = await createFetchHandler(receiver)(
      new Request("http://127.0.0.1/webhook", {
        method: "POST",
        headers: { "content-type": "application/json", "x-signature-sha1": signBody(REPORT_RUN_KEY, body) },
        body,
      }),
    );
    if (answer.status !== 200) throw new Error(`the quarantined delivery was answered ${answer.status}`);
    // Quarantined when parsed, after the answer: before the store closes.
    await receiver.whenParsed();
    receiver.close();
  } finally {
    await log.close();
  }
  return { store, sim, contacts: options.contacts + polling, cli };
}
