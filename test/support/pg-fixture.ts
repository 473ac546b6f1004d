import { randomBytes } from "node:crypto";
import pg from "pg";

/** The test database: `DATABASE_URL`, by default the local PostgreSQL's `test` database. */
export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const runId = `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
let serial = 0;

/** A schema name no other test file or run uses: `fxrx_t_<run>_<n>`. */
export function uniqueSchema(label = "s"): string {
  serial += 1;
  return `fxrx_t_${runId}_${label}_${serial}`.slice(0, 63);
}

/** A plain client on the test database (for setup, inspection and hand-made transactions). */
export async function rawClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "fullenrich-rx-tests" });
  await client.connect();
  return client;
}

/** Drops `schemas` (and everything in them). */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = await rawClient();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Whether the test database answers (the suites fail loudly when it does not, rather than skip). */
export async function assertDatabaseReachable(): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${databaseUrl.replace(/\/\/[^@/]*@/, "//***@")} (set DATABASE_URL): ${String(error)}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `databaseUrl` with a `schema` parameter. */
export function urlWithSchema(schema: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set("schema", schema);
  return url.toString();
}
