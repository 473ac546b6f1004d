import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let dir: string;
let tarball: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-pack-"));
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: ROOT });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error("npm pack printed nothing");
  tarball = join(dir, info.filename);
  files = info.files.map((file) => file.path);
  const project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true }),
  );
  // A clean install from the tarball and the registry. The native SQLite addon is not compiled again
  // here (a minute and a half on 2 cores; `npm ci` already builds it): install scripts are skipped
  // and this checkout's build of the same better-sqlite3 version is copied in.
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", tarball], {
    cwd: project,
    timeout: 120_000,
  });
  const release = join(project, "node_modules/better-sqlite3/build/Release");
  mkdirSync(release, { recursive: true });
  copyFileSync(
    join(ROOT, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"),
    join(release, "better_sqlite3.node"),
  );
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files: string[] = [];

describe("the published package", () => {
  it("holds only what users need", () => {
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/index.d.ts");
    expect(files).toContain("dist/cli/main.js");
    // The SQLite store's threads run these modules from the installed package (not eval'd source).
    expect(files).toContain("dist/events/stores/sqlite/writer-worker.js");
    expect(files).toContain("dist/events/stores/sqlite/checkpointer-worker.js");
    expect(files).toContain("README.md");
    expect(files).toContain("LICENSE");
    expect(files.filter((file) => !/^(dist\/|README\.md$|LICENSE$|package\.json$)/.test(file))).toEqual([]);
    expect(files.some((file) => /\.test\.|^src\/|^test\/|^benchmarks\//.test(file))).toBe(false);
  });

  it("imports from ESM, and from CommonJS with require (Node 20.19+)", async () => {
    const project = join(dir, "project");
    const esm = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        [
          "import { EnrichmentEngine, FullEnrichClient } from 'fullenrich-rx';",
          "import { startSimulator } from 'fullenrich-rx/simulator';",
          "import { PostgresEventStore } from 'fullenrich-rx/postgres';",
          "import { RedisPollLeases } from 'fullenrich-rx/redis';",
          "import { createFetchHandler } from 'fullenrich-rx/webhooks';",
          "console.log([EnrichmentEngine, FullEnrichClient, startSimulator, PostgresEventStore, RedisPollLeases, createFetchHandler].map((x) => typeof x).join(' '));",
        ].join(" "),
      ],
      { cwd: project },
    );
    expect(esm.stdout.trim()).toBe(Array(6).fill("function").join(" "));
    const cjs = await run(
      process.execPath,
      ["-e", "const { EnrichmentEngine } = require('fullenrich-rx'); console.log(typeof EnrichmentEngine);"],
      { cwd: project },
    );
    expect(cjs.stdout.trim()).toBe("function");
  });

  it("the root and the webhook entry load no native addon, nor pg, nor ioredis: a signed delivery is stored in memory", async () => {
    const project = join(dir, "project");
    // A process where better-sqlite3, pg and ioredis cannot be resolved at all.
    writeFileSync(
      join(project, "no-addons.mjs"),
      [
        "import { register } from 'node:module';",
        "register('data:text/javascript,' + encodeURIComponent(`",
        "  const blocked = new Set(['better-sqlite3', 'pg', 'ioredis']);",
        "  export async function resolve(specifier, context, next) {",
        "    if (blocked.has(specifier)) throw new Error('cannot resolve ' + specifier + ' here');",
        "    return next(specifier, context);",
        "  }`));",
      ].join("\n"),
    );
    writeFileSync(
      join(project, "handle-delivery.mjs"),
      [
        "import { createHmac } from 'node:crypto';",
        "import { EnrichmentEngine } from 'fullenrich-rx';",
        "import { createFetchHandler, MemoryEventStore, WebhookReceiver } from 'fullenrich-rx/webhooks';",
        "const store = new MemoryEventStore();",
        "const receiver = new WebhookReceiver({ store, apiKeys: ['k'] });",
        "const body = JSON.stringify({ id: 'e1', status: 'FINISHED', data: [{ custom: { crm: '1' }, input: { email: 'a@b.example' } }] });",
        "const signature = createHmac('sha1', 'k').update(body).digest('hex');",
        "const response = await createFetchHandler(receiver)(new Request('http://x/webhook', { method: 'POST', body, headers: { 'x-signature-sha1': signature } }));",
        "console.log(typeof EnrichmentEngine, response.status, await store.head());",
        "await import('pg').then(() => console.log('pg loaded'), () => console.log('pg blocked'));",
      ].join("\n"),
    );
    const handled = await run(process.execPath, ["--import", "./no-addons.mjs", "handle-delivery.mjs"], {
      cwd: project,
    });
    expect(handled.stdout.trim().split("\n")).toEqual(["function 200 1", "pg blocked"]);
  });

  it("runs `fullenrich-rx demo` from the installed package", async () => {
    const project = join(dir, "project");
    const demo = await run(join(project, "node_modules/.bin/fullenrich-rx"), ["demo"], {
      cwd: project,
      timeout: 60_000,
    });
    expect(demo.stdout).toMatch(/contacts \(each exactly once\)\s+50\/50\s+50\/50/);
  });
});
