import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { SIMULATE_USAGE, simulateCommand } from "../../src/cli/commands/simulate.js";

/** Runs `fullenrich-rx simulate` in-process until `use` is done with its base URL, then stops it. */
async function withSimulate(args: string[], use: (baseUrl: string) => Promise<void>): Promise<string> {
  const stdout = new PassThrough();
  let text = "";
  stdout.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  const controller = new AbortController();
  const io = { stdout, stderr: new PassThrough(), env: {}, cwd: process.cwd(), signal: controller.signal };
  const done = simulateCommand(["--port", "0", "--time-scale", "0.01", ...args], io);
  while (!/listening on (\S+)/.test(text)) await new Promise((resolve) => setTimeout(resolve, 5));
  try {
    await use(/listening on (\S+)/.exec(text)?.[1] as string);
  } finally {
    controller.abort();
    expect(await done).toBe(0);
  }
  return text;
}

const bare = { name: "n", data: [{ first_name: "Ada", last_name: "Lovelace", domain: "example.com" }] };

async function post(baseUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}/contact/enrich/bulk`, {
    method: "POST",
    headers: { authorization: "Bearer sim-key", "content-type": "application/json" },
    body: JSON.stringify(bare),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("fullenrich-rx simulate", () => {
  it("answers in the tidy shape by default, and the live API's way with --live-shapes", async () => {
    const tidy = await withSimulate([], async (baseUrl) => {
      expect((await post(baseUrl)).status).toBe(200);
    });
    expect(tidy).not.toContain("live shapes");
    const live = await withSimulate(["--live-shapes"], async (baseUrl) => {
      expect(await post(baseUrl)).toEqual({
        status: 400,
        body: { code: "error.enrichment.enrich_fields.empty", message: "enrichFields cannot be empty" },
      });
    });
    expect(live).toMatch(/listening on \S+ \(live shapes\)/);
  });

  it("says what --live-shapes does in its help", () => {
    expect(SIMULATE_USAGE).toMatch(/\[--live-shapes\]/);
    expect(SIMULATE_USAGE).toMatch(/`datas` bodies/);
  });
});
