/**
 * What every check of `ts-sudospawner check` is about: the hub, the user, the mediator, how to
 * act as the hub, and what sudo reveals about them. Built once, then read by the checks.
 */
import path from "node:path";
import { SudoSpawnerError } from "../../errors.js";
import { shellQuote } from "../../protocol/index.js";
import { currentUid, lookupAccount, runCommand, type CommandResult } from "../host/commands.js";
import type { Account } from "../../system/account.js";
import type { FailureContext } from "./diagnose.js";
import { locateMediator, type MediatorLocation } from "../host/mediator-path.js";
import { nodeUnderSudo, securePathFix, securePathLocations, type NodeUnderSudo } from "../host/node-under-sudo.js";
import { validateAccountName } from "../sudoers/rule.js";
import { DOCUMENTED_VENV, venvSingleUser } from "../host/singleuser-link.js";

export interface CheckRequest {
  hubUser: string;
  user: string;
  mediator: string | undefined;
  spawn: boolean;
  /** The hub's systemd unit file; found by User= when not given. */
  unit?: string;
  /** The venv JupyterHub runs from (default /opt/jupyterhub): the fixes name its server. */
  venv?: string;
}

export interface CheckSubject {
  hub: Account;
  user: Account;
  mediator: MediatorLocation;
  asRoot: boolean;
  node: NodeUnderSudo;
  /** How to put node on secure_path, when it is missing there. */
  nodeFix?: string;
  /** `sudo -ll -U HUB` (root only): which rules and Defaults apply to the hub (host/sudo-listing.ts reads it). */
  listing?: string;
  /** --unit FILE. */
  unitFile?: string;
  /** The venv JupyterHub runs from (--venv, default /opt/jupyterhub). */
  venv: string;
}

function account(name: string, what: "hub user" | "user"): Account {
  validateAccountName(name, what);
  const entry = lookupAccount(name);
  if (entry === undefined) throw new SudoSpawnerError("NOT_FOUND", `the ${what} ${name} does not exist (getent passwd ${shellQuote(name)} finds nothing)`);
  if (entry.uid === 0) throw new SudoSpawnerError("USAGE", `the ${what} ${name} has uid 0; hubs and single-user servers must run as ordinary users`);
  return entry;
}

export function buildSubject(request: CheckRequest): CheckSubject {
  const hub = account(request.hubUser, "hub user");
  const user = account(request.user, "user");
  const uid = currentUid();
  if (uid !== 0 && uid !== hub.uid) {
    throw new SudoSpawnerError("USAGE", `run \`ts-sudospawner check\` as root or as the hub user ${hub.name}: it acts through the hub's sudo rule`);
  }
  const mediator = locateMediator(request.mediator);
  const asRoot = uid === 0;
  const node = nodeUnderSudo(hub.name, asRoot ? undefined : hub.name);
  const subject: CheckSubject = { hub, user, mediator, asRoot, node, venv: request.venv ?? DOCUMENTED_VENV };
  if (node.state === "missing") subject.nodeFix = securePathFix(node.securePath, path.dirname(process.execPath), securePathLocations());
  if (asRoot) subject.listing = runCommand("sudo", ["-n", "-l", "-l", "-U", hub.name]).stdout;
  if (request.unit !== undefined) subject.unitFile = path.resolve(request.unit);
  return subject;
}

/** Run `args` as the hub: through `sudo -u HUB` when root, directly when we are the hub. */
export function runAsHub(subject: CheckSubject, args: readonly string[], options: { input?: string; stderrFd?: number; timeoutMs?: number } = {}): CommandResult {
  const full = subject.asRoot ? ["sudo", "-n", "-u", subject.hub.name, ...args] : [...args];
  return runCommand(full[0] as string, full.slice(1), options);
}

/** The command as an admin would type it, for details. */
export function shownAsHub(subject: CheckSubject, args: readonly string[]): string {
  return `${subject.asRoot ? `sudo -u ${subject.hub.name} ` : ""}${args.join(" ")}`;
}

/** First lines of a command's output, on one line, for a table cell. */
export function firstLines(text: string, count = 3): string {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const shown = lines.slice(0, count).join(" / ");
  return lines.length > count ? `${shown} / ...` : shown;
}

/** What diagnoseSudoFailure needs to know about this subject. */
export function failureContext(s: CheckSubject): FailureContext {
  return {
    hub: s.hub.name,
    user: s.user.name,
    mediator: s.mediator.path,
    singleUser: venvSingleUser(s.venv),
    ...(s.listing === undefined ? {} : { listing: s.listing }),
    ...(s.nodeFix === undefined ? {} : { nodeFix: s.nodeFix }),
  };
}
