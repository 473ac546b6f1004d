/**
 * `fullenrich-rx/postgres`: the PostgreSQL event store, for a log shared by several instances.
 * Needs the `pg` package (an optional peer dependency: `npm install pg`).
 *
 * @module fullenrich-rx/postgres
 */
export {
  PostgresEventStore,
  type PostgresEventStoreOptions,
  type PostgresStoreDiagnostics,
} from "./events/stores/postgres-store.js";
