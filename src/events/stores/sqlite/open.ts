import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { type Logger, streamLogger } from "../../../internal/logger.js";
import { StoreUnavailableError } from "../../store.js";
import { messageOf } from "../shared/validation.js";
import type { SqliteDriver } from "./driver.js";
import { sqliteUnavailable } from "./errors.js";
import {
  createPrivateDirectory,
  createPrivateFile,
  makePrivate,
  sqliteFilesOf,
  wideFilesWarning,
  widerThanPrivate,
} from "./files.js";
import { openAndSetUp, retryWhileBusy } from "./open-connection.js";
import { initialize } from "./schema.js";
import type { SqliteSettings } from "./settings.js";

/**
 * Opens the main thread's connection to the store's file, creating the file (0600) and its missing
 * directories (0700) first, and the schema; warns (through `logger`, else on stderr) when others
 * may read an existing file. Throws {@link StoreUnavailableError} saying what to do.
 * @internal
 */
export function openMainConnection(
  Driver: SqliteDriver,
  settings: SqliteSettings,
  logger: Logger | undefined,
): Database.Database {
  const directory = dirname(settings.path);
  try {
    createPrivateDirectory(directory);
  } catch (error) {
    throw new StoreUnavailableError(
      `cannot create the directory ${directory} for the event store: ${messageOf(error)}. ` +
        "Check that the path is right and that this user may write there.",
      { cause: error },
    );
  }
  const wide = widerThanPrivate(sqliteFilesOf(settings.path));
  if (wide.length > 0) {
    (logger ?? streamLogger("warn")).warn(wideFilesWarning(wide), { path: settings.path });
  }
  try {
    const created = createPrivateFile(settings.path);
    const db = retryWhileBusy(
      () =>
        openAndSetUp(
          () => new Driver(settings.path, { timeout: settings.busyTimeoutMs }),
          (candidate) => initialize(candidate, settings),
        ),
      settings.busyTimeoutMs,
    );
    // SQLite gives -wal and -shm the database file's mode; set it explicitly all the same.
    if (created) makePrivate(sqliteFilesOf(settings.path));
    return db;
  } catch (error) {
    throw sqliteUnavailable(error, settings, "open");
  }
}
