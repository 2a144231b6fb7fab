/**
 * `ts-sudospawner check`: run the checks in order, showing progress on stderr, and return the rows
 * (the CLI prints them as a table or JSON). Every check runs even when an earlier one failed, so
 * one run shows everything that is wrong: the rule and the install (rows 1-6), what an old
 * sudospawner setup may have left behind (check/hazards.ts), whether users can plant each other's
 * server logs (check/server-log/), on request a real spawn, the cgroup limits (check/cgroup/:
 * one row when the policy has none, four when it has), Slurm mode (check/slurm/: one row when it
 * is off, three when it is on), and last what SELinux allows the hub (check/selinux.ts).
 */
import {
  checkEnvKeep,
  checkEnvReset,
  checkExemptGroup,
  checkOnlyMediator,
  checkPamShadow,
  checkSecurePath,
  checkUnitKillMode,
  checkUnitNoNewPrivileges,
  checkWhoBecomesHub,
  gatherHazardFacts,
  sudoersJson,
  type HazardFacts,
} from "./hazards.js";
import { checkHome, checkInstallRootOnly, checkSingleUser } from "./install.js";
import { progressLine, type CheckReport, type CheckRow } from "./report.js";
import { checkRuleAllowsMediator, checkRuleNotTooBroad, checkRuleRefusesRoot } from "./rules.js";
import { checkPythonOrphans } from "./orphans.js";
import { checkServerLog } from "./server-log/probe.js";
import { cgroupOffRow, cgroupPolicyErrorRow, cgroupSetting, checkCgroupHost, checkCgroupPlacement, observePlacement } from "./cgroup/probe.js";
import { CGROUP_ROW_IDS, type PlacementFacts } from "./cgroup/rows.js";
import { checkSlurm } from "./slurm/probe.js";
import { SLURM_ROW_IDS } from "./slurm/rows.js";
import { judgeSelinuxExecmem, judgeSelinuxScope } from "./selinux.js";
import { checkSpawn } from "./spawn.js";
import { buildSubject, type CheckRequest, type CheckSubject } from "./subject.js";
import { errorMessage } from "../../errors.js";
import { selinuxFacts, selinuxScopeFacts, type SelinuxFacts } from "../host/selinux.js";
import type { AdminIO } from "../io.js";

export interface Step {
  activity: (s: CheckSubject) => string;
  run: (s: CheckSubject) => CheckRow | Promise<CheckRow>;
}

/** `gather` once per check run: rows that judge the same facts share one look at them. */
function perSubject<T>(gather: (s: CheckSubject) => T): (s: CheckSubject) => T {
  const seen = new WeakMap<CheckSubject, T>();
  return (s) => {
    if (!seen.has(s)) seen.set(s, gather(s));
    return seen.get(s) as T;
  };
}

/** The hazard checks share one look at sudo, the sudoers files and the unit. */
const factsOf = perSubject((s): HazardFacts => gatherHazardFacts(s, s.unitFile));

