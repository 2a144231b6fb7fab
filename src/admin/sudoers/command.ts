/**
 * `ts-sudospawner sudoers`: check everything the rule depends on, generate it, validate it with
 * visudo, and print, write or install it. The text itself comes from sudoers/files.ts.
 *
 * Installing never leaves a broken file behind: the snippet is written to a temporary name in
 * /etc/sudoers.d that sudo ignores (it contains a "."), created root-owned with mode 0440, checked
 * with `visudo -cf`, renamed over the target, and the whole configuration is checked again with
 * `visudo -c`; if that fails, the previous file (or none) is put back.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SudoSpawnerError, errorMessage } from "../../errors.js";
import { POLICY_PATH } from "../../install/layout.js";
import { shellQuote } from "../../protocol/index.js";
import { auditPath, formatProblems, realFs } from "../../install/path-trust.js";
import { VERSION } from "../../version.js";
import type { AdminIO } from "../io.js";
import { currentUid, groupExists, lookupAccount, readTextIfPresent, runCommand } from "../host/commands.js";
import { locateMediator, type MediatorLocation } from "../host/mediator-path.js";
import { singleUserAdvice, singleUserFacts } from "../host/singleuser-link.js";
import { nodeUnderSudo, securePathFix, securePathLocations } from "../host/node-under-sudo.js";
import { restoreLabel } from "../root-file.js";
import { pamHomeAdvice } from "../pam-homes.js";
import { aliasDefinedElsewhere, existingRule, mergeRefusal, validInstallName } from "./merge.js";
import { commandAliasName, generateSnippet, runasList, sudoersName, type AccountKind, type Runas } from "./rule.js";

export interface SudoersRequest {
  hubUser: string;
  runas: Runas;
  /** The path the hub runs; the CLI defaults it to the path this command was started by. */
  mediator: string | undefined;
  mkhomedir: boolean;
  output?: string;
  install: boolean;
  /** `--file NAME`: the name in /etc/sudoers.d for --install (default ts-sudospawner). */
  file?: string;
  /** `--venv DIR`: the venv JupyterHub runs from, whose server the printed `ln -s` names (default /opt/jupyterhub). */
  venv?: string;
}

export interface InstallTarget {
  dir: string;
  name: string;
}

/** Where `--install` puts the rule. Tests pass another name; the CLI cannot. */
export const DEFAULT_INSTALL_TARGET: InstallTarget = { dir: "/etc/sudoers.d", name: "ts-sudospawner" };

const VISUDO_CANDIDATES = ["/usr/sbin/visudo", "/sbin/visudo", "/usr/bin/visudo", "/usr/local/sbin/visudo"];

function firstExisting(candidates: readonly string[]): string | undefined {
  return candidates.find((file) => fs.existsSync(file));
}

/** The mediator and every directory above it must be root's alone: the rule runs it as other users. */
export function assertRootOnly(location: MediatorLocation): void {
  const audit = auditPath(location.path, realFs, { trustedUids: new Set([0]) });
  if (audit.problems.length > 0) {
    throw new SudoSpawnerError(
      "UNSAFE_PATH",
      `refusing to write a rule for ${location.path}: ${formatProblems(audit.problems)}. Whoever can change these can run anything as the hub's users; as root: chown root:root and chmod go-w each of them`,
    );
  }
}

function warnAboutAccounts(request: SudoersRequest, io: AdminIO): void {
  const hub = lookupAccount(request.hubUser);
  if (hub === undefined) io.err(`warning: the hub user ${request.hubUser} does not exist (yet)\n`);
  else if (hub.uid === 0) throw new SudoSpawnerError("USAGE", `the hub user ${request.hubUser} has uid 0; run the hub as an unprivileged user`);
  if (request.runas.kind === "group" && !groupExists(request.runas.group)) {
    io.err(`warning: the group ${request.runas.group} does not exist (yet); create it with \`groupadd ${shellQuote(request.runas.group)}\` (or in the directory service)\n`);
  }
  if (request.runas.kind === "users") {
    for (const user of request.runas.users) {
      if (lookupAccount(user) === undefined) io.err(`warning: the user ${user} does not exist (yet)\n`);
    }
  }
}

