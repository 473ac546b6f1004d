import { unavailableError } from "../shared/errors.js";
import { loadedSqliteDriver } from "./driver.js";
import type { WriterFailure } from "./failure.js";
import type { SqliteSettings } from "./settings.js";

/** A {@link WriterFailure} as an error the store can map (a `SqliteError` when it has a code). @internal */
export function errorOfFailure(failure: WriterFailure): Error {
  const Driver = loadedSqliteDriver();
  if (failure.code === "" || !Driver) return new Error(failure.message);
  return new Driver.SqliteError(failure.message, failure.code);
}

/** Turns a driver error into a {@link StoreUnavailableError} that says what went wrong and what to do. @internal */
export function sqliteUnavailable(
  error: unknown,
  settings: Pick<SqliteSettings, "path" | "busyTimeoutMs">,
  action: "open" | "read" | "write",
): Error {
  const Driver = loadedSqliteDriver();
  const code = Driver && error instanceof Driver.SqliteError ? error.code : "";
  const { path } = settings;
  return unavailableError(error, {
    where: path,
    action,
    code,
    explain: (detail) => {
      if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
        return (
          `the event store ${path} is locked: another connection or process held it for more than ` +
          `busyTimeoutMs (${settings.busyTimeoutMs} ms) — ${detail}. Stop the program that keeps it locked ` +
          "(an open transaction, a backup, an exclusive lock), or raise busyTimeoutMs, then retry."
        );
      }
      if (code.startsWith("SQLITE_READONLY") || code === "SQLITE_PERM" || code === "SQLITE_AUTH") {
        return (
          `the event store ${path} is read-only — ${detail}. Give this user write access to the file, ` +
          "its -wal/-shm files and its directory, or choose another path."
        );
      }
      if (code.startsWith("SQLITE_CANTOPEN")) {
        return (
          `cannot open the event store ${path} — ${detail}. Check that the path names a file (not a ` +
          "directory) on a local disk, and that this user may read and write it and its directory."
        );
      }
      if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
        return (
          `${path} is not a usable SQLite event store — ${detail}. Choose another path, or restore the ` +
          "file from a backup."
        );
      }
      if (code.startsWith("SQLITE_CONSTRAINT")) {
        return (
          `the event store ${path} refused an append — ${detail}. Nothing of that append was stored (the ` +
          "others committed with it were). The file has a constraint or trigger fullenrich-rx did not " +
          "create: remove it, or use a file only fullenrich-rx writes to."
        );
      }
      if (code === "SQLITE_FULL") {
        return `the disk holding the event store ${path} is full — ${detail}. Free some space, then retry.`;
      }
      if (code.startsWith("SQLITE_IOERR")) {
        return `I/O error on the event store ${path} — ${detail}. Check the disk and the file system, then retry.`;
      }
      return undefined;
    },
  });
}
