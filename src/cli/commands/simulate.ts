import { once } from "node:events";
import { slowProviderContactMs, startSimulator } from "../../simulator/index.js";
import { flag, parseFlags, port, positiveNumber } from "../flags.js";
import { type CliIo, print } from "../io.js";

export const SIMULATE_USAGE = `fullenrich-rx simulate --port P [--time-scale F] [--api-key KEY] [--host HOST] [--seed N] [--live-shapes]
       [--slow-provider] [--webhooks-never-arrive]

Runs a FullEnrich-compatible API on 127.0.0.1:P (under /api/v2), for tests and demos: bearer auth,
validation errors, 60 calls per minute, contacts finishing 30-90 s after submission, signed webhooks
retried every minute up to 5 times. --time-scale multiplies every duration (0.01: 100 times faster).
--api-key is the key it accepts and signs webhooks with (default: sim-key).
--live-shapes answers the way integrators report the live API does, instead of in the one shape the
documentation shows: null fields, unknown keys, \`datas\` bodies, 200 CREATED/IN_PROGRESS "not yet"
answers, RATE_LIMIT/UNKNOWN/undocumented statuses for a while, some batches canceled, HTML 5xx pages,
402 at zero balance, enrich_fields required, 5 webhook attempts in all, 100 batches running at once.
--slow-provider: each contact takes 60-240 s instead of 30-90 s (scaled by --time-scale).
--webhooks-never-arrive: every webhook is silently swallowed (no refused connection, no retry), as
by a dead tunnel or a firewall.`;

export async function simulateCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    port: { type: "string" },
    host: { type: "string" },
    "time-scale": { type: "string" },
    "api-key": { type: "string" },
    seed: { type: "string" },
    "live-shapes": { type: "boolean" },
    "slow-provider": { type: "boolean" },
    "webhooks-never-arrive": { type: "boolean" },
  });
  const listenPort = flag("port", port, values.port ?? "0");
  const host = values.host ?? "127.0.0.1";
  const timeScale = flag("time-scale", positiveNumber, values["time-scale"] ?? "1");
  let running: Awaited<ReturnType<typeof startSimulator>>;
  try {
    running = await startSimulator({
      port: listenPort,
      host,
      timeScale,
      apiKeys: [values["api-key"] ?? "sim-key"],
      seed: flag("seed", positiveNumber, values.seed ?? "1"),
      profile: values["live-shapes"] === true ? "liveShapes" : "tidy",
      ...(values["slow-provider"] === true ? { contactDurationMs: slowProviderContactMs(timeScale) } : {}),
      ...(values["webhooks-never-arrive"] === true ? { faults: { webhooksNeverArrive: true } } : {}),
    });
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === "EADDRINUSE") {
      throw new Error(
        `cannot listen on ${host}:${listenPort}: the port is already in use; choose another with --port P (or --port 0 for any free one)`,
      );
    }
    throw error;
  }
  const shapes = values["live-shapes"] === true ? " (live shapes)" : "";
  print(io.stdout, `FullEnrich simulator listening on ${running.baseUrl}${shapes}`);
  // The clients must run at the simulator's pace: its time scale is part of the hint.
  print(
    io.stdout,
    `Use it with: --base-url ${running.baseUrl} --api-key ${values["api-key"] ?? "sim-key"} --time-scale ${timeScale}`,
  );
  if (!io.signal.aborted) await once(io.signal, "abort");
  await running.close();
  const counters = running.simulator.counters();
  print(io.stdout, `stopped after ${counters.calls} calls (${counters.enrichmentsCreated} enrichments)`);
  return 0;
}