/** Refuse when sudo would not find node for the mediator's `#!/usr/bin/env node`. */
function checkNode(hubUser: string, io: AdminIO): void {
  const current = lookupCurrentUserName();
  const found = nodeUnderSudo(hubUser, current);
  const nodeDir = path.dirname(process.execPath);
  if (found.state === "missing") {
    throw new SudoSpawnerError(
      "NOT_FOUND",
      `node is not on sudo's secure_path (${found.securePath}, from \`${found.source}\`), so the mediator's \`#!/usr/bin/env node\` would fail with "/usr/bin/env: 'node': No such file or directory". Fix: ${securePathFix(found.securePath, nodeDir, securePathLocations())}`,
    );
  }
  if (found.state === "unknown") {
    io.err(`warning: cannot read sudo's secure_path ${found.source}; after installing, run \`ts-sudospawner check\` as root to confirm node is found under sudo\n`);
  } else if (found.state === "unset") {
    io.err("warning: sudo's secure_path is unset, so the mediator finds node through the hub's own PATH; set `Defaults secure_path=...` (with node's directory) in /etc/sudoers\n");
  } else if (realpathOrSelf(found.node) !== realpathOrSelf(process.execPath)) {
    io.err(`warning: under sudo the mediator runs ${found.node}, not this node (${process.execPath}); the native addon must be built for that one (\`npm rebuild\` with it)\n`);
  }
}

function realpathOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function lookupCurrentUserName(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * `--mkhomedir` is gone: no hub code ever ran the mkhomedir_helper rule it wrote, and the rule's
 * argument pattern needed sudo 1.9.10. Homes are made by PAM when sudo opens the session.
 */
function mkhomedirRemoved(hubUser: string): string {
  return `--mkhomedir was removed: PAM makes a missing home when sudo starts the mediator instead. As root, ${pamHomeAdvice(hubUser)} (RHEL: \`authselect enable-feature with-mkhomedir\` and \`systemctl enable --now oddjobd\`, or pam_oddjob_mkhomedir.so in place of pam_mkhomedir.so); see docs/admin-guide.md, "Home directories"`;
}

/** The uid or gid of a name, for the by-hand form of a name sudoers cannot spell. */
function idOf(name: string, kind: AccountKind): number | undefined {
  if (kind !== "group") return lookupAccount(name)?.uid;
  const result = runCommand("getent", ["group", "--", name]);
  const gid = result.status === 0 ? Number(result.stdout.split("\n")[0]?.split(":")[2]) : Number.NaN;
  return Number.isSafeInteger(gid) ? gid : undefined;
}

/** Every check that does not need the text, then the text. */
export function buildSnippet(request: SudoersRequest, io: AdminIO): { text: string; mediatorPath: string } {
  if (request.mkhomedir) throw new SudoSpawnerError("USAGE", mkhomedirRemoved(request.hubUser));
  // Names sudoers cannot spell are refused before anything else is looked at.
  sudoersName(request.hubUser, "hub user", idOf(request.hubUser, "hub user"));
  runasList(request.runas, idOf);
  const location = locateMediator(request.mediator);
  assertRootOnly(location);
  warnAboutAccounts(request, io);
  checkNode(request.hubUser, io);
  const advice = singleUserAdvice(singleUserFacts(path.dirname(location.path), readPolicy(), request.venv));
  if (advice !== undefined) io.err(`warning: ${advice.problem}. As root:\n${advice.commands.map((c) => `    ${c}\n`).join("")}`);
  const text = generateSnippet({
    hubUser: request.hubUser,
    runas: request.runas,
    mediatorPath: location.path,
    generator: `ts-sudospawner ${VERSION}`,
    idOf,
  });
  return { text, mediatorPath: location.path };
}

function readPolicy(): string | undefined {
  try {
    return fs.readFileSync(POLICY_PATH, "utf8");
  } catch {
    return undefined;
  }
}

/** `visudo -cf FILE` (or the whole configuration when FILE is undefined); undefined without visudo. */
export function visudoCheck(file: string | undefined): { ok: boolean; output: string } | undefined {
  const visudo = firstExisting(VISUDO_CANDIDATES);
  if (visudo === undefined) return undefined;
  const result = runCommand(visudo, file === undefined ? ["-c"] : ["-cf", file]);
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

/** Check the text with `visudo -cf` in a private temporary directory. */
export function validateSnippet(text: string, io: AdminIO): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-sudoers-"));
  try {
    const file = path.join(dir, "snippet");
    fs.writeFileSync(file, text, { mode: 0o440 });
    const result = visudoCheck(file);
    if (result === undefined) io.err("warning: visudo not found; the rule was not syntax-checked\n");
    else if (!result.ok) throw new SudoSpawnerError("SUDOERS", `visudo rejected the generated rule:\n${result.output}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writeRootFile(file: string, text: string): void {
  const fd = fs.openSync(file, "wx", 0o440);
  try {
    fs.fchownSync(fd, 0, 0);
    fs.fchmodSync(fd, 0o440); // the umask may have narrowed it; sudo wants exactly 0440
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Install `text` as target.dir/target.name atomically; returns the path. Root only. */
export function installSnippet(text: string, target: InstallTarget = DEFAULT_INSTALL_TARGET): string {
  if (currentUid() !== 0) throw new SudoSpawnerError("USAGE", "--install must run as root (or use --output FILE and install it yourself)");
  if (target.name.includes(".") || target.name.endsWith("~") || target.name.includes("/")) {
    throw new SudoSpawnerError("USAGE", `sudo ignores drop-in files named like ${JSON.stringify(target.name)}`);
  }
  const dirAudit = auditPath(target.dir, realFs, { trustedUids: new Set([0]) });
  if (!dirAudit.exists) throw new SudoSpawnerError("NOT_FOUND", `${target.dir} does not exist; is sudo installed with its drop-in directory?`);
  if (dirAudit.problems.length > 0) throw new SudoSpawnerError("UNSAFE_PATH", `refusing to install into ${target.dir}: ${formatProblems(dirAudit.problems)}`);
  const before = visudoCheck(undefined);
  if (before === undefined) throw new SudoSpawnerError("NOT_FOUND", "--install needs visudo to validate the rule; install sudo");
  if (!before.ok) {
    throw new SudoSpawnerError("SUDOERS", `the current sudo configuration already fails \`visudo -c\`; fix it first, nothing was installed:\n${before.output}`);
  }
  const file = path.join(target.dir, target.name);
  const tag = `${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
  const staging = path.join(target.dir, `.${target.name}.${tag}.new`);
  const backup = path.join(target.dir, `.${target.name}.${tag}.old`);
  let hadPrevious = false;
  try {
    writeRootFile(staging, text);
    const own = visudoCheck(staging);
    if (!own?.ok) throw new SudoSpawnerError("SUDOERS", `visudo rejected the rule, nothing was installed:\n${own?.output ?? ""}`);
    if (fs.existsSync(file)) {
      fs.linkSync(file, backup);
      hadPrevious = true;
    }
    fs.renameSync(staging, file);
    syncDirectory(target.dir);
    // A valid file can still clash with the rest of the configuration (e.g. an alias defined twice).
    const after = visudoCheck(undefined);
    if (!after?.ok) {
      if (hadPrevious) fs.renameSync(backup, file);
      else fs.rmSync(file, { force: true });
      syncDirectory(target.dir);
      throw new SudoSpawnerError(
        "SUDOERS",
        `with the new rule the sudo configuration fails \`visudo -c\`, so ${hadPrevious ? "the previous file was restored" : "it was removed again"}:\n${after?.output ?? ""}`,
      );
    }
    return file;
  } finally {
    fs.rmSync(staging, { force: true });
    fs.rmSync(backup, { force: true });
  }
}

/** Write the rule to FILE (mode 0440) after validation. */
/**
 * --output FILE: written beside, then renamed over it, so that a second run replaces a file the
 * first left read-only (0440) and a reader never sees half of it.
 */
