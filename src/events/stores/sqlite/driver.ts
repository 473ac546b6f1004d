import type BetterSqlite3 from "better-sqlite3";
import { StoreUnavailableError } from "../../store.js";
import { messageOf } from "../shared/validation.js";

/** better-sqlite3's constructor. */
export type SqliteDriver = typeof BetterSqlite3;

let driver: Promise<SqliteDriver> | undefined;
let loaded: SqliteDriver | undefined;

/** better-sqlite3, once a store loaded it (before, no SQLite error can exist). @internal */
export function loadedSqliteDriver(): SqliteDriver | undefined {
  return loaded;
}

/**
 * Loads better-sqlite3 (a native addon) when a SQLite store is first opened, not when the package
 * is imported: code that never opens one (a webhook handler on a memory store, a PostgreSQL
 * deployment) runs where the addon cannot load. @internal
 */
export function loadSqliteDriver(): Promise<SqliteDriver> {
  driver ??= import("better-sqlite3").then(
    (module) => {
      loaded = module.default;
      return module.default;
    },
    (error: unknown) => {
      driver = undefined;
      throw new StoreUnavailableError(
        `the SQLite event store needs the better-sqlite3 package, which could not be loaded (${messageOf(error)}): install it (npm install better-sqlite3), or use another store`,
        { cause: error },
      );
    },
  );
  return driver;
}
