import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    pool: "forks",
    // Most files wait on timers, child processes and sockets, not the CPU: more than one per core.
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    restoreMocks: true,
    setupFiles: ["test/support/setup.ts"],
  },
});
