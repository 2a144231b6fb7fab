/**
 * The VM tier's own run setup (vitest.vm.config.ts): the packed ts-sudospawner its guest installs.
 * `npm test` (scripts/test/test-all.mjs) packs once for the whole run and passes the tarball in
 * TSSS_TEST_TARBALL, so that this tier can boot beside the other suites; alone, it packs for
 * itself. The tier touches no host user, sudoers file or /usr/local/bin/node, so it takes no run
 * lock. Without root it skips loudly (with CI set it fails: test/helpers/prerequisites.ts).
 */
import fs from "node:fs";
import type { TestProject } from "vitest/node";
import "vitest";
import { packTarball } from "../helpers/install.js";
import { rootUnavailableReason } from "../helpers/system.js";

export interface VmFixture {
  available: boolean;
  reason: string;
  tarball: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    vmFixture: VmFixture;
  }
}

export default function setup(project: TestProject): () => void {
  const reason = rootUnavailableReason();
  if (reason !== undefined) {
    // The test file announces the skip (or fails under CI) with this reason.
    project.provide("vmFixture", { available: false, reason, tarball: "" });
    return () => undefined;
  }
  const given = process.env.TSSS_TEST_TARBALL;
  if (given) {
    if (!fs.existsSync(given)) throw new Error(`TSSS_TEST_TARBALL=${given} does not exist`);
    project.provide("vmFixture", { available: true, reason: "", tarball: given });
    return () => undefined;
  }
  process.stderr.write("vm tier setup: packing ts-sudospawner (npm pack)...\n");
  const dir = fs.mkdtempSync("/tmp/tsss-vm-pack-");
  project.provide("vmFixture", { available: true, reason: "", tarball: packTarball(dir) });
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
