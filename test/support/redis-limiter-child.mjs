// A child process for the Redis rate-limit tests. Plain ESM on purpose: it imports the COMPILED
// limiter from dist/ (the test command builds first), so no TypeScript loader is needed.
//
//   node redis-limiter-child.mjs calls <url> <keyPrefix> <limit> <windowMs> <maxCallMs> <count> <seed>
//     connects, says "ready" and waits for "go" on the IPC channel, runs <count> calls of 0-30 ms
//     through createRedisCallLimiter, and prints one JSON line {spans: [{start, end}]}.
//   node redis-limiter-child.mjs hold <url> <keyPrefix> <limit> <windowMs> <maxCallMs> <count>
//     connects, then takes <count> slots and prints {askedAt, taken}; keeps them (renewing their
//     leases) until it is killed.
import { createRedisCallLimiter, RedisWindowBudget } from "../../dist/redis.js";

const [mode, url, keyPrefix, limitText, windowText, maxCallText, countText, seedText] = process.argv.slice(2);
const settings = {
  url,
  keyPrefix,
  limit: Number(limitText),
  windowMs: Number(windowText),
  maxCallMs: Number(maxCallText),
};
const count = Number(countText);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForGo() {
  return new Promise((resolve) => {
    process.on("message", (message) => {
      if (message === "go") resolve();
    });
    process.send("ready");
  });
}

async function calls() {
  const limiter = await createRedisCallLimiter(settings);
  await waitForGo();
  const seed = Number(seedText);
  const spans = [];
  await Promise.all(
    Array.from({ length: count }, (_, n) =>
      limiter.run(async () => {
        const start = Date.now();
        await sleep(((n + 1) * (seed * 7 + 13)) % 31);
        spans.push({ start, end: Date.now() });
      }),
    ),
  );
  await limiter.stop();
  process.stdout.write(`${JSON.stringify({ spans })}\n`);
}

async function hold() {
  const budget = await RedisWindowBudget.connect(settings);
  const askedAt = Date.now();
  let taken = 0;
  for (let i = 0; i < count; i += 1) if ((await budget.tryTake()).taken) taken += 1;
  process.stdout.write(`${JSON.stringify({ askedAt, taken })}\n`);
  await sleep(600_000);
}

const run = mode === "calls" ? calls : mode === "hold" ? hold : undefined;
if (run === undefined) {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
run().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
