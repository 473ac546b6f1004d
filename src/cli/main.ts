#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { errorMessage } from "../api/errors.js";
import { DEMO_USAGE, demoCommand } from "./commands/demo.js";
import { EXPORT_USAGE, exportCommand } from "./commands/export.js";
import { ENRICH_USAGE, enrichCommand, REVERSE_USAGE, reverseCommand } from "./commands/lookup.js";
import { REPORT_USAGE, reportCommand } from "./commands/report.js";
import { REPROCESS_USAGE, reprocessCommand } from "./commands/reprocess.js";
import { SERVE_USAGE, serveCommand } from "./commands/serve.js";
import { SIMULATE_USAGE, simulateCommand } from "./commands/simulate.js";
import { STATUS_USAGE, statusCommand } from "./commands/status.js";
import { TEST_WEBHOOK_USAGE, testWebhookCommand } from "./commands/test-webhook.js";
import { closestFlag } from "./flags.js";
import { type CliIo, print } from "./io.js";
import { UsageError } from "./usage-error.js";

/** The package's version, from its package.json (two levels up from src/cli and dist/cli alike). */
export function cliVersion(): string {
  const manifest: unknown = createRequire(import.meta.url)("../../package.json");
  const parsed = z.looseObject({ version: z.string() }).safeParse(manifest);
  return parsed.success ? parsed.data.version : "unknown";
}

type Command = { usage: string; run: (args: readonly string[], io: CliIo) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  enrich: { usage: ENRICH_USAGE, run: enrichCommand },
  reverse: { usage: REVERSE_USAGE, run: reverseCommand },
  serve: { usage: SERVE_USAGE, run: serveCommand },
  simulate: { usage: SIMULATE_USAGE, run: simulateCommand },
  "test-webhook": { usage: TEST_WEBHOOK_USAGE, run: testWebhookCommand },
  status: { usage: STATUS_USAGE, run: statusCommand },
  export: { usage: EXPORT_USAGE, run: exportCommand },
  report: { usage: REPORT_USAGE, run: reportCommand },
  reprocess: { usage: REPROCESS_USAGE, run: reprocessCommand },
  demo: { usage: DEMO_USAGE, run: demoCommand },
};

export const USAGE = `fullenrich-rx: FullEnrich enrichment results, fast, exactly once, without losing one.

Usage: fullenrich-rx <command> [flags]

Commands:
${Object.values(COMMANDS)
  .map((command) => `  ${command.usage.split("\n")[0]}`)
  .join("\n")}

Run \`fullenrich-rx <command> --help\` for a command's details; \`fullenrich-rx --version\` for the version.`;

/** Runs the CLI; resolves with the exit code (0 done, 1 runtime failure, 2 invalid usage or input). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    print(io.stdout, USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    print(io.stdout, cliVersion());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const guess = closestFlag(name, Object.keys(COMMANDS));
    print(
      io.stderr,
      `fullenrich-rx: unknown command "${name}"${guess ? `; did you mean ${guess}?` : ""}\n\n${USAGE}`,
    );
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    print(io.stdout, command.usage);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      print(io.stderr, `fullenrich-rx ${name}: ${error.message}\n\nUsage: ${command.usage.split("\n")[0]}`);
      return 2;
    }
    print(io.stderr, `fullenrich-rx ${name}: ${errorMessage(error)}`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`fullenrich-rx: ${errorMessage(error)}\n`);
      process.exitCode = 1;
    },
  );
}
