/**
 * The cgroup rows of `ts-sudospawner check`, judged from what was probed (pure): the mount at
 * /sys/fs/cgroup, what user@UID.service delegates, whether the user's manager can be had, and with
 * --spawn where the server landed and which caps cgroupfs shows there. cgroup/probe.ts gathers
 * the facts; every verdict here can be unit-tested from fixture text.
 */
import { POLICY_PATH } from "../../../install/layout.js";
import { CGROUP_PROPERTY_NAMES, effectiveCaps, type CgroupPolicy, type CgroupPropertyName, type CgroupValues } from "../../../mediator/cgroup/policy.js";
import { managerSocket } from "../../../mediator/cgroup/scope.js";
import { LINGER_RULE_PATH, SET_SELF_LINGER } from "../../linger/rule.js";
import type { Account } from "../../../system/account.js";
import { parseLongListing, unquoteListedName } from "../../host/sudo-listing.js";
import type { CheckRow } from "../report.js";

export const CGROUP_ROW_IDS = { off: "cgroup", v2: "cgroup-v2", delegation: "cgroup-delegation", manager: "cgroup-user-manager", placement: "cgroup-placement" } as const;

const LIMITS_DOC = "docs/admin-guide.md §14 (Limits)";

export function cgroupOffRow(): CheckRow {
  return { id: CGROUP_ROW_IDS.off, title: "cgroup limits", status: "pass", detail: `off (no "cgroup" section in ${POLICY_PATH})`, fix: "" };
}

/** The policy could not be read or is invalid: the mediator refuses every spawn then, so this fails. */
export function cgroupPolicyErrorRow(message: string): CheckRow {
  return { id: CGROUP_ROW_IDS.off, title: "cgroup limits", status: "fail", detail: `could not read the site policy: ${message}`, fix: `fix the site policy ${POLICY_PATH} as the message says` };
}

// ---------------------------------------------------------------------------------------------
// 1. cgroup v2

/** The filesystem type mounted at `mountPoint` in mountinfo text (the last mount there wins), or undefined. */
export function mountType(mountinfo: string, mountPoint: string): string | undefined {
  let found: string | undefined;
  for (const line of mountinfo.split("\n")) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
    const [before, after] = line.split(" - ");
    if (before === undefined || after === undefined) continue;
    const point = before.split(" ")[4];
    if (point === mountPoint) found = after.split(" ")[0];
  }
  return found;
}

export function judgeCgroupV2(mountinfo: string | undefined): CheckRow {
  const row = { id: CGROUP_ROW_IDS.v2, title: "cgroup v2 at /sys/fs/cgroup" };
  const fix =
    "boot with the unified hierarchy: add systemd.unified_cgroup_hierarchy=1 to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot; the caps need cgroup v2";
  if (mountinfo === undefined) return { ...row, status: "fail", detail: "could not read /proc/self/mountinfo", fix };
  const type = mountType(mountinfo, "/sys/fs/cgroup");
  if (type === "cgroup2") return { ...row, status: "pass", detail: "cgroup2 is mounted at /sys/fs/cgroup (/proc/self/mountinfo)", fix: "" };
  const hybrid = mountType(mountinfo, "/sys/fs/cgroup/unified") === "cgroup2";
  const what = type === undefined ? "nothing is mounted at /sys/fs/cgroup" : `/sys/fs/cgroup is ${type}${hybrid ? " with cgroup2 only at /sys/fs/cgroup/unified (hybrid)" : " (cgroup v1)"}`;
  return { ...row, status: "fail", detail: `${what}, per /proc/self/mountinfo; systemd cannot cap a server's memory, CPU and tasks there`, fix };
}

// ---------------------------------------------------------------------------------------------
// 2. delegation

/** The controllers each cap needs in the user's manager. */
const CONTROLLER_OF: Record<CgroupPropertyName, string> = {
  MemoryMax: "memory",
  MemoryHigh: "memory",
  MemorySwapMax: "memory",
  CPUQuota: "cpu",
  CPUWeight: "cpu",
  TasksMax: "pids",
};

/** The controllers the policy's caps need (any default, max or profile value names one), sorted. */
export function neededControllers(policy: CgroupPolicy, profiles: readonly (CgroupValues | undefined)[] = []): string[] {
  const needed = new Set<string>();
  for (const values of [policy.default, policy.max, ...profiles]) {
    for (const name of CGROUP_PROPERTY_NAMES) if (values?.[name] !== undefined) needed.add(CONTROLLER_OF[name]);
  }
  return [...needed].sort();
}

/** `systemctl show -p Delegate -p DelegateControllers` output, as name → value. */
export function parseShow(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return fields;
}

