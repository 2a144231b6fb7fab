/**
 * `ts-sudospawner check`: run the seven checks in order, showing progress on stderr, and return
 * the rows (the CLI prints them as a table or JSON). Every check runs even when an earlier one
 * failed, so one run shows everything that is wrong.
 */
import { checkHome, checkInstallRootOnly, checkSingleUser } from "./check-install.js";
import { progressLine, type CheckReport, type CheckRow } from "./check-report.js";
import { checkRuleAllowsMediator, checkRuleNotTooBroad, checkRuleRefusesRoot } from "./check-rules.js";
import { checkSpawn } from "./check-spawn.js";
import { buildSubject, type CheckRequest, type CheckSubject } from "./check-subject.js";
import { errorMessage } from "../errors.js";
import type { AdminIO } from "./io.js";

export interface Step {
  activity: (s: CheckSubject) => string;
  run: (s: CheckSubject) => CheckRow | Promise<CheckRow>;
}

const STEPS: readonly Step[] = [
  { activity: (s) => `running the mediator as ${s.user.name} through ${s.hub.name}'s rule`, run: checkRuleAllowsMediator },
  { activity: (s) => `trying another command (echo) as ${s.user.name} through the rule`, run: checkRuleNotTooBroad },
  { activity: () => "running the mediator as root through the rule", run: checkRuleRefusesRoot },
  { activity: () => "checking who can write the mediator, node, the addon and the directories above them", run: checkInstallRootOnly },
  { activity: () => "looking for the single-user executable next to the mediator", run: checkSingleUser },
  { activity: (s) => `checking ${s.user.name}'s home directory`, run: checkHome },
];

const SPAWN_STEP: Step = { activity: (s) => `spawning and stopping a single-user server as ${s.user.name}`, run: checkSpawn };

/** A step that throws (e.g. a directory this user cannot examine) fails its own row, not the run. */
export async function runStep(step: Step, index: number, subject: CheckSubject): Promise<CheckRow> {
  try {
    return await step.run(subject);
  } catch (error) {
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

export async function runCheck(request: CheckRequest, io: AdminIO): Promise<CheckReport> {
  const subject = buildSubject(request);
  const total = STEPS.length + 1;
  const rows: CheckRow[] = [];
  for (const [index, step] of STEPS.entries()) {
    io.err(progressLine(index + 1, total, step.activity(subject)));
    rows.push(await runStep(step, index, subject));
  }
  if (request.spawn) {
    io.err(progressLine(total, total, SPAWN_STEP.activity(subject)));
    rows.push(await runStep(SPAWN_STEP, total - 1, subject));
  } else {
    io.err(`[${total}/${total}] spawn test skipped (add --spawn)\n`);
    rows.push(skippedSpawn(subject));
  }
  return { hubUser: subject.hub.name, user: subject.user.name, mediator: subject.mediator.path, rows };
}
