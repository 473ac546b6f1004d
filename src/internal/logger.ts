/**
 * Where fullenrich-rx writes what it does. Personal data (names, emails, bodies) is only ever
 * passed at `debug` level; an API key is never passed at all.
 */
export interface Logger {
  /** Details, personal data included (bodies, names): off unless asked for. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** What happened: a batch submitted, polling taking over. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something an operator should look at: a quarantined delivery, a refused signature. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something failed: the store, a request that will not be retried. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The lowest level a {@link streamLogger} writes; `silent` writes nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A logger that drops everything: the library's default. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A logger writing one line per message to a stream (stderr by default), from `level` up. */
export function streamLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const emit =
    (at: Exclude<LogLevel, "silent">) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (order[at] < order[level]) return;
      const suffix = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
      write(`[fullenrich-rx] ${at}: ${message}${suffix}\n`);
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
