import { defineConfig } from "vitest/config";
import { generousLimits } from "./tests/support/limits.ts";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/support/global-setup.ts"],
    // Apps the tests start themselves read the environment: give them the suite's limits too.
    env: generousLimits,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files sign up their own orgs, so they can run side by side.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
