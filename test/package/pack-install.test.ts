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
        "import { EnrichmentEngine, FullEnrichClient, startSimulator } from 'fullenrich-rx'; console.log(typeof EnrichmentEngine, typeof FullEnrichClient, typeof startSimulator);",
      ],
      { cwd: project },
    );
    expect(esm.stdout.trim()).toBe("function function function");
    const cjs = await run(
      process.execPath,
      ["-e", "const { EnrichmentEngine } = require('fullenrich-rx'); console.log(typeof EnrichmentEngine);"],
      { cwd: project },
    );
    expect(cjs.stdout.trim()).toBe("function");
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
