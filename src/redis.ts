/**
 * `fullenrich-rx/redis`: what several instances share through Redis — one rate-limit budget for the
 * account (`createRedisCallLimiter`, a client's `limiter`) and the poll leases (`RedisPollLeases`,
 * the engine's `leases`). Needs the `ioredis` package (an optional peer dependency:
 * `npm install ioredis`).
 *
 * @module fullenrich-rx/redis
 */
export {
  createRedisCallLimiter,
  type RedisCallLimiterOptions,
  RedisWindowBudget,
  type RedisWindowBudgetClientOptions,
  type RedisWindowBudgetOptions,
} from "./api/redis-window-budget.js";
export { RedisPollLeases, type RedisPollLeasesOptions } from "./engine/redis-poll-leases.js";
