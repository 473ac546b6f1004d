import { LocalWindowBudget } from "../../src/api/window-budget.js";
import { describeLimiterContract } from "../support/limiter-contract.js";

// The in-process budget: every handle is the same object (one process shares one budget).
describeLimiterContract("LocalWindowBudget", async ({ limit, windowMs }) => {
  const budget = new LocalWindowBudget(limit, windowMs);
  return { open: async () => budget, cleanup: () => budget.close() };
});
