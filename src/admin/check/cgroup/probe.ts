/**
 * The cgroup rows of `ts-sudospawner check`, effects: read the site policy, /proc/self/mountinfo,
 * `systemctl show user@UID.service`, the user's manager socket, and ask polkit with pkcheck as the
 * user; with --spawn, read the check server's cgroup while it runs. cgroup/rows.ts judges.
 *
 * Why pkcheck: `loginctl enable-linger` would answer the same question by changing the host (the
 * user would linger from then on). pkcheck asks polkitd for the same action, as the user, from a
 * process with no login session (setpriv, no PAM), which is how the mediator's loginctl is seen;
 * so it reads the site's rules as polkitd does, rules.d order included, and changes nothing.
 */
import fs from "node:fs";
import { errorMessage } from "../../../errors.js";
import { loadPolicy } from "../../../mediator/policy-file.js";
import type { CgroupPolicy } from "../../../mediator/cgroup/policy.js";
import { managerSocket } from "../../../mediator/cgroup/scope.js";
import { LINGER_RULE_PATH, SET_SELF_LINGER } from "../../linger/rule.js";
import { readTextIfPresent, runCommand } from "../../host/commands.js";
import type { CheckRow } from "../report.js";
import type { CheckSubject } from "../subject.js";
import {
  cgroupOffRow,
  cgroupPolicyErrorRow,
  judgeCgroupV2,
  judgeDelegation,
  judgePlacement,
  judgeUserManager,
  lingerRuleGroup,
  neededControllers,
  skippedPlacementRow,
  spawnableGroup,
  unifiedCgroup,
  type ManagerFacts,
  type PlacementFacts,
} from "./rows.js";

/** Where polkitd lives on Debian/Ubuntu and on RHEL/Fedora; its package ships pkcheck. */
const POLKITD = ["/usr/lib/polkit-1/polkitd", "/usr/libexec/polkitd"];
const PKCHECK = "/usr/bin/pkcheck";

function isSocket(file: string): boolean {
  try {
    return fs.lstatSync(file).isSocket();
  } catch {
    return false;
  }
}

/** The site policy's cgroup section and its profiles' values; undefined when the section is absent. */
export type CgroupSetting = { kind: "off" } | { kind: "error"; message: string } | { kind: "on"; policy: CgroupPolicy; profiles: CgroupPolicy["default"][] };

export function cgroupSetting(): CgroupSetting {
  try {
    const policy = loadPolicy();
    if (policy.cgroup === undefined) return { kind: "off" };
    return { kind: "on", policy: policy.cgroup, profiles: Object.values(policy.profiles).flatMap((profile) => (profile.cgroup === undefined ? [] : [profile.cgroup])) };
  } catch (error) {
    return { kind: "error", message: errorMessage(error) };
  }
}

function managerFacts(s: CheckSubject): ManagerFacts {
  if (!s.asRoot) return { kind: "not-root" };
  if (isSocket(managerSocket(s.user.uid))) return { kind: "running" };
  if (!POLKITD.some((file) => fs.existsSync(file))) return { kind: "no-polkitd" };
  if (!fs.existsSync(PKCHECK)) return { kind: "no-pkcheck" };
  // pkcheck checks itself ($$ is its pid after exec): a caller may always ask about its own process.
  const result = runCommand(
    "setpriv",
    [`--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, "--init-groups", "--", "/bin/sh", "-c", `exec ${PKCHECK} --action-id ${SET_SELF_LINGER} --process $$`],
    { timeoutMs: 15_000 },
  );
  return { kind: "pkcheck", status: result.status, output: `${result.stderr}\n${result.stdout}${result.failure ?? ""}` };
}

/** The group for the fix: the installed linger rule's (polkit's own input), else the hub's sudoers rule's. */
function fixGroup(s: CheckSubject): string | undefined {
  const text = readTextIfPresent(LINGER_RULE_PATH);
  const fromRule = text === undefined ? undefined : lingerRuleGroup(text);
  if (fromRule !== undefined || s.listing === undefined) return fromRule;
  const groups = runCommand("id", ["-Gn", "--", s.user.name]).stdout.trim().split(/\s+/).filter(Boolean);
  return spawnableGroup(s.listing, s.mediator.path, groups);
}

/** Read while the check's server runs (check/spawn.ts calls it before stopping it). */
export function observePlacement(pid: number): PlacementFacts {
  const cgroup = unifiedCgroup(readTextIfPresent(`/proc/${pid}/cgroup`) ?? "");
  if (cgroup === undefined) return { pid };
  const file = (name: string) => readTextIfPresent(`/sys/fs/cgroup${cgroup}/${name}`)?.trim();
  const facts: PlacementFacts = { pid, cgroup };
  const [memoryMax, cpuMax, pidsMax] = [file("memory.max"), file("cpu.max"), file("pids.max")];
  if (memoryMax !== undefined) facts.memoryMax = memoryMax;
  if (cpuMax !== undefined) facts.cpuMax = cpuMax;
  if (pidsMax !== undefined) facts.pidsMax = pidsMax;
  return facts;
}

/**
 * Rows 1-3 (the host and the user's manager). run.ts takes them before the spawn row, which may
 * itself start the manager: row 3 must say whether the hub's first spawn can have it.
 */
export function checkCgroupHost(s: CheckSubject, policy: CgroupPolicy, profiles: readonly CgroupPolicy["default"][], progress: (activity: string) => void): CheckRow[] {
  const rows = [judgeCgroupV2(readTextIfPresent("/proc/self/mountinfo"))];
  const unit = `user@${s.user.uid}.service`;
  progress(`systemctl show ${unit} -p Delegate -p DelegateControllers`);
  const show = runCommand("systemctl", ["show", unit, "-p", "Delegate", "-p", "DelegateControllers"], { timeoutMs: 15_000 });
  rows.push(judgeDelegation(unit, { status: show.status, stdout: show.stdout, stderr: `${show.stderr}${show.failure ?? ""}` }, neededControllers(policy, profiles)));
  progress(`asking polkit (pkcheck as ${s.user.name}) whether ${s.user.name} may enable their own linger`);
  rows.push(judgeUserManager(s.user, managerFacts(s), fixGroup(s)));
  return rows;
}

/** Row 4: without --spawn (`spawn` undefined) a skip; else the server's cgroup, or the spawn row's failure. */
export function checkCgroupPlacement(s: CheckSubject, policy: CgroupPolicy, spawn: { row: CheckRow; placement?: PlacementFacts } | undefined): CheckRow {
  return spawn === undefined ? skippedPlacementRow() : judgePlacement(s.user, policy, spawn.placement, spawn.row);
}

export { cgroupOffRow, cgroupPolicyErrorRow };
