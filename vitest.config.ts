import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Integration suites share real users and one install; run files one at a time so process
    // and user checks see only their own work.
    fileParallelism: false,
    reporters: ["default"],
  },
});