const STEPS: readonly Step[] = [
  { activity: (s) => `running the mediator as ${s.user.name} through ${s.hub.name}'s rule`, run: checkRuleAllowsMediator },
  { activity: (s) => `trying another command (echo) as ${s.user.name} through the rule`, run: checkRuleNotTooBroad },
  { activity: () => "running the mediator as root through the rule", run: checkRuleRefusesRoot },
  { activity: () => "checking who can write the mediator, node, the addon and the directories above them", run: checkInstallRootOnly },
  { activity: () => "looking for the single-user executable next to the mediator", run: checkSingleUser },
  { activity: (s) => `checking ${s.user.name}'s home directory`, run: checkHome },
  { activity: (s) => `listing what else sudo lets ${s.hub.name} do (sudo -ll)`, run: (s) => checkOnlyMediator(s, factsOf(s)) },
  { activity: () => "looking for exempt_group", run: (s) => checkExemptGroup(s, factsOf(s)) },
  { activity: () => "looking for !env_reset", run: (s) => checkEnvReset(s, factsOf(s)) },
  { activity: () => "looking for env_keep and SETENV", run: (s) => checkEnvKeep(s, factsOf(s)) },
  { activity: (s) => `looking for rules that let others become ${s.hub.name} (cvtsudoers)`, run: (s) => checkWhoBecomesHub(s, factsOf(s), sudoersJson) },
  { activity: () => "checking who can write the directories of secure_path", run: (s) => checkSecurePath(s, factsOf(s)) },
  { activity: () => "reading the hub's systemd unit (KillMode)", run: (s) => checkUnitKillMode(s, factsOf(s)) },
  { activity: () => "reading the hub's systemd unit (NoNewPrivileges)", run: (s) => checkUnitNoNewPrivileges(s, factsOf(s)) },
  { activity: (s) => `checking whether PAM can read /etc/shadow as ${s.hub.name}`, run: (s) => checkPamShadow(s, factsOf(s)) },
  { activity: (s) => `checking whether another user can make ${s.user.name}'s server log (the policy's serverLog)`, run: checkServerLog },
];

/** Both SELinux rows share one look at selinuxfs and the hub's processes. */
const selinuxFactsOf = perSubject((s): SelinuxFacts => selinuxFacts(s.hub.uid));

/** Last: it explains a spawn that crashed Node above, and adds no number to the rows before it. */
const SELINUX_STEP: Step = { activity: () => "asking SELinux whether the hub's domain lets Node compile (execmem)", run: (s) => judgeSelinuxExecmem(selinuxFactsOf(s)) };

/** With the cgroup section, beside it: may the hub's domain ask the user's manager for a scope? */
const SELINUX_SCOPE_STEP: Step = {
  activity: (s) => `asking SELinux whether the hub's domain may ask ${s.user.name}'s systemd manager for a scope`,
  run: (s) => {
    const facts = selinuxFactsOf(s);
    const scope = facts.on && facts.domain !== undefined ? selinuxScopeFacts(facts.domain.context, s.user.uid) : undefined;
    return judgeSelinuxScope(facts, scope, s.user.name, s.mediator.packageRoot);
  },
};

/** After the spawn row, before the cgroup and Slurm rows. */
const ORPHANS_STEP: Step = { activity: () => "looking for servers of the Python sudospawner whose fork is gone", run: checkPythonOrphans };

const SPAWN_STEP: Step = { activity: (s) => `spawning and stopping a single-user server as ${s.user.name}`, run: checkSpawn };

/** A step that throws (e.g. a directory this user cannot examine) fails its own row, not the run. */
export async function runStep(step: Step, index: number, subject: CheckSubject): Promise<CheckRow> {
  try {
    return await step.run(subject);
  } catch (error) {
    // As the hub, a path only root may examine is not a failure of the site: the row needs root.
    const denied = !subject.asRoot && /\b(EACCES|EPERM)\b|permission denied/i.test(errorMessage(error));
    if (denied) {
      return { id: `step-${index + 1}`, title: step.activity(subject), status: "skip", detail: `needs root: ${errorMessage(error)}`, fix: "run check as root for this row" };
    }
    return {
      id: `step-${index + 1}`,
      title: step.activity(subject),
      status: "fail",
      detail: `could not finish: ${errorMessage(error)}`,
      fix: "run the check as root, which can examine every path",
    };
  }
}

function skippedSpawn(s: CheckSubject): CheckRow {
  return {
    id: "spawn-and-kill",
    title: `spawn and stop a server as ${s.user.name}`,
    status: "skip",
    detail: "not requested",
    fix: "add --spawn to start and stop a real single-user server through the rule",
  };
}

