import { fstat, type Stats } from "node:fs";
import { type FileHandle, mkdir } from "node:fs/promises";
import { promisify } from "node:util";

const fstatOf: (fd: number) => Promise<Stats> = promisify(fstat);

/** Mode of the files the CLI creates: they hold personal data (or a key), so owner-only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of the directories the CLI creates for them. */
export const PRIVATE_DIRECTORY_MODE = 0o700;

/** Files already warned about in this process: each warning is given once. */
const warned = new Set<string>();

/** Whether a file mode lets the group or other users read or write it. */
export function widerThanPrivate(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/** Creates `directory` and its missing parents owner-only (0700); existing ones are left as they are. */
export async function makePrivateDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
}

/** Quotes a path for a shell command line when it needs it. */
function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}

/**
 * Warns, once per file and process, when a regular file opened by the CLI is readable or writable
 * by other users (it existed before with a wider mode: the CLI never widens a mode, and leaves the
 * choice of narrowing it to its owner). `what` says what the file holds.
 */
export function warnIfShared(path: string, mode: number, what: string, warn: (line: string) => void): void {
  if (!widerThanPrivate(mode) || warned.has(path)) return;
  warned.add(path);
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  warn(
    `warning: ${path} (${what}) can be read by other local users (mode ${octal}); make it private with: chmod 600 ${shellQuote(path)}`,
  );
}

/** {@link warnIfShared} for an open file, from its descriptor (nothing for pipes and devices). */
export async function warnIfSharedFile(
  file: number | FileHandle,
  path: string,
  what: string,
  warn: (line: string) => void,
): Promise<void> {
  const stats = typeof file === "number" ? await fstatOf(file) : await file.stat();
  if (stats.isFile()) warnIfShared(path, stats.mode, what, warn);
}
