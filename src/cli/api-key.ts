import { open } from "node:fs/promises";
import { resolve } from "node:path";
import type { CliIo } from "./io.js";
import { warnIfSharedFile } from "./private-file.js";
import { UsageError } from "./usage-error.js";

/** The flags every command that needs the API key takes. */
export const API_KEY_FLAGS = {
  "api-key": { type: "string" },
  "api-key-file": { type: "string" },
} as const;

/** How the help of those commands describes them (aligned with the lookup commands' flag list). */
export const API_KEY_USAGE = `    [--api-key-file PATH]      read the API key from a file (its first line), e.g. a mounted secret;
                               default: env FULLENRICH_API_KEY (the recommended way)
    [--api-key KEY]            avoid: other local users see it in \`ps\`, and it stays in shell
                               history; use FULLENRICH_API_KEY or --api-key-file instead`;

/** Where a key comes from, in order: `--api-key`, `--api-key-file`, `FULLENRICH_API_KEY`. */
export interface ApiKeyFlags {
  "api-key"?: string | undefined;
  "api-key-file"?: string | undefined;
}

/** The longest key file read: a key is a few dozen characters. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * The API key: `--api-key`, else the first line of `--api-key-file`, else `FULLENRICH_API_KEY`;
 * undefined when none is set. Giving both flags is a usage error. A key file that other users can
 * read gets a warning on stderr (once). Errors name the file, never its content.
 */
export async function resolveApiKey(values: ApiKeyFlags, io: CliIo): Promise<string | undefined> {
  const flagKey = values["api-key"];
  const file = values["api-key-file"];
  if (flagKey !== undefined && file !== undefined) {
    throw new UsageError("give the key once: --api-key or --api-key-file, not both");
  }
  if (flagKey !== undefined) return flagKey.trim() || undefined;
  if (file !== undefined) return readKeyFile(resolve(io.cwd, file), io);
  return io.env.FULLENRICH_API_KEY?.trim() || undefined;
}

async function readKeyFile(path: string, io: CliIo): Promise<string> {
  let text: string;
  try {
    const handle = await open(path, "r");
    try {
      await warnIfSharedFile(handle, path, "the API key", (line) => io.stderr.write(`${line}\n`));
      const { buffer, bytesRead } = await handle.read(
        Buffer.alloc(MAX_KEY_FILE_BYTES),
        0,
        MAX_KEY_FILE_BYTES,
        0,
      );
      text = buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `--api-key-file: cannot read ${path}${code ? ` (${code})` : ""}: give the path of a file holding the API key`,
    );
  }
  const key = text.split(/\r?\n/, 1)[0]?.trim() ?? "";
  if (key === "")
    throw new UsageError(`--api-key-file: ${path} is empty: its first line must be the API key`);
  return key;
}
