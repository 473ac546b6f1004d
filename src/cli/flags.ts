import { parseArgs } from "node:util";
import { z } from "zod";
import { UsageError } from "./usage-error.js";

type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

/** The parsed flags: strings for string flags, booleans for boolean flags. */
export type ParsedFlags<S extends FlagSpec> = {
  [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : string;
};

/** Parses a command's flags strictly: an unknown flag or a missing value is a usage error. */
export function parseFlags<S extends FlagSpec>(args: readonly string[], spec: S): ParsedFlags<S> {
  try {
    return parseArgs({ args: [...args], options: spec, strict: true, allowPositionals: false })
      .values as ParsedFlags<S>;
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^TypeError( \[[A-Z_]+\])?: /, ""));
  }
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
