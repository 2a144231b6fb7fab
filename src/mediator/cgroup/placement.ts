/**
 * Placement (the effect): with a "cgroup" section, the reaper is started through systemd-run in a
 * transient scope of the user's own systemd manager (scope.ts says why a scope). This module makes
 * sure that manager runs, starting it with `loginctl enable-linger` (self) when it does not, and
 * refuses (NO_USER_MANAGER) when it cannot be had: a capped server or none, never an uncapped one.
 * Imported on use (main.ts): node:child_process costs every kill a few ms to load.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { lstatSync } from "node:fs";
import { SudoSpawnerError } from "../../errors.js";
import { assertTrustedExecutable } from "../../install/executable.js";
import type { Account } from "../../system/account.js";
import { selinuxMode } from "../../system/selinux-mode.js";
import type { Logger } from "../logger.js";
import type { CgroupPolicy, CgroupValues } from "./policy.js";
import { LOGINCTL, SYSTEMD_RUN, managerSocket, cgroupSelinuxModule, scopeArgv, scopeEnv, scopeRefusedMessage, scopeUnitName } from "./scope.js";

/** How long a manager that enable-linger just asked logind for may take to listen (TCG VMs are slow). */
export const MANAGER_WAIT_MS = 15_000;
const LOGINCTL_TIMEOUT_MS = 10_000;

/** How spawn.ts execs the reaper inside a scope: this file, argv around the reaper's, env added. */
export interface ScopeExec {
  unit: string;
  file: string;
  argv: (reaperPath: string, reaperArgv: readonly string[]) => string[];
  /** For systemd-run: where the user's manager listens, computed from the uid, never from the hub. */
  env: (serverEnv: readonly string[]) => string[];
  /** The error when systemd-run exits before the exec (the manager refused the scope). */
  refused: () => string;
}


const ROOT_ONLY = new Set([0]);

function isSocket(file: string): boolean {
  try {
    return lstatSync(file).isSocket();
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function noManager(account: Account, why: string, group: string | undefined): SudoSpawnerError {
  const ruleFix = `as root, once: install polkitd, and where a site rule closes self-linger, \`ts-sudospawner linger-rule --group ${group ?? "GROUP"} --install\` (a polkit rule letting the group's members enable their own linger)`;
  return new SudoSpawnerError(
    "NO_USER_MANAGER",
    `the site policy caps each server in a cgroup of its user's systemd manager, but ${account.name}'s manager is not running (${managerSocket(account.uid)} is missing) and ${why}; nothing was started. Fix: ${ruleFix}, or for this user: \`loginctl enable-linger ${account.name}\``,
  );
}

/** The user's manager is running, or is started by lingering (logind starts user@UID then), or this throws. */
export async function ensureUserManager(account: Account, logger: Logger, options: { waitMs?: number; groupHint?: string } = {}): Promise<void> {
  const socket = managerSocket(account.uid);
  if (isSocket(socket)) return;
  const describe = (uid: number) => `uid ${uid}`;
  assertTrustedExecutable(LOGINCTL, ROOT_ONLY, describe, "loginctl");
  logger.info(`${account.name}'s systemd manager is not running: asking logind to let it linger (loginctl enable-linger)`);
  // Its own uid, named: without an argument logind takes the uid of the caller's login session,
  // and a process started through sudo has none (ENXIO, "No such device or address"). polkit
  // still sees it as the user's own linger (set-self-linger), which the group's rule allows.
  const result = spawnSync(LOGINCTL, ["enable-linger", String(account.uid)], {
    env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
    cwd: "/",
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: LOGINCTL_TIMEOUT_MS,
    killSignal: "SIGKILL",
  });
  if (result.status !== 0) {
    const said = `${result.stderr ?? ""}${result.stdout ?? ""}`.trim().split("\n")[0] ?? "";
    throw noManager(account, `\`loginctl enable-linger\` as ${account.name} was refused (${said || result.error?.message || `status ${String(result.status)}`})`, options.groupHint);
  }
  const deadline = Date.now() + (options.waitMs ?? MANAGER_WAIT_MS);
  while (!isSocket(socket)) {
    if (Date.now() > deadline) throw noManager(account, `it did not start within ${(options.waitMs ?? MANAGER_WAIT_MS) / 1000} s of \`loginctl enable-linger\``, options.groupHint);
    await sleep(100);
  }
  logger.info(`${account.name}'s systemd manager is running (lingering from now on)`);
}

/** Audit systemd-run, make sure the manager runs, and say how the reaper is to be started in a scope. */
export async function prepareScope(cgroup: CgroupPolicy, caps: CgroupValues, account: Account, logger: Logger, packageRoot: string): Promise<ScopeExec> {
  const file = assertTrustedExecutable(SYSTEMD_RUN, ROOT_ONLY, (uid) => `uid ${uid}`, "systemd-run");
  await ensureUserManager(account, logger);
  const unit = scopeUnitName(account.uid, randomBytes(6).toString("hex"));
  return {
    unit,
    file,
    argv: (reaperPath, reaperArgv) => scopeArgv({ unit, caps, oomPolicy: cgroup.oomPolicy, reaperPath, reaperArgv }),
    env: (serverEnv) => scopeEnv(serverEnv, account.uid),
    refused: () => scopeRefusedMessage(unit, selinuxMode() === "enforcing", cgroupSelinuxModule(packageRoot)),
  };
}
