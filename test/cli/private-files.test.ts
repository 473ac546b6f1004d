import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ResultWriter } from "../../src/cli/result-writer.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "fxr-private-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe("--out is private by default", () => {
  it("a new file is created 0600, in directories created 0700", async () => {
    const out = join(dir, "reports", "2026", "out.jsonl");
    chmodSync(dir, 0o755);
    const warnings: string[] = [];
    const writer = await ResultWriter.open(out, "jsonl", "enrich", [], (line) => warnings.push(line));
    await writer.close();
    expect(modeOf(out)).toBe(0o600);
    expect(modeOf(join(dir, "reports"))).toBe(0o700);
    expect(modeOf(join(dir, "reports", "2026"))).toBe(0o700);
    // The directory that already existed keeps its mode.
    expect(modeOf(dir)).toBe(0o755);
    expect(warnings).toEqual([]);
  });

  it("an existing file readable by others keeps its mode and gets one warning naming the chmod", async () => {
    const out = join(dir, "shared results.csv");
    writeFileSync(out, "old content\n");
    chmodSync(out, 0o644);
    const warnings: string[] = [];
    for (let run = 0; run < 2; run++) {
      const writer = await ResultWriter.open(out, "csv", "enrich", [], (line) => warnings.push(line));
      await writer.close();
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBe(
      `warning: ${out} (contact results, personal data) can be read by other local users (mode 0644); make it private with: chmod 600 '${out}'`,
    );
    expect(modeOf(out)).toBe(0o644);
    // Truncated and written as usual.
    expect(await readFile(out, "utf8")).toMatch(/^enrichment_id,contact_key,/);
  });

  it("an existing private file and an existing directory give no warning", async () => {
    mkdirSync(join(dir, "out"), { mode: 0o755 });
    const out = join(dir, "out", "private.jsonl");
    writeFileSync(out, "", { mode: 0o600 });
    const warnings: string[] = [];
    const writer = await ResultWriter.open(out, "jsonl", "reverse", [], (line) => warnings.push(line));
    await writer.close();
    expect(warnings).toEqual([]);
    expect(modeOf(join(dir, "out"))).toBe(0o755);
  });
});