export interface ShowResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function judgeDelegation(unit: string, show: ShowResult, needed: readonly string[]): CheckRow {
  const row = { id: CGROUP_ROW_IDS.delegation, title: "controllers delegated to user@.service" };
  const dropIn = `/etc/systemd/system/user@.service.d/delegate.conf with "[Service]\\nDelegate=${needed.join(" ") || "pids memory cpu"}", then systemctl daemon-reload (a running manager gets it at its next start)`;
  if (show.status !== 0) {
    const said = `${show.stderr}${show.stdout}`.trim().split("\n")[0] ?? "";
    return { ...row, status: "fail", detail: `\`systemctl show ${unit}\` failed (${said || `status ${String(show.status)}`}): is systemd PID 1 here?`, fix: `run ts-sudospawner on a host booted with systemd; then, if this row still fails, write ${dropIn}` };
  }
  const fields = parseShow(show.stdout);
  const delegated = (fields.DelegateControllers ?? "").split(/\s+/).filter(Boolean);
  const missing = needed.filter((controller) => fields.Delegate !== "yes" || !delegated.includes(controller));
  const said = `Delegate=${fields.Delegate ?? "(none)"}, DelegateControllers=${delegated.join(" ") || "(none)"}`;
  if (missing.length === 0) return { ...row, status: "pass", detail: `${unit}: ${said}; the policy's caps need ${needed.join(", ") || "none"}`, fix: "" };
  return { ...row, status: "fail", detail: `${unit}: ${said}; the policy's caps need ${missing.join(", ")} too, so its user's manager cannot set them`, fix: `write ${dropIn}` };
}

// ---------------------------------------------------------------------------------------------
// 3. the user's manager

export type ManagerFacts =
  | { kind: "running" }
  | { kind: "not-root" }
  | { kind: "no-polkitd" }
  | { kind: "no-pkcheck" }
  /** pkcheck as the user, with no session and no agent, the way the mediator's loginctl asks. */
  | { kind: "pkcheck"; status: number | null; output: string };

