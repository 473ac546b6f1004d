import { chmodSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { API_KEY_USAGE, resolveApiKey } from "../../src/cli/api-key.js";
import { ENRICH_USAGE } from "../../src/cli/commands/lookup.js";
import { SERVE_USAGE } from "../../src/cli/commands/serve.js";
import type { CliIo } from "../../src/cli/io.js";
import { USAGE } from "../../src/cli/main.js";
import { UsageError } from "../../src/cli/usage-error.js";

const SECRET = "fe_live_0123456789abcdef";
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-key-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv = {}): { io: CliIo; stderr: () => string } {
  const err = new PassThrough();
  let text = "";
  err.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  return {
    io: { stdout: new PassThrough(), stderr: err, env, cwd: dir, signal: new AbortController().signal },
    stderr: () => text,
  };
}

describe("resolveApiKey", () => {
  it("takes --api-key, else the first line of --api-key-file, else FULLENRICH_API_KEY", async () => {
    writeFileSync(join(dir, "key"), `  ${SECRET}  \nsecond line\n`, { mode: 0o600 });
    expect(await resolveApiKey({ "api-key": "flag-key" }, io({ FULLENRICH_API_KEY: "env" }).io)).toBe(
      "flag-key",
    );
    expect(await resolveApiKey({ "api-key-file": "key" }, io({ FULLENRICH_API_KEY: "env" }).io)).toBe(SECRET);
    expect(await resolveApiKey({}, io({ FULLENRICH_API_KEY: " env-key\n" }).io)).toBe("env-key");
    expect(await resolveApiKey({}, io({}).io)).toBeUndefined();
  });

  it("refuses both flags at once, a missing file and an empty one, naming the file and never a key", async () => {
    writeFileSync(join(dir, "empty"), "\n\n", { mode: 0o600 });
    await expect(resolveApiKey({ "api-key": SECRET, "api-key-file": "key" }, io().io)).rejects.toThrow(
      /--api-key or --api-key-file, not both/,
    );
    const missing = resolveApiKey({ "api-key-file": "nowhere" }, io().io);
    await expect(missing).rejects.toBeInstanceOf(UsageError);
    await expect(missing).rejects.toThrow(`--api-key-file: cannot read ${join(dir, "nowhere")} (ENOENT)`);
    await expect(resolveApiKey({ "api-key-file": "empty" }, io().io)).rejects.toThrow(/is empty/);
  });

  it("warns once when the key file can be read by other users, without printing the key", async () => {
    const path = join(dir, "shared-key");
    writeFileSync(path, `${SECRET}\n`);
    chmodSync(path, 0o644);
    const run = io();
    expect(await resolveApiKey({ "api-key-file": "shared-key" }, run.io)).toBe(SECRET);
    expect(await resolveApiKey({ "api-key-file": "shared-key" }, run.io)).toBe(SECRET);
    expect(run.stderr()).toBe(
      `warning: ${path} (the API key) can be read by other local users (mode 0644); make it private with: chmod 600 ${path}\n`,
    );
    expect(run.stderr()).not.toContain(SECRET);
  });
});

describe("the help steers to FULLENRICH_API_KEY and --api-key-file", () => {
  it("says --api-key shows in ps, in every command that takes a key", () => {
    expect(API_KEY_USAGE).toMatch(/--api-key KEY\]\s+avoid: other local users see it in `ps`/);
    expect(API_KEY_USAGE).toMatch(/FULLENRICH_API_KEY \(the recommended way\)/);
    for (const usage of [ENRICH_USAGE, SERVE_USAGE]) {
      expect(usage).toContain(API_KEY_USAGE);
    }
    expect(USAGE).toContain("--api-key-file");
  });
});
