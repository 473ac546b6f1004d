// The README is tested: its set-up commands name scripts that exist, and its quick start
// type-checks as written and runs against the simulator.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.js";
import { runNode } from "../support/cli-process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const KEY = "readme-key";

/** The fenced code blocks of a Markdown file with the given language tag, in order. */
function codeBlocks(markdown: string, language: string): string[] {
  const fence = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, "gm");
  return [...markdown.matchAll(fence)].map((match) => match[1] ?? "");
}

/** `npm run NAME` (and `npm test`) mentioned anywhere in a Markdown file. */
function npmScripts(markdown: string): string[] {
  const names = [...markdown.matchAll(/\bnpm run ([\w:-]+)/g)].map((match) => match[1] ?? "");
  if (/\bnpm test\b/.test(markdown)) names.push("test");
  return [...new Set(names)];
}

let readme: string;
let quickStart: string;
let dir: string;
let sim: RunningSimulator;

beforeAll(async () => {
  readme = await readFile(join(ROOT, "README.md"), "utf8");
  quickStart = codeBlocks(readme, "ts")[0] ?? "";
  // A project that depends on fullenrich-rx: the package is linked in as npm would install it.
  dir = await mkdtemp(join(tmpdir(), "fxr-readme-"));
  await mkdir(join(dir, "node_modules"));
  await symlink(ROOT, join(dir, "node_modules", "fullenrich-rx"), "dir");
  await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  sim = await startSimulator({ apiKeys: [KEY], timeScale: 0.01, seed: 3 });
});
afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("README", () => {
  it("names only npm scripts that exist, the two set-up commands among them", async () => {
    const scripts = Object.keys(
      (JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
        .scripts,
    );
    const setUp = codeBlocks(readme, "sh")[0] ?? "";
    expect(setUp).toMatch(/npm ci && npm run demo/);
    expect(setUp).toMatch(/npm ci && npm test/);
    const developers = await readFile(join(ROOT, "DEVELOPERS.md"), "utf8");
    for (const name of [...npmScripts(readme), ...npmScripts(developers)]) {
      expect(scripts, `npm run ${name}`).toContain(name);
    }
  });

  it("quick start type-checks as written, importing the built package", async () => {
    expect(quickStart).toMatch(/from "fullenrich-rx"/);
    const file = join(dir, "quick-start.ts");
    await writeFile(file, quickStart);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
      skipLibCheck: true,
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    expect(problems).toEqual([]);
  }, 60_000);

  it("quick start runs against the simulator and prints the contact, then the summary", async () => {
    // The one change: the client points at the simulator, at its time scale.
    const call = "new FullEnrichClient({ apiKey: process.env.FULLENRICH_API_KEY! })";
    expect(quickStart).toContain(call);
    const source = quickStart.replace(
      call,
      "new FullEnrichClient({ apiKey: process.env.FULLENRICH_API_KEY!, baseUrl: process.env.FULLENRICH_BASE_URL, timeScale: 0.01 })",
    );
    const js = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    }).outputText;
    await writeFile(join(dir, "quick-start.mjs"), js);
    const result = await runNode("quick-start.mjs", [], {
      cwd: dir,
      timeoutMs: 45_000,
      env: { FULLENRICH_API_KEY: KEY, FULLENRICH_BASE_URL: sim.baseUrl },
    });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split("\n");
    // The result line: the contact key, then the email (the simulator's Ada Lovelace at example.com).
    expect(lines[0]).toMatch(/^\S+ (\S+@\S+|undefined)$/);
    expect(result.stdout).toMatch(/resolved: 1/);
    expect(result.stdout).toMatch(/total: 1/);
    expect(sim.simulator.enrichments()).toHaveLength(1);
  }, 60_000);
});