/** The group named by the installed linger rule (`subject.isInGroup("G")`), when it is ours. */
export function lingerRuleGroup(ruleText: string): string | undefined {
  const match = /subject\.isInGroup\(("(?:[^"\\]|\\.)*")\)/.exec(ruleText);
  if (!match?.[1]) return undefined;
  try {
    const group: unknown = JSON.parse(match[1]);
    return typeof group === "string" ? group : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The group for linger-rule's fix when no rule names it: a `%group` the hub may run the mediator
 * as (sudo -ll -U HUB) that the user is in, the group the sudoers rule was written for.
 */
export function spawnableGroup(listing: string, mediator: string, userGroups: readonly string[]): string | undefined {
  for (const rule of parseLongListing(listing).rules) {
    if (!rule.commands.some((command) => command.split(" ")[0] === mediator)) continue;
    for (const entry of rule.runAsUsers) {
      const name = unquoteListedName(entry);
      if (name.startsWith("%") && !name.startsWith("%#") && userGroups.includes(name.slice(1))) return name.slice(1);
    }
  }
  return undefined;
}

export function judgeUserManager(user: Pick<Account, "name" | "uid">, facts: ManagerFacts, group: string | undefined): CheckRow {
  const row = { id: CGROUP_ROW_IDS.manager, title: `${user.name}'s systemd manager can be had` };
  const socket = managerSocket(user.uid);
  const ruleFix = `as root, once: \`ts-sudospawner linger-rule --group ${group ?? "GROUP"} --install\` (members of the group may then enable their own linger)`;
  const lingerFix = `or for this user alone: \`loginctl enable-linger ${user.name}\``;
  switch (facts.kind) {
    case "running":
      return { ...row, status: "pass", detail: `running: ${socket} is a socket`, fix: "" };
    case "not-root":
      return { ...row, status: "skip", detail: `needs root: ${socket} is not visible to the hub, and polkit is asked as ${user.name}`, fix: "run check as root for this row" };
    case "no-polkitd":
      return {
        ...row,
        status: "fail",
        detail: `not running (${socket} is missing), and polkitd is not installed, so logind refuses ${user.name}'s own \`loginctl enable-linger\`: the first spawn would be refused (NO_USER_MANAGER)`,
        fix: `as root: \`apt-get install polkitd\`; where the site's polkit rules close self-linger, also ${ruleFix}; ${lingerFix}`,
      };
    case "no-pkcheck":
      return { ...row, status: "fail", detail: `not running (${socket} is missing); polkitd is installed but pkcheck is not, so this check cannot ask polkit`, fix: `as root: \`apt-get install polkitd\` (it ships pkcheck), then run the check again; ${lingerFix}` };
    case "pkcheck": {
      if (facts.status === 0) {
        return { ...row, status: "pass", detail: `not running yet; polkit allows ${user.name} ${SET_SELF_LINGER} (pkcheck as ${user.name}, no session), so the first spawn starts it`, fix: "" };
      }
      const said = facts.output.trim().split("\n")[0] ?? "";
      return {
        ...row,
        status: "fail",
        detail: `not running (${socket} is missing), and polkit does not allow ${user.name} ${SET_SELF_LINGER} (pkcheck exit ${String(facts.status)}${said === "" ? "" : `: ${said}`}): the first spawn would be refused (NO_USER_MANAGER)`,
        fix: `${ruleFix} (it sorts before a site rule that closes self-linger; ${LINGER_RULE_PATH}); ${lingerFix}`,
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. placement (--spawn)

/** What cgroupfs showed for the running check server. */
export interface PlacementFacts {
  pid: number;
  /** The "0::" line of /proc/PID/cgroup. */
  cgroup?: string;
  memoryMax?: string;
  cpuMax?: string;
  pidsMax?: string;
}

/** The cgroup v2 path in /proc/PID/cgroup text. */
export function unifiedCgroup(procCgroup: string): string | undefined {
  return procCgroup
    .split("\n")
    .find((line) => line.startsWith("0::"))
    ?.slice(3);
}

/** systemd's default CPUQuotaPeriodSec, in microseconds: cpu.max is "QUOTA PERIOD". */
const CPU_PERIOD_US = 100_000;

/** What memory.max, cpu.max and pids.max must show for `caps` (pure). */
export function expectedFiles(caps: CgroupValues): { memoryMax: string; cpuMax: string; pidsMax: string } {
  const finite = (value: number | undefined) => (value === undefined || value === Infinity ? undefined : value);
  const memory = finite(caps.MemoryMax);
  const cpu = finite(caps.CPUQuota);
  const tasks = finite(caps.TasksMax);
  return {
    memoryMax: memory === undefined ? "max" : String(memory),
    cpuMax: `${cpu === undefined ? "max" : String(Math.round((cpu * CPU_PERIOD_US) / 100))} ${CPU_PERIOD_US}`,
    pidsMax: tasks === undefined ? "max" : String(tasks),
  };
}

export function scopePattern(uid: number): RegExp {
  return new RegExp(`^/user\\.slice/user-${uid}\\.slice/user@${uid}\\.service/(?:[^/]+/)*[^/]+\\.scope$`);
}

export function skippedPlacementRow(): CheckRow {
  return { id: CGROUP_ROW_IDS.placement, title: "the server's cgroup and caps", status: "skip", detail: "not requested", fix: "add --spawn to start a real server and read its cgroup's caps" };
}

/** The check's server (a spawn with no profile and no cgroup request) against the policy's caps for it. */
export function judgePlacement(user: Pick<Account, "name" | "uid">, policy: CgroupPolicy, facts: PlacementFacts | undefined, spawnRow: CheckRow | undefined): CheckRow {
  const row = { id: CGROUP_ROW_IDS.placement, title: "the server's cgroup and caps" };
  if (facts === undefined) {
    return { ...row, status: "fail", detail: `no server to look at: the spawn row says ${spawnRow?.status ?? "nothing"}: ${spawnRow?.detail ?? ""}`.trim(), fix: spawnRow?.fix || "fix the spawn row first" };
  }
  if (facts.cgroup === undefined) return { ...row, status: "fail", detail: `pid ${facts.pid} has no cgroup v2 entry in /proc/${facts.pid}/cgroup`, fix: "fix the cgroup v2 row first" };
  if (!scopePattern(user.uid).test(facts.cgroup)) {
    return {
      ...row,
      status: "fail",
      detail: `pid ${facts.pid} runs in ${facts.cgroup}, not in a scope below user@${user.uid}.service: it is not capped as the policy says`,
      fix: `report this with the mediator's log: with a "cgroup" section every server is started through systemd-run --user --scope`,
    };
  }
  const want = expectedFiles(effectiveCaps(policy, undefined, undefined));
  const seen = { memoryMax: facts.memoryMax, cpuMax: facts.cpuMax, pidsMax: facts.pidsMax };
  const names = { memoryMax: "memory.max", cpuMax: "cpu.max", pidsMax: "pids.max" } as const;
  const wrong = (Object.keys(want) as (keyof typeof want)[]).filter((key) => seen[key] !== want[key]);
  const shown = (Object.keys(want) as (keyof typeof want)[]).map((key) => `${names[key]} ${seen[key] ?? "(unreadable)"}`).join(", ");
  if (wrong.length === 0) return { ...row, status: "pass", detail: `pid ${facts.pid} in ${facts.cgroup}: ${shown}, the policy's caps`, fix: "" };
  const expected = wrong.map((key) => `${names[key]} ${want[key]}`).join(", ");
  return {
    ...row,
    status: "fail",
    detail: `pid ${facts.pid} in ${facts.cgroup}: ${shown}; the policy's caps want ${expected}`,
    fix: `a controller may not reach the scope: see the delegation row, and ${LIMITS_DOC}`,
  };
}
