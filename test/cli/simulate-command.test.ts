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

  it("its hint gives every flag a client needs to use it, --time-scale included", async () => {
    const text = await withSimulate([], async () => {});
    expect(text).toMatch(
      /Use it with: --base-url http:\/\/127\.0\.0\.1:\d+\/api\/v2 --api-key sim-key --time-scale 0\.01\n/,
    );
  });

  it("a busy port: a message that says to choose another --port, not a raw EADDRINUSE", async () => {
    await withSimulate([], async (baseUrl) => {
      const busy = new URL(baseUrl).port;
      const io = {
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        env: {},
        cwd: process.cwd(),
        signal: new AbortController().signal,
      };
      await expect(simulateCommand(["--port", busy], io)).rejects.toThrow(
        new RegExp(
          `^cannot listen on 127\\.0\\.0\\.1:${busy}: the port is already in use; choose another with --port P`,
        ),
      );
    });
  });

  it("says what --live-shapes does in its help", () => {
    expect(SIMULATE_USAGE).toMatch(/\[--live-shapes\]/);
    expect(SIMULATE_USAGE).toMatch(/`datas` bodies/);
  });
});
