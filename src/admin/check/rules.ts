/**
 * Checks 1-3: what the hub's sudo rule allows, tried for real through sudo (`-n`, so a rule that
 * needs a password counts as refused, as it does for the hub). As root, `sudo -l -U HUB -u WHO CMD`
 * also tells whether a rule would allow the command WITH a password: that is reported as a warning.
 */
import type { CheckRow } from "./report.js";
import { failureContext, firstLines, runAsHub, shownAsHub, type CheckSubject } from "./subject.js";
import { diagnoseSudoFailure } from "./diagnose.js";
import { runCommand } from "../host/commands.js";

const GENERATOR_FIX = (s: CheckSubject) =>
  `as root: remove the broad rule for ${s.hub.name} (\`sudo -l -U ${s.hub.name}\` lists it; look for (ALL) or ALL commands) and keep only the rule from \`ts-sudospawner sudoers --hub-user ${s.hub.name} --group GROUP --install\``;

/** As root: does any rule allow HUB to run `command` as `runas`, password or not? */
function listedAsAllowed(s: CheckSubject, runas: string, command: readonly string[]): boolean {
  if (!s.asRoot) return false;
  return runCommand("sudo", ["-n", "-l", "-U", s.hub.name, "-u", runas, ...command]).status === 0;
}

export function checkRuleAllowsMediator(s: CheckSubject): CheckRow {
  const args = ["sudo", "-n", "-u", s.user.name, "-H", s.mediator.path, "--help"];
  const shown = shownAsHub(s, args);
  const result = runAsHub(s, args);
  const row = { id: "rule-allows-mediator", title: `hub runs the mediator as ${s.user.name}` };
  if (result.status === 0 && result.stdout.startsWith("ts-sudospawner")) {
    return { ...row, status: "pass", detail: `\`${shown}\` printed the mediator's help (${firstLines(result.stdout, 1)})`, fix: "" };
  }
  const output = `${result.stderr}\n${result.stdout}\n${result.failure ?? ""}`;
  const diagnosis = diagnoseSudoFailure(output, failureContext(s));
  return {
    ...row,
    status: "fail",
    detail: `\`${shown}\` exited ${result.status ?? "by a signal"}: ${firstLines(output) || "(no output)"}. ${diagnosis.cause}`,
    fix: diagnosis.fix,
  };
}

export function checkRuleNotTooBroad(s: CheckSubject): CheckRow {
  const args = ["sudo", "-n", "-u", s.user.name, "echo", "fail"];
  const shown = shownAsHub(s, args);
  const result = runAsHub(s, args);
  const row = { id: "rule-not-too-broad", title: `hub cannot run other commands as ${s.user.name}` };
  if (result.status === 0 || result.stdout.includes("fail")) {
    return { ...row, status: "fail", detail: `\`${shown}\` ran and printed "${result.stdout.trim()}": ${s.hub.name} may run any command as ${s.user.name}`, fix: GENERATOR_FIX(s) };
  }
  const refusal = firstLines(result.stderr, 1) || `exit ${result.status}`;
  if (listedAsAllowed(s, s.user.name, ["echo", "fail"])) {
    return {
      ...row,
      status: "warn",
      detail: `\`${shown}\` was refused (${refusal}), but \`sudo -l -U ${s.hub.name} -u ${s.user.name} echo fail\` allows it with a password`,
      fix: `as root: take ${s.hub.name} out of password rules such as %sudo or %wheel, and give it no password`,
    };
  }
  return { ...row, status: "pass", detail: `\`${shown}\` was refused (${refusal})`, fix: "" };
}

export function checkRuleRefusesRoot(s: CheckSubject): CheckRow {
  const args = ["sudo", "-n", "-u", "root", "-H", s.mediator.path, "--help"];
  const shown = shownAsHub(s, args);
  const result = runAsHub(s, args);
  const row = { id: "rule-refuses-root", title: "hub cannot run the mediator as root" };
  if (result.status === 0 && result.stdout.startsWith("ts-sudospawner")) {
    return {
      ...row,
      status: "fail",
      detail: `\`${shown}\` ran the mediator as root: the Runas list includes root (e.g. ${s.hub.name} ALL=(ALL) ...)`,
      fix: `as root: restrict the Runas list: \`ts-sudospawner sudoers --hub-user ${s.hub.name} --group GROUP --install\`, and remove the (ALL) rule`,
    };
  }
  const refusal = firstLines(result.stderr, 1) || `exit ${result.status}`;
  if (listedAsAllowed(s, "root", [s.mediator.path, "--help"])) {
    return {
      ...row,
      status: "warn",
      detail: `\`${shown}\` was refused (${refusal}), but \`sudo -l -U ${s.hub.name} -u root ${s.mediator.path}\` allows it with a password`,
      fix: GENERATOR_FIX(s),
    };
  }
  return { ...row, status: "pass", detail: `\`${shown}\` was refused (${refusal})`, fix: "" };
}