function writeOutput(file: string, text: string): void {
  const staging = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
  try {
    fs.writeFileSync(staging, text, { mode: 0o440, flag: "wx" });
    fs.chmodSync(staging, 0o440);
    fs.renameSync(staging, file);
  } catch (error) {
    fs.rmSync(staging, { force: true });
    throw new SudoSpawnerError("FILE_WRITE", `could not write ${file}: ${errorMessage(error)}; choose a file in a directory you can write to`);
  }
}

function nextSteps(request: SudoersRequest, mediatorPath: string): string {
  const user = request.runas.kind === "users" ? (request.runas.users[0] as string) : "SOME_USER";
  return `next: ts-sudospawner check --hub-user ${shellQuote(request.hubUser)} --user ${user === "SOME_USER" ? user : shellQuote(user)} --mediator ${mediatorPath}\n`;
}

/** Refuse an install that would define the alias twice or cut off anyone the file's rule serves. */
export function assertMergeSafe(request: SudoersRequest, target: InstallTarget): void {
  const entries = (fs.existsSync(target.dir) ? fs.readdirSync(target.dir) : []).map((name) => ({ name, text: readTextIfPresent(path.join(target.dir, name)) ?? "" }));
  const elsewhere = aliasDefinedElsewhere(entries, target.name, request.hubUser);
  if (elsewhere.length > 0) {
    throw new SudoSpawnerError(
      "USAGE",
      `${elsewhere.map((name) => path.join(target.dir, name)).join(" and ")} already ${elsewhere.length === 1 ? "defines" : "define"} ${commandAliasName(request.hubUser)}, the alias this rule defines (sudo refuses a second definition). Install into that file instead: add \`--file ${shellQuote(elsewhere[0] as string)}\``,
    );
  }
  const current = readTextIfPresent(path.join(target.dir, target.name));
  const existing = current === undefined ? undefined : existingRule(current, request.hubUser);
  const groupMembers =
    request.runas.kind === "group" && existing !== undefined
      ? existing.users.filter((user) => runCommand("id", ["-nG", "--", user]).stdout.split(/\s+/).includes((request.runas as { group: string }).group))
      : [];
  const refusal = mergeRefusal({ hubUser: request.hubUser, runas: request.runas, file: target.name, groupMembers, ...(existing === undefined ? {} : { existing }) });
  if (refusal !== undefined) throw new SudoSpawnerError("USAGE", `${refusal}. Nothing was installed`);
}

export function runSudoers(request: SudoersRequest, io: AdminIO, defaultTarget: InstallTarget = DEFAULT_INSTALL_TARGET): number {
  if (request.file !== undefined && !validInstallName(request.file)) {
    throw new SudoSpawnerError("USAGE", `--file ${JSON.stringify(request.file)}: sudo's includedir reads only names of letters, digits, "_" and "-" (no ".", no trailing "~"), up to 64 characters`);
  }
  if (request.file !== undefined && !request.install && request.output === undefined) throw new SudoSpawnerError("USAGE", "--file NAME names the file --install writes; add --install");
  const target = request.file === undefined ? defaultTarget : { dir: defaultTarget.dir, name: request.file };
  if (request.install && request.output !== undefined) throw new SudoSpawnerError("USAGE", "use either --output FILE or --install, not both");
  if (request.install && currentUid() !== 0) throw new SudoSpawnerError("USAGE", "--install must run as root (or use --output FILE and install it yourself)");
  const { text, mediatorPath } = buildSnippet(request, io);
  validateSnippet(text, io);
  if (request.install) {
    assertMergeSafe(request, target);
    const file = installSnippet(text, target);
    restoreLabel(file, io);
    io.err(`installed ${file} (mode 0440, validated with visudo)\n${nextSteps(request, mediatorPath)}`);
  } else if (request.output !== undefined) {
    writeOutput(request.output, text);
    io.err(`wrote ${request.output} (validated with visudo); install it as root: install -m 0440 -o root -g root ${request.output} /etc/sudoers.d/${target.name}\n`);
  } else {
    io.out(text);
  }
  return 0;
}
