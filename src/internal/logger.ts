import { hostname } from "node:os";

/**
 * Where fullenrich-rx writes what it does. Personal data (names, emails, bodies) is only ever
 * passed at `debug` level; an API key is never passed at all.
 *
 * A [pino](https://getpino.io) logger fits as is: fullenrich-rx calls each method as
 * `(message, fields)`, and a pino instance (recognised by its `levels.values` and `bindings()`) is
 * called the way pino expects instead, `(fields, message)`, so its fields stay structured:
 * `EnrichmentEngine.start({ client, store, logger: pino() })`.
 */
export interface Logger {
  /** Details, personal data included (bodies, names): off unless asked for. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** What happened: a batch submitted, a retry, polling taking over. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something an operator should look at: a 429 pause, a quarantined delivery, a refused signature. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something failed: the store, a request that will not be retried. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The lowest level a {@link streamLogger} writes; `silent` writes nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** The log levels, lowest first (`silent` is not one). */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const satisfies readonly LogLevel[];

/** pino's level numbers, which JSON lines carry in `level`. */
export const PINO_LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A logger that drops everything: the library's default. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** Field names whose values never reach a log line, whoever passes them. */
const SECRET_FIELD = /api[-_]?key|authorization|secret|password|token/i;

/** A copy of `fields` with the values of secret-looking names replaced. */
function redacted(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields))
    out[name] = SECRET_FIELD.test(name) ? "[redacted]" : value;
  return out;
}

/** A logger writing one line per message to a stream (stderr by default), from `level` up. */
export function streamLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const emit =
    (at: Exclude<LogLevel, "silent">) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (order[at] < order[level]) return;
      const suffix = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(redacted(fields))}` : "";
      write(`[fullenrich-rx] ${at}: ${message}${suffix}\n`);
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/**
 * A logger writing one JSON object per line, from `level` up, with pino's field names (so pino's
 * tools read it): `level` (pino's number: 20 debug, 30 info, 40 warn, 50 error), `time` (ms since
 * the epoch), `pid`, `hostname`, `name` ("fullenrich-rx"), `msg`, then the message's fields.
 */
export function jsonLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  now: () => number = Date.now,
): Logger {
  const base = { pid: process.pid, hostname: hostname(), name: "fullenrich-rx" };
  const emit =
    (at: Exclude<LogLevel, "silent">) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (order[at] < order[level]) return;
      const line = { level: PINO_LEVELS[at], time: now(), ...base, msg: message, ...redacted(fields ?? {}) };
      write(`${JSON.stringify(line, jsonSafe)}\n`);
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** Errors as `{type, message}` (JSON.stringify would write `{}`), bigints as text. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { type: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** The shape of a pino logger that fullenrich-rx relies on: fields first, then the message. */
interface PinoShaped {
  levels: { values: Record<string, number> };
  bindings: () => unknown;
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

function isPinoShaped(logger: object): logger is PinoShaped {
  const candidate = logger as Partial<PinoShaped>;
  return (
    typeof candidate.bindings === "function" &&
    typeof candidate.levels === "object" &&
    candidate.levels !== null &&
    typeof candidate.levels.values === "object"
  );
}

/**
 * The logger a component writes to: the given one, or {@link silentLogger}. A pino instance is
 * called pino's way (`(fields, message)`); any other logger as {@link Logger} says.
 */
export function toLogger(logger: Logger | undefined): Logger {
  if (logger === undefined) return silentLogger;
  if (!isPinoShaped(logger)) return logger;
  const pino = logger;
  return {
    debug: (message, fields) => pino.debug(fields ?? {}, message),
    info: (message, fields) => pino.info(fields ?? {}, message),
    warn: (message, fields) => pino.warn(fields ?? {}, message),
    error: (message, fields) => pino.error(fields ?? {}, message),
  };
}
