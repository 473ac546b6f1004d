import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Owner-only modes of the files and directories the SQLite store creates. @internal */
export const PRIVATE_FILE_MODE = 0o600;
/** @internal */
export const PRIVATE_DIRECTORY_MODE = 0o700;

/** The database file and the two files SQLite keeps beside it in WAL mode. @internal */
export function sqliteFilesOf(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`];
}

/**
 * Creates the missing directories of `directory`, each owner-only (0700: the mode is set
 * explicitly, whatever the umask). Directories that existed are left as they are.
 * @internal
 */
export function createPrivateDirectory(directory: string): void {
  const first = mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  if (first === undefined) return;
  // mkdir created `first` and everything below it down to `directory`.
  const created: string[] = [];
  for (let current = resolve(directory); ; current = dirname(current)) {
    created.push(current);
    if (current === resolve(first) || dirname(current) === current) break;
  }
  for (const path of created) chmodSync(path, PRIVATE_DIRECTORY_MODE);
}

/**
 * Creates the database file, owner-only (0600, set explicitly), unless it exists. Returns whether
 * it created it. SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
 * @internal
 */
export function createPrivateFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Sets the files of `paths` that exist to owner-only (0600). @internal */
export function makePrivate(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      chmodSync(path, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}

/** Those of `paths` that exist and that the group or others may read or write. @internal */
export function widerThanPrivate(paths: readonly string[]): string[] {
  return paths.filter((path) => {
    try {
      return (statSync(path).mode & 0o077) !== 0;
    } catch {
      return false;
    }
  });
}

/** The warning for files others may read: which files, and the command that fixes it. @internal */
export function wideFilesWarning(paths: readonly string[]): string {
  const quoted = paths.map((path) => (/^[\w./+-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`));
  return (
    `the event store's files can be read by other users of this machine: ${paths.join(", ")}. ` +
    `They hold personal data; make them private with: chmod 600 ${quoted.join(" ")}`
  );
}
