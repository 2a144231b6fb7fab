/**
 * Checks 4-6: the files and directories the mediator and the server depend on, looked at on disk.
 * Trust is judged by the mediator's own rules (path-trust.ts, executable.ts); access by the
 * target user's mode classes (access.ts), since this process is root or the hub, not the user.
 */
import fs from "node:fs";
import path from "node:path";
import { errorMessage, isSudoSpawnerError } from "../../errors.js";
import { assertTrustedExecutable, findSingleUser } from "../../install/executable.js";
import { nativePaths } from "../../install/layout.js";
import { auditPath, formatProblems, realFs, type PathProblem } from "../../install/path-trust.js";
import { EXECUTE, READ, WRITE, firstUnsearchable, permits, type Principal } from "../host/access.js";
import type { CheckRow } from "./report.js";
import type { CheckSubject } from "./subject.js";
import { shellQuote } from "../../protocol/index.js";
import { homeFix } from "./diagnose.js";
import { groupIds, pathChain, uidWithName } from "../host/commands.js";
import { singleUserAdvice, singleUserFacts } from "../host/singleuser-link.js";
import { followInterpreter, realChainView } from "../host/interpreter-chain.js";

function mode(m: number): string {
  return (m & 0o7777).toString(8).padStart(4, "0");
}

function principal(s: CheckSubject): Principal {
  const gids = groupIds(s.user.name);
  return { uid: s.user.uid, gids: gids.length > 0 ? gids : [s.user.gid] };
}

interface Target {
  what: string;
  path: string;
}

function nodeTarget(s: CheckSubject): Target | undefined {
  if (s.node.state === "found") return { what: "node under sudo", path: s.node.node };
  if (s.node.state === "missing") return undefined;
  // secure_path unknown or unset: the node running this check is the best guess.
  return { what: "node (this one; sudo's secure_path could not be read)", path: process.execPath };
}

export function checkInstallRootOnly(s: CheckSubject): CheckRow {
  const row = { id: "install-root-only", title: "install writable only by root" };
  const native = nativePaths(s.mediator.packageRoot);
  const node = nodeTarget(s);
  const targets: Target[] = [
    { what: "mediator", path: s.mediator.path },
    ...(node ? [node] : []),
    { what: "native addon", path: native.addon },
    { what: "reaper", path: native.reaper },
  ];
  const problems: PathProblem[] = [];
  const missing: string[] = [];
  const checked: string[] = [];
  for (const target of targets) {
    const audit = auditPath(target.path, realFs, { trustedUids: new Set([0]), describeUid: uidWithName });
    if (!audit.exists) missing.push(`${target.what} ${target.path}`);
    else checked.push(audit.realPath ?? target.path);
    for (const problem of audit.problems) {
      if (!problems.some((p) => p.path === problem.path && p.problem === problem.problem)) problems.push(problem);
    }
  }
  if (s.node.state === "missing") missing.unshift(`node on sudo's secure_path (${s.node.securePath})`);
  if (problems.length > 0) {
    const paths = [...new Set(problems.map((p) => p.path))];
    return {
      ...row,
      status: "fail",
      detail: `not root's alone: ${formatProblems(problems)}. Whoever can change these can run code as every user the hub spawns`,
      fix: `as root: \`chown root:root ${paths.join(" ")} && chmod go-w ${paths.join(" ")}\``,
    };
  }
  if (missing.length > 0) {
    const fixes = [
      ...(s.node.state === "missing" ? [s.nodeFix ?? "put node on secure_path"] : []),
      ...(missing.some((m) => m.startsWith("native") || m.startsWith("reaper")) ? ["as root: `npm rebuild -g --prefix PREFIX --foreground-scripts ts-sudospawner` (uses the prebuilt parts on linux-x64/arm64; elsewhere it needs g++, make, python3)"] : []),
    ];
    return { ...row, status: "fail", detail: `missing: ${missing.join("; ")}`, fix: fixes.join("; ") };
  }
  return { ...row, status: "pass", detail: `owned by root and not writable by others, with every directory above: ${checked.join(", ")}`, fix: "" };
}

