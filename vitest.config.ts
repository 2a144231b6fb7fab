import { defineConfig } from "vitest/config";
import RunSequencer from "./test/sequencer.js";

export default defineConfig({
  test: {
    reporters: ["default"],
    sequence: { sequencer: RunSequencer },
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          // Real processes (the native addon, the reaper, fake sudo tools, bundles), no root.
          name: "process",
          include: ["test/process/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          // Real sudo, real users, one shared install: see test/global-setup.ts. The VM tier
          // (test/vm) has a config of its own: vitest.vm.config.ts.
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Suites share real users and one install; one file at a time keeps process and user
          // checks about their own work.
          fileParallelism: false,
        },
      },
    ],
  },
});