/** Like runStep: a cgroup probe that throws fails a row of its own. */
function cgroupGuard(run: () => CheckRow[]): CheckRow[] {
  try {
    return run();
  } catch (error) {
    return [{ id: CGROUP_ROW_IDS.off, title: "cgroup limits", status: "fail", detail: `could not finish: ${errorMessage(error)}`, fix: "run the check as root, which can examine every path" }];
  }
}

/** The Slurm rows; like runStep, a failure to finish is a failed row of its own. */
function runSlurm(subject: CheckSubject, progress: (activity: string) => void): CheckRow[] {
  try {
    return checkSlurm(subject, progress);
  } catch (error) {
    return [{ id: SLURM_ROW_IDS.mode, title: "Slurm mode", status: "fail", detail: `could not finish: ${errorMessage(error)}`, fix: "run the check as root, which can examine every path" }];
  }
}

export async function runCheck(request: CheckRequest, io: AdminIO): Promise<CheckReport> {
  const subject = buildSubject(request);
  // The spawn step, the Python orphans, the cgroup and the Slurm steps (each may show more than one
  // row), and SELinux's (two rows with the cgroup section).
  const total = STEPS.length + 5;
  const rows: CheckRow[] = [];
  for (const [index, step] of STEPS.entries()) {
    io.err(progressLine(index + 1, total, step.activity(subject)));
    rows.push(await runStep(step, index, subject));
  }
  const spawnIndex = STEPS.length + 1;
  const cgroupIndex = spawnIndex + 2;
  const setting = cgroupSetting();
  // Rows 1-3 of the cgroup rows are probed before the spawn, which may start the user's manager,
  // and shown after it with the placement row.
  let cgroupRows: CheckRow[];
  if (setting.kind === "on") {
    const progress = (activity: string) => io.err(progressLine(cgroupIndex, total, activity));
    progress("reading /proc/self/mountinfo for cgroup v2");
    cgroupRows = cgroupGuard(() => checkCgroupHost(subject, setting.policy, setting.profiles, progress));
  } else {
    cgroupRows = [setting.kind === "off" ? cgroupOffRow() : cgroupPolicyErrorRow(setting.message)];
  }
  let spawn: { row: CheckRow; placement?: PlacementFacts } | undefined;
  if (request.spawn) {
    io.err(progressLine(spawnIndex, total, SPAWN_STEP.activity(subject)));
    let placement: PlacementFacts | undefined;
    const observe = setting.kind === "on" ? (pid: number) => void (placement = observePlacement(pid)) : undefined;
    const spawnRow = await runStep({ ...SPAWN_STEP, run: (s) => checkSpawn(s, observe) }, spawnIndex - 1, subject);
    rows.push(spawnRow);
    spawn = placement === undefined ? { row: spawnRow } : { row: spawnRow, placement };
  } else {
    io.err(`[${spawnIndex}/${total}] spawn test skipped (add --spawn)\n`);
    rows.push(skippedSpawn(subject));
  }
  io.err(progressLine(spawnIndex + 1, total, ORPHANS_STEP.activity(subject)));
  rows.push(await runStep(ORPHANS_STEP, spawnIndex, subject));
  if (setting.kind === "on") {
    const { policy } = setting;
    cgroupRows.push(...cgroupGuard(() => [checkCgroupPlacement(subject, policy, spawn)]));
  }
  rows.push(...cgroupRows);
  const progress = (activity: string) => io.err(progressLine(total - 1, total, activity));
  progress(`asking the mediator as ${subject.user.name} whether Slurm mode is on (slurm-options)`);
  rows.push(...runSlurm(subject, progress));
  io.err(progressLine(total, total, SELINUX_STEP.activity(subject)));
  rows.push(await runStep(SELINUX_STEP, total - 1, subject));
  if (setting.kind === "on") {
    io.err(progressLine(total, total, SELINUX_SCOPE_STEP.activity(subject)));
    rows.push(await runStep(SELINUX_SCOPE_STEP, total - 1, subject));
  }
  return { hubUser: subject.hub.name, user: subject.user.name, mediator: subject.mediator.path, rows };
}