export function checkSingleUser(s: CheckSubject): CheckRow {
  const row = { id: "singleuser-executable", title: "single-user executable next to the mediator" };
  const dir = path.dirname(s.mediator.path);
  let file: string;
  let real: string;
  try {
    file = findSingleUser(dir);
    real = assertTrustedExecutable(file, new Set([0, s.user.uid]), uidWithName, "the single-user server");
  } catch (error) {
    // findSingleUser's message ends with its own fix; the fix has its own column here.
    const message = errorMessage(error).replace(/; as root, link the server .*$/, "");
    const code = isSudoSpawnerError(error) ? error.code : "";
    const advice = code === "NOT_FOUND" ? singleUserAdvice(singleUserFacts(dir, undefined, s.venv)) : undefined;
    const fix =
      advice !== undefined
        ? `as root: ${advice.commands.map((c) => `\`${c}\``).join(", then ")} (or install a sudospawner-singleuser wrapper there)`
        : "as root: make it and every directory above it owned by root and not writable by group or others (chown root:root, chmod go-w)";
    return { ...row, status: "fail", detail: message, fix };
  }
  const who = principal(s);
  const blocked = firstUnsearchable(pathChain(real, false), who);
  if (blocked) {
    return {
      ...row,
      status: "fail",
      detail: `${s.user.name} cannot enter ${blocked.path} (owner ${uidWithName(blocked.uid)}, group ${blocked.gid}, mode ${mode(blocked.mode)}) on the way to ${real}`,
      fix: `as root: \`chmod a+x ${blocked.path}\``,
    };
  }
  const stats = fs.statSync(real);
  // A script is read by its interpreter as the user, so it needs r as well as x.
  const needsRead = isScript(real);
  const runnable = stats.isFile() && permits(stats, who, EXECUTE) && (!needsRead || permits(stats, who, READ));
  if (!runnable) {
    return {
      ...row,
      status: "fail",
      detail: `${real} is not ${needsRead ? "readable and executable" : "executable"} by ${s.user.name} (owner ${uidWithName(stats.uid)}, group ${stats.gid}, mode ${mode(stats.mode)})`,
      fix: `as root: \`chmod a+rx ${real}\``,
    };
  }
  const shown = real === file ? file : `${file} -> ${real}`;
  // The script runs only if its interpreter does: follow the shebang, each link and a venv's home.
  const chain = followInterpreter(real, who, s.user.name, realChainView, serverPath(real));
  if (chain.problem) {
    return { ...row, status: "fail", detail: `${shown} is runnable, but ${chain.problem.problem} (${chain.steps.join("; ")})`, fix: chain.problem.fix };
  }
  const followed = chain.steps.length > 0 ? `; its interpreter too (${chain.steps.join("; ")})` : "";
  return { ...row, status: "pass", detail: `${shown}: trusted (root or ${s.user.name} only) and executable by ${s.user.name}${followed}`, fix: "" };
}

/** The server's PATH as the mediator builds it without a policy PATH: the executable's directory first (mediator/env-policy.ts). */
function serverPath(executable: string): string[] {
  return [path.dirname(executable), "/usr/local/bin", "/usr/bin", "/bin"];
}

function isScript(file: string): boolean {
  try {
    const fd = fs.openSync(file, "r");
    try {
      const head = Buffer.alloc(2);
      fs.readSync(fd, head, 0, 2, 0);
      return head.toString("latin1") === "#!";
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

export function checkHome(s: CheckSubject): CheckRow {
  const row = { id: "home-usable", title: `${s.user.name}'s home usable as cwd` };
  const home = s.user.home;
  let stats: fs.Stats;
  try {
    stats = fs.statSync(home);
  } catch {
    return {
      ...row,
      status: "fail",
      detail: `the home directory ${home} of ${s.user.name} does not exist; the mediator refuses to spawn without it`,
      fix: homeFix(s.user.name, s.hub.name),
    };
  }
  if (!stats.isDirectory()) {
    return { ...row, status: "fail", detail: `${home} (home of ${s.user.name}) is not a directory`, fix: `as root: fix the home field of ${s.user.name} (\`usermod -d\`)` };
  }
  const who = principal(s);
  const chain = pathChain(home, true);
  const blocked = firstUnsearchable(chain, who);
  if (blocked) {
    const own = blocked.path === chain[chain.length - 1]?.path;
    return {
      ...row,
      status: "fail",
      detail: `${s.user.name} cannot enter ${blocked.path} (owner ${uidWithName(blocked.uid)}, group ${blocked.gid}, mode ${mode(blocked.mode)}), so it cannot be the server's cwd`,
      fix: own ? `as root: \`chown ${shellQuote(`${s.user.name}:`)} ${shellQuote(home)} && chmod u+rwx ${shellQuote(home)}\`` : `as root: \`chmod a+x ${shellQuote(blocked.path)}\``,
    };
  }
  const problems: string[] = [];
  if (stats.uid !== s.user.uid) problems.push(`it is owned by ${uidWithName(stats.uid)}, not ${s.user.name}`);
  if (!permits(stats, who, WRITE)) problems.push(`${s.user.name} cannot write it (Jupyter keeps its runtime files there)`);
  if (problems.length > 0) {
    return { ...row, status: "warn", detail: `${home}: ${problems.join("; ")}`, fix: `as root: \`chown ${shellQuote(`${s.user.name}:`)} ${shellQuote(home)} && chmod u+rwx ${shellQuote(home)}\`` };
  }
  return { ...row, status: "pass", detail: `${home} (owner ${s.user.name}, mode ${mode(stats.mode)})`, fix: "" };
}
