import { defineConfig } from "vitest/config";

/**
 * The VM tier (test/vm): one qemu boot of a real systemd host with cgroup v2 for all its checks.
 * A config of its own so that `npm test` (scripts/test/test-all.mjs) can run it beside the other
 * suites, at a lower CPU priority: it needs only a packed tarball, no host users or run lock.
 * Alone: `npx vitest run -c vitest.vm.config.ts` (as root).
 */
export default defineConfig({
  test: {
    reporters: ["default"],
    projects: [
      {
        test: {
          name: "vm",
          include: ["test/vm/**/*.test.ts"],
          globalSetup: ["test/vm/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
