import { z } from "zod";
import { jsonLogger, LOG_LEVELS, type Logger, streamLogger } from "../internal/logger.js";
import { flag } from "./flags.js";
import type { CliIo } from "./io.js";
import { UsageError } from "./usage-error.js";

/** The logging flags of a command that logs (`serve`'s own --verbose means something else). */
export const LOG_LEVEL_FLAGS = {
  "log-level": { type: "string" },
  "log-format": { type: "string" },
} as const;

/** The logging flags of `enrich` and `reverse`. */
export const LOG_FLAGS = { ...LOG_LEVEL_FLAGS, verbose: { type: "boolean", short: "v" } } as const;

export const LOG_LEVEL_USAGE = `    [--log-level LEVEL]        debug|info|warn|error|silent; default warn (debug shows personal data)
    [--log-format text|json]   text lines (default), or one JSON object a line with pino's field
                               names (level 20/30/40/50, time, pid, hostname, name, msg, …)`;

export const LOG_USAGE = `    [--verbose, -v]            log what the engine does (retries, 429 pauses, polling taking over):
                               --log-level info
${LOG_LEVEL_USAGE}`;

/**
 * The logger the flags ask for, writing to stderr (or through `write`, e.g. above a progress view).
 * The API key is never logged.
 */
export function loggerFromFlags(
  values: { verbose?: boolean; "log-level"?: string; "log-format"?: string },
  io: CliIo,
  write: (line: string) => void = (line) => {
    io.stderr.write(line);
  },
): Logger {
  if (values.verbose && values["log-level"] !== undefined) {
    throw new UsageError("--verbose is --log-level info: give one or the other");
  }
  const level = flag(
    "log-level",
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }),
    values["log-level"] ?? (values.verbose ? "info" : "warn"),
  );
  const format = flag(
    "log-format",
    z.enum(["text", "json"], { error: "must be text or json" }),
    values["log-format"] ?? "text",
  );
  return format === "json" ? jsonLogger(level, write) : streamLogger(level, write);
}
