/**
 * Once per test run, as root: pack and install the package into a root-owned prefix, create the
 * hub user and two spawnable users (one with a dot in its name) in one group, and write the
 * sudoers rule. Torn down at the end. Without root (or sudo, useradd) a local run says why and the
 * root suites skip loudly; with CI set the run fails here, at once (test/helpers/prerequisites.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { TestProject } from "vitest/node";
import "vitest";
import { installDemoSingleUser, installTarball, packTarball } from "./helpers/install.js";
import {
  ensureGroup,
  ensureUser,
  installSudoers,
  removeGroup,
  removeSudoers,
  removeUser,
  rootUnavailableReason,
} from "./helpers/system.js";
import { acquireRunLock } from "./helpers/run-lock.js";
import { removeLeftovers } from "./helpers/leftovers.js";
import { createVenvRoot } from "./helpers/hub/venvs.js";
import { putTestNodeOnPath } from "./helpers/node-under-test.js";
import { skipWithout } from "./helpers/prerequisites.js";

export const FIXTURE = {
  prefix: "/opt/tsss-test",
  group: "tsss-jupyter",
  hub: "tsss-hub",
  users: ["tsss-alice", "tsss-b.ob"],
  outsider: "tsss-eve",
  sudoersName: "tsss-test",
} as const;

export interface RootFixture {
  available: boolean;
  reason: string;
  prefix: string;
  mediator: string;
  binDir: string;
  packageDir: string;
  hub: string;
  users: string[];
  outsider: string;
  group: string;
  /** The packed ts-sudospawner tarball, for suites that install their own prefix. */
  tarball: string;
  /** The run's directory of JupyterHub venvs, shared by every file (test/helpers/hub/venvs.ts). */
  venvRoot: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    rootFixture: RootFixture;
  }
}

function sudoersRule(mediator: string): string {
  return [
    "# ts-sudospawner test rule (removed after the test run)",
    `Cmnd_Alias TSSS_TEST_MEDIATOR = ${mediator}`,
    `Defaults:${FIXTURE.hub} !requiretty`,
    `${FIXTURE.hub} ALL=(%${FIXTURE.group}) NOPASSWD: TSSS_TEST_MEDIATOR`,
    "",
  ].join("\n");
}

const VENV_PREFIX = "/tmp/tsss-venvs-";

function teardown(): void {
  // The venv directories of this run, or of an interrupted one (the run lock makes them ours).
  for (const entry of fs.readdirSync("/tmp")) {
    if (entry.startsWith(path.basename(VENV_PREFIX))) fs.rmSync(path.join("/tmp", entry), { recursive: true, force: true });
  }
  removeSudoers(FIXTURE.sudoersName);
  for (const user of [...FIXTURE.users, FIXTURE.hub, FIXTURE.outsider]) removeUser(user);
  removeGroup(FIXTURE.group);
  fs.rmSync(FIXTURE.prefix, { recursive: true, force: true });
}

export default function setup(project: TestProject): () => void {
  const base = {
    prefix: FIXTURE.prefix,
    mediator: `${FIXTURE.prefix}/bin/ts-sudospawner`,
    binDir: `${FIXTURE.prefix}/bin`,
    packageDir: `${FIXTURE.prefix}/lib/node_modules/ts-sudospawner`,
    hub: FIXTURE.hub,
    users: [...FIXTURE.users],
    outsider: FIXTURE.outsider,
    group: FIXTURE.group,
    tarball: "",
    venvRoot: "",
  };
  const reason = rootUnavailableReason();
  if (skipWithout("every root integration and e2e suite", reason)) {
    project.provide("rootFixture", { ...base, available: false, reason: reason as string });
    return () => undefined;
  }
  const releaseLock = acquireRunLock();
  let restoreNode: () => void;
  try {
    // First, before any sudo: a leftover PAM line would act on the next sudo call (a pam_mkhomedir
    // line made /nonexistent for `sudo -u nobody` below).
    const leftovers = removeLeftovers();
    if (leftovers.length > 0) process.stderr.write(`test setup: removed what an interrupted run left: ${leftovers.join(", ")}\n`);
    // The Node 20/22/24 matrix: the installed mediator must run on the node these tests run on.
    restoreNode = putTestNodeOnPath();
  } catch (error) {
    releaseLock();
    throw error;
  }
  try {
    teardown();
    process.stderr.write("test setup: packing and installing ts-sudospawner into /opt/tsss-test (npm pack builds the prebuilt native parts; the install uses them)...\n");
    // npm test (scripts/test/test-all.mjs) packs once for the run and its VM tier.
    const tarball = process.env.TSSS_TEST_TARBALL || packTarball("/tmp/tsss-pack");
    const installation = installTarball(tarball, FIXTURE.prefix);
    installDemoSingleUser(installation);
    ensureGroup(FIXTURE.group);
    ensureUser(FIXTURE.hub);
    for (const user of FIXTURE.users) ensureUser(user, { groups: [FIXTURE.group] });
    ensureUser(FIXTURE.outsider);
    installSudoers(FIXTURE.sudoersName, sudoersRule(installation.mediator));
    const venvRoot = createVenvRoot(VENV_PREFIX);
    process.stderr.write("test setup: done\n");
    project.provide("rootFixture", { ...base, tarball, venvRoot, available: true, reason: "" });
  } catch (error) {
    teardown();
    restoreNode();
    releaseLock();
    throw error;
  }
  return () => {
    teardown();
    restoreNode();
    releaseLock();
  };
}
