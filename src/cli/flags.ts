import { parseArgs } from "node:util";
import { z } from "zod";
import { UsageError } from "./usage-error.js";

type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

/** The parsed flags: strings for string flags, booleans for boolean flags. */
export type ParsedFlags<S extends FlagSpec> = {
  [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : string;
};

/**
 * Parses a command's flags strictly: an unknown flag or a missing value is a usage error; an
 * unknown flag close to a known one (`--batchsize`) gets "did you mean --batch-size?".
 */
export function parseFlags<S extends FlagSpec>(args: readonly string[], spec: S): ParsedFlags<S> {
  try {
    return parseArgs({ args: [...args], options: spec, strict: true, allowPositionals: false })
      .values as ParsedFlags<S>;
  } catch (error) {
    const { code } = error as { code?: string };
    const unknown = /Unknown option '(-{1,2}[^'=]+)/.exec((error as Error).message)?.[1];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown !== undefined) {
      const suggestion = closestFlag(unknown, Object.keys(spec));
      throw new UsageError(
        `unknown flag ${unknown}${suggestion ? `; did you mean --${suggestion}?` : ""} (--help lists the flags)`,
      );
    }
    throw new UsageError((error as Error).message.replace(/^TypeError( \[[A-Z_]+\])?: /, ""));
  }
}

/** The known flag closest to what was typed (ignoring case, dashes and underscores), if close enough. */
export function closestFlag(typed: string, known: readonly string[]): string | undefined {
  const squash = (name: string): string => name.replace(/^-+/, "").replace(/[-_]/g, "").toLowerCase();
  const wanted = squash(typed);
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(wanted, squash(name));
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(2, Math.floor(wanted.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** Validates one flag's value with zod, naming the flag in the error. */
export function flag<T extends z.ZodType>(name: string, schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(`--${name}: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  }
  return parsed.data;
}

/** A positive number given as text, e.g. `--time-scale 0.01`. */
export const positiveNumber = z.coerce
  .number({ error: "must be a number" })
  .refine((value) => Number.isFinite(value) && value > 0, { error: "must be a positive number" });

/** A TCP port given as text. */
export const port = z.coerce
  .number({ error: "must be a port number" })
  .int({ error: "must be a whole number" })
  .min(0, { error: "must be from 0 to 65535" })
  .max(65535, { error: "must be from 0 to 65535" });

/** `HOST:PORT`, e.g. `127.0.0.1:8080` or `:8080` (all interfaces). */
export const hostPort = z.string().transform((value, ctx) => {
  const match = /^(.*):(\d{1,5})$/.exec(value.trim());
  const portNumber = match ? Number(match[2]) : Number.NaN;
  if (!match || portNumber > 65535) {
    ctx.addIssue({
      code: "custom",
      message: `must be HOST:PORT, e.g. 127.0.0.1:8080 (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
  }
  return { host: (match[1] as string).replace(/^\[|\]$/g, "") || "0.0.0.0", port: portNumber };
});

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration given as text, e.g. `30d`, `12h`, `90m`, `45s`, `500ms`: its milliseconds. */
export const duration = z.string().transform((value, ctx) => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) {
    ctx.addIssue({
      code: "custom",
      message: `must be a number and a unit (ms, s, m, h, d), e.g. 30d or 12h (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
  }
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
});
