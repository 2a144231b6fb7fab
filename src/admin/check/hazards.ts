/**
 * The checks for what an old sudospawner setup leaves behind, one row each: rules beyond the
 * mediator, exempt_group, !env_reset, env_keep/SETENV, others who may become the hub, secure_path
 * directories, the hub's systemd unit (KillMode, NoNewPrivileges) and PAM's access to /etc/shadow.
 *
 * Facts come from sudo itself (`sudo -ll`, `cvtsudoers`), the unit files and the file system; the
 * judgments are pure (host/sudo-hazards.ts, host/unit-file.ts) and the lines to change are found in the
 * sudoers text (sudoers/files.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { auditPath, formatProblems, realFs } from "../../install/path-trust.js";
import { shellQuote } from "../../protocol/index.js";
import { READ, permits } from "../host/access.js";
import type { CheckRow } from "./report.js";
import type { CheckSubject } from "./subject.js";
import { groupIds, runCommand, uidWithName } from "../host/commands.js";
import { securePathFromListOutput, pathDirectories } from "../host/sudo-info.js";
import {
  describeRule,
  commandPath,
  envHazards,
  envResetOff,
  exemptGroup,
  otherRules,
  runasGrants,
  type HubIdentity,
  type RunasGrant,
} from "../host/sudo-hazards.js";
import { parseLongListing, type ListedRule, type SudoListing } from "../host/sudo-listing.js";
import { aliasesNaming, editCommand, formatLocation, lineKind, logicalLines, sudoersFiles, words, type SudoersLine } from "../sudoers/files.js";
import { UNIT_DIRECTORIES, judgeUnit, serviceSettings, unitRunsAs, type UnitSource, type UnitVerdict } from "../host/unit-file.js";

// ---------------------------------------------------------------------------------------------
// Facts, gathered once per check run

export interface HazardFacts {
  listing: SudoListing | undefined;
  /** Why the listing is missing. */
  listingProblem?: string;
  /** Logical lines of /etc/sudoers and its includes; empty when they cannot be read (not root). */
  lines: SudoersLine[];
  hub: HubIdentity;
  /** The hub's unit and its drop-ins, when found or given. */
  unit?: { name: string; sources: UnitSource[]; verdict: UnitVerdict; found: "given" | "found" };
  /** Why no unit was judged. */
  unitProblem?: string;
}

const realReader = {
  read(file: string): string | undefined {
    try {
      return fs.readFileSync(file, "utf8");
    } catch {
      return undefined;
    }
  },
  list(dir: string): string[] | undefined {
    try {
      return fs.readdirSync(dir);
    } catch {
      return undefined;
    }
  },
};

function hubIdentity(s: CheckSubject): HubIdentity {
  const found = groupIds(s.hub.name);
  const gids = found.length > 0 ? found : [s.hub.gid];
  // Not `id -Gn`: it separates names by spaces, and a directory group's name may hold one.
  const groups = gids.map((gid) => groupName(gid)).filter((name): name is string => name !== undefined);
  return { name: s.hub.name, uid: s.hub.uid, gids, groups };
}

function groupName(gid: number): string | undefined {
  const result = runCommand("getent", ["group", String(gid)]);
  return result.status === 0 ? result.stdout.split(":")[0] : undefined;
}

function unitSources(file: string): UnitSource[] {
  const sources: UnitSource[] = [];
  const text = realReader.read(file);
  if (text === undefined) return sources;
  sources.push({ file, text });
  const dropins = `${file}.d`;
  for (const name of [...(realReader.list(dropins) ?? [])].filter((entry) => entry.endsWith(".conf")).sort()) {
    const dropin = realReader.read(path.join(dropins, name));
    if (dropin !== undefined) sources.push({ file: path.join(dropins, name), text: dropin });
  }
  return sources;
}

/** The first unit in systemd's directories whose User= is the hub (its drop-ins from every directory). */
function findHubUnit(hub: { name: string; uid: number }): { name: string; sources: UnitSource[] } | undefined {
  const seen = new Set<string>();
  for (const dir of UNIT_DIRECTORIES) {
    for (const name of [...(realReader.list(dir) ?? [])].filter((entry) => entry.endsWith(".service")).sort()) {
      if (seen.has(name)) continue; // a unit in /etc overrides the same name further down
      seen.add(name);
      const file = path.join(dir, name);
      try {
        if (!fs.statSync(file).isFile()) continue;
      } catch {
        continue;
      }
      const sources = unitSources(file);
      for (const other of UNIT_DIRECTORIES) {
        if (other === dir) continue;
        const dropins = path.join(other, `${name}.d`);
        for (const conf of [...(realReader.list(dropins) ?? [])].filter((entry) => entry.endsWith(".conf")).sort()) {
          const text = realReader.read(path.join(dropins, conf));
          if (text !== undefined) sources.push({ file: path.join(dropins, conf), text });
        }
      }
      if (unitRunsAs(serviceSettings(sources), hub)) return { name, sources };
    }
  }
  return undefined;
}

export function gatherHazardFacts(s: CheckSubject, unitFile: string | undefined): HazardFacts {
  let listing: SudoListing | undefined;
  let listingProblem: string | undefined;
  const text = s.listing ?? (s.asRoot ? undefined : runCommand("sudo", ["-n", "-l", "-l"]).stdout);
  if (text !== undefined && /Matching Defaults entries|Sudoers entry:|may run the following/.test(text)) listing = parseLongListing(text);
  else listingProblem = `\`sudo -ll\` showed nothing for ${s.hub.name}`;
  const lines = s.asRoot ? sudoersFiles(realReader).flatMap(logicalLines) : [];
  const facts: HazardFacts = { listing, lines, hub: hubIdentity(s) };
  if (listingProblem !== undefined) facts.listingProblem = listingProblem;
  if (unitFile !== undefined) {
    const sources = unitSources(unitFile);
    if (sources.length === 0) facts.unitProblem = `cannot read the unit file ${unitFile}`;
    else facts.unit = { name: path.basename(unitFile), sources, verdict: judgeUnit(serviceSettings(sources)), found: "given" };
  } else {
    const found = findHubUnit(s.hub);
    if (found) facts.unit = { ...found, verdict: judgeUnit(serviceSettings(found.sources)), found: "found" };
    else facts.unitProblem = `no systemd unit in ${UNIT_DIRECTORIES.join(" or ")} has User=${s.hub.name}`;
  }
  return facts;
}

// ---------------------------------------------------------------------------------------------
// Finding the lines to change

function quoteLine(line: SudoersLine): string {
  return `${formatLocation(line)} \`${line.text}\``;
}

function whereToEdit(lines: readonly SudoersLine[]): string {
  const files = [...new Set(lines.map((line) => line.file))];
  return files.map((file) => `\`${editCommand(file)}\``).join(", ");
}

/** Rule lines that grant `rule` to the hub: they name one of its commands (or an alias for it) and the hub. */
function locateRule(lines: readonly SudoersLine[], rule: ListedRule, hub: HubIdentity): SudoersLine[] {
  const rules = lines.filter((line) => lineKind(line) === "rule");
  const tokens = new Set<string>();
  for (const command of rule.commands) {
    const cmd = commandPath(command);
    tokens.add(cmd);
    for (const alias of aliasesNaming(lines, cmd)) tokens.add(alias);
  }
  const who = new Set([hub.name, `%${hub.name}`, ...hub.groups.map((group) => `%${group}`), "ALL"]);
  const userAliases = lines
    .filter((line) => /^User_Alias\s/.test(line.text))
    .flatMap((line) => line.text.replace(/^User_Alias\s+/, "").split(":"))
    .filter((definition) => words(definition.split("=")[1] ?? "").some((word) => who.has(word) || who.has(`%${word}`)))
    .map((definition) => (definition.split("=")[0] as string).trim());
  for (const alias of userAliases) who.add(alias);
  return rules.filter((line) => {
    const [users = "", rest = ""] = line.text.split(/=(.*)/s);
    const named = words(users).some((word) => who.has(word)) && words(users)[0] !== "root";
    const commands = words(rest);
    return named && [...tokens].some((token) => commands.includes(token));
  });
}

function locateDefaults(lines: readonly SudoersLine[], option: string, negated = false): SudoersLine[] {
  const pattern = new RegExp(`(^|[\\s,${negated ? "" : "!"}])${negated ? "!\\s*" : ""}${option}(\\s*[+-]?=|\\s*,|\\s*$)`);
  return lines.filter((line) => lineKind(line) === "defaults" && pattern.test(line.text.replace(/^Defaults\S*/, " ")));
}

function locateGrant(lines: readonly SudoersLine[], hub: HubIdentity): SudoersLine[] {
  const names = new Set([hub.name, `#${hub.uid}`, ...hub.groups.map((group) => `%${group}`)]);
  return lines.filter((line) => {
    if (lineKind(line) !== "rule") return false;
    const runas = [...line.text.matchAll(/\(([^)]*)\)/g)].map((match) => (match[1] as string).split(":")[0] as string);
    return runas.some((list) => words(list).some((word) => names.has(word)));
  });
}

function fixAt(lines: readonly SudoersLine[], what: string, fallback: string): string {
  if (lines.length === 0) return fallback;
  return `as root, ${what}: ${lines.map(quoteLine).join("; ")} (with ${whereToEdit(lines)})`;
}

const NEEDS_LISTING = (facts: HazardFacts) => `${facts.listingProblem ?? "no listing"}; run the check as root`;

// ---------------------------------------------------------------------------------------------
// The rows

export function checkOnlyMediator(s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "hub-rules-only-mediator", title: "hub may run nothing but the mediator" };
  if (facts.listing === undefined) return { ...row, status: "skip", detail: NEEDS_LISTING(facts), fix: "" };
  const hazards = otherRules(facts.listing, s.mediator.path);
  if (hazards.length === 0) {
    const shown = facts.listing.rules.map(describeRule).join("; ");
    return { ...row, status: "pass", detail: `\`sudo -ll -U ${s.hub.name}\` lists ${shown === "" ? "no rule" : `only ${shown}`}`, fix: "" };
  }
  const found = hazards.flatMap((hazard) => locateRule(facts.lines, hazard.rule, facts.hub));
  const passwordless = hazards.some((hazard) => hazard.passwordless);
  return {
    ...row,
    status: passwordless ? "fail" : "warn",
    detail: `besides the mediator rule, sudo lets ${s.hub.name}: ${hazards.map((hazard) => `${describeRule(hazard.rule)} (${hazard.reason}${hazard.passwordless ? "" : "; with a password"})`).join("; ")}. The old sudospawner rule, (ALL) or root in the Runas list give a compromised hub more than the users it serves`,
    fix: fixAt(
      [...new Set(found)],
      "delete these lines, keeping only the rule from `ts-sudospawner sudoers ... --install`",
      `as root: find the rules with \`grep -rn ${shellQuote(s.hub.name)} /etc/sudoers /etc/sudoers.d\` and delete them, keeping only the rule from \`ts-sudospawner sudoers ... --install\``,
    ),
  };
}

export function checkExemptGroup(s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "sudo-exempt-group", title: "secure_path applies to the hub (exempt_group)" };
  if (facts.listing === undefined) return { ...row, status: "skip", detail: NEEDS_LISTING(facts), fix: "" };
  const group = exemptGroup(facts.listing);
  if (group === undefined) return { ...row, status: "pass", detail: "no exempt_group reaches the hub", fix: "" };
  if (!facts.hub.groups.includes(group)) {
    return { ...row, status: "pass", detail: `exempt_group=${group} is set, but ${s.hub.name} is not a member`, fix: "" };
  }
  return {
    ...row,
    status: "fail",
    detail: `exempt_group=${group} is set and ${s.hub.name} is in ${group}: sudo then skips secure_path, so the hub's own PATH picks the \`node\` that runs the mediator as every user`,
    fix: fixAt(locateDefaults(facts.lines, "exempt_group"), `delete exempt_group (or take ${s.hub.name} out of ${group}: \`gpasswd -d ${shellQuote(s.hub.name)} ${shellQuote(group)}\`)`, `as root: remove exempt_group from the Defaults with \`visudo\`, or \`gpasswd -d ${shellQuote(s.hub.name)} ${shellQuote(group)}\``),
  };
}

export function checkEnvReset(s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "sudo-env-reset", title: "sudo resets the hub's environment (env_reset)" };
  if (facts.listing === undefined) return { ...row, status: "skip", detail: NEEDS_LISTING(facts), fix: "" };
  const off = envResetOff(facts.listing, s.mediator.path);
  if (off === undefined) return { ...row, status: "pass", detail: "env_reset is on for the hub's calls", fix: "" };
  return {
    ...row,
    status: "fail",
    detail: `\`${off}\` reaches the hub: its whole environment (NODE_OPTIONS, PATH, ...) reaches the mediator, which runs as every user the hub serves`,
    fix: fixAt(locateDefaults(facts.lines, "env_reset", true), "delete the `!env_reset`", "as root: remove `!env_reset` from the Defaults with `visudo`"),
  };
}

export function checkEnvKeep(s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "sudo-env-keep", title: "the hub cannot pass variables through sudo (env_keep, SETENV)" };
  if (facts.listing === undefined) return { ...row, status: "skip", detail: NEEDS_LISTING(facts), fix: "" };
  const env = envHazards(facts.listing, s.mediator.path);
  if (env.dangerous.length === 0 && env.setenv.length === 0) {
    const kept = env.harmless.length > 0 ? `; kept, and harmless to the mediator: ${env.harmless.join(" ")}` : "";
    return { ...row, status: "pass", detail: `no env_keep of loader or interpreter variables, no SETENV${kept}`, fix: "" };
  }
  const problems = [
    ...env.dangerous.map((kept) => `\`${kept.entry}\` keeps ${kept.names.join(" ")}`),
    ...env.setenv.map((entry) => `${entry} lets the hub set any variable (\`sudo VAR=value ...\`)`),
  ];
  const found = [...locateDefaults(facts.lines, "env_keep"), ...locateDefaults(facts.lines, "setenv"), ...facts.lines.filter((line) => lineKind(line) === "rule" && /\bSETENV\s*:/.test(line.text) && words(line.text).includes(s.mediator.path))];
  return {
    ...row,
    status: "fail",
    detail: `${problems.join("; ")}: these reach the mediator's \`node\` before any of its checks run, as every user the hub serves`,
    fix: fixAt([...new Set(found)], "delete these env_keep entries and SETENV tags for the hub", "as root: remove them with `visudo` (`sudo -ll -U HUB` shows what applies)"),
  };
}

function describeGrant(grant: RunasGrant): string {
  return `${grant.users.join(", ")} may run ${grant.commands.join(", ")} as (${grant.runas.join(", ")})${grant.passwordless ? " without a password" : ""}`;
}

export function checkWhoBecomesHub(s: CheckSubject, facts: HazardFacts, json: () => { json?: unknown; problem?: string }): CheckRow {
  const row = { id: "who-becomes-hub", title: "nobody else may become the hub user" };
  if (!s.asRoot) return { ...row, status: "skip", detail: "needs root: reading every sudoers rule (cvtsudoers)", fix: "run check as root for this row" };
  const parsed = json();
  if (parsed.json === undefined) return { ...row, status: "skip", detail: parsed.problem ?? "cvtsudoers gave nothing", fix: "install cvtsudoers (part of sudo 1.8.21+) or read `visudo -c` output by hand" };
  const grants = runasGrants(parsed.json, facts.hub);
  if (grants.length === 0) return { ...row, status: "pass", detail: `no sudoers rule names ${s.hub.name} (or a group of it) in a Runas list`, fix: "" };
  return {
    ...row,
    status: "fail",
    detail: `${grants.map(describeGrant).join("; ")}: whoever can become ${s.hub.name} can run the mediator as every user it serves, and holds the servers' tokens`,
    fix: fixAt(locateGrant(facts.lines, facts.hub), `delete or narrow these rules so that no one but root becomes ${s.hub.name}`, `as root: find them with \`grep -rn ${shellQuote(s.hub.name)} /etc/sudoers /etc/sudoers.d\``),
  };
}

export function checkSecurePath(s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "secure-path-root-only", title: "secure_path directories are root's alone" };
  if (facts.listing === undefined) return { ...row, status: "skip", detail: NEEDS_LISTING(facts), fix: "" };
  const setting = securePathFromListOutput(["Matching Defaults entries for x:", `    ${facts.listing.defaults.join(", ")}`, ""].join("\n"));
  if (setting.state !== "set") {
    return {
      ...row,
      status: "fail",
      detail: `secure_path is not set for ${s.hub.name}: sudo runs the mediator's \`#!/usr/bin/env node\` with the hub's own PATH`,
      fix: 'as root, with `visudo`: `Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"` (with node\'s directory)',
    };
  }
  const problems: string[] = [];
  const paths: string[] = [];
  for (const dir of pathDirectories(setting.value)) {
    const audit = auditPath(dir, realFs, { trustedUids: new Set([0]), describeUid: uidWithName });
    if (audit.problems.length > 0) {
      problems.push(formatProblems(audit.problems));
      paths.push(...audit.problems.map((problem) => problem.path));
    } else if (!audit.exists) {
      const parent = existingParent(dir);
      if (parent !== undefined && (fs.statSync(parent).mode & 0o022) !== 0) {
        problems.push(`${dir} does not exist, and ${parent} lets others create it`);
        paths.push(parent);
      }
    }
  }
  if (problems.length === 0) return { ...row, status: "pass", detail: `${setting.value}: every directory owned by root and not writable by others`, fix: "" };
  const unique = [...new Set(paths)].map(shellQuote).join(" ");
  return {
    ...row,
    status: "fail",
    detail: `${problems.join("; ")}. Whoever can write a directory of secure_path can put a \`node\` there that runs as every user the hub serves`,
    fix: `as root: \`chown root:root ${unique} && chmod go-w ${unique}\`, or drop the directory from secure_path with \`visudo\``,
  };
}

function existingParent(dir: string): string | undefined {
  let current = path.dirname(dir);
  for (;;) {
    if (fs.existsSync(current)) return current;
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

function unitSkip(facts: HazardFacts): string {
  return `${facts.unitProblem ?? "no unit"}; pass --unit FILE if systemd runs the hub`;
}

function unitFixTarget(facts: HazardFacts): string {
  const unit = facts.unit;
  if (unit === undefined) return "the unit";
  return unit.found === "found" ? `\`systemctl edit ${unit.name}\` (or ${unit.sources[0]?.file})` : `${unit.sources[0]?.file}`;
}

export function checkUnitKillMode(_s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "unit-kill-mode", title: "hub unit keeps the servers on restart (KillMode)" };
  const unit = facts.unit;
  if (unit === undefined) return { ...row, status: "skip", detail: unitSkip(facts), fix: "" };
  const { value, setting } = unit.verdict.killMode;
  const where = setting ? `${setting.file}:${setting.line}` : `${unit.sources[0]?.file} (the default)`;
  if (value === "process") return { ...row, status: "pass", detail: `KillMode=process (${where}): stopping the hub stops the hub alone`, fix: "" };
  if (value === "none") {
    return { ...row, status: "warn", detail: `KillMode=none (${where}) keeps the servers, but systemd no longer stops even the hub's own helpers`, fix: `set KillMode=process under [Service] in ${unitFixTarget(facts)}, then \`systemctl daemon-reload\`` };
  }
  return {
    ...row,
    status: "fail",
    detail: `KillMode=${value} (${where}): the servers live in the hub's cgroup, so \`systemctl restart\` or \`stop\` of the hub kills every one of them`,
    fix: `as root: set \`KillMode=process\` under [Service] in ${unitFixTarget(facts)}, then \`systemctl daemon-reload\``,
  };
}

export function checkUnitNoNewPrivileges(_s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "unit-no-new-privileges", title: "hub unit lets sudo gain privileges (NoNewPrivileges)" };
  const unit = facts.unit;
  if (unit === undefined) return { ...row, status: "skip", detail: unitSkip(facts), fix: "" };
  const found = unit.verdict.noNewPrivileges;
  if (found.length === 0) return { ...row, status: "pass", detail: `${unit.sources.map((source) => source.file).join(", ")}: no NoNewPrivileges, and nothing that implies it`, fix: "" };
  const shown = found.map((setting, index) => `${unit.verdict.noNewPrivilegesKeys[index]}=${setting.value} (${setting.file}:${setting.line})`).join(", ");
  return {
    ...row,
    status: "fail",
    detail: `${shown}: with no_new_privs set, sudo cannot become anyone (sudo: The "no new privileges" flag is set, which prevents sudo from running as root.), so no server starts`,
    fix: `as root: remove ${unit.verdict.noNewPrivilegesKeys.join(", ")} from ${unitFixTarget(facts)}, then \`systemctl daemon-reload\``,
  };
}

export function checkPamShadow(s: CheckSubject, facts: HazardFacts): CheckRow {
  const row = { id: "pam-shadow", title: "PAM logins can read /etc/shadow as the hub" };
  let stats: fs.Stats;
  try {
    stats = fs.statSync("/etc/shadow");
  } catch {
    return { ...row, status: "skip", detail: "/etc/shadow does not exist", fix: "" };
  }
  const extra = (facts.unit?.verdict.supplementaryGroups ?? []).map((name) => groupGid(name)).filter((gid): gid is number => gid !== undefined);
  const who = { uid: facts.hub.uid, gids: [...facts.hub.gids, ...extra] };
  if (permits(stats, who, READ)) {
    const via = extra.includes(stats.gid) ? " (through the unit's SupplementaryGroups)" : "";
    return { ...row, status: "pass", detail: `${s.hub.name} can read /etc/shadow${via}, as JupyterHub's PAMAuthenticator needs`, fix: "" };
  }
  const group = groupName(stats.gid);
  const debian = group !== undefined && group !== "root" && (stats.mode & 0o040) !== 0;
  return {
    ...row,
    status: "warn",
    detail: `${s.hub.name} cannot read /etc/shadow (owner ${uidWithName(stats.uid)}, group ${group ?? stats.gid}, mode ${(stats.mode & 0o7777).toString(8).padStart(4, "0")}): with JupyterHub's default PAMAuthenticator every login fails ("[PAM Error 7] Authentication failure"). Ignore this with another authenticator (LDAP, OAuth, SSSD's pam_sss)`,
    fix: debian
      ? `as root: \`usermod -aG ${shellQuote(group)} ${shellQuote(s.hub.name)}\` (or SupplementaryGroups=${group} in the hub's unit)`
      : `as root: \`groupadd -r shadow && chgrp shadow /etc/shadow && chmod 0040 /etc/shadow && usermod -aG shadow ${shellQuote(s.hub.name)}\`, or authenticate with SSSD/LDAP (admin guide, section 6)`,
  };
}

function groupGid(name: string): number | undefined {
  const result = runCommand("getent", ["group", "--", name]);
  const gid = result.status === 0 ? Number(result.stdout.split(":")[2]) : Number.NaN;
  return Number.isSafeInteger(gid) ? gid : undefined;
}

/** `cvtsudoers -e -f json /etc/sudoers`: every rule, aliases expanded, includes followed. */
export function sudoersJson(): { json?: unknown; problem?: string } {
  const tool = ["/usr/bin/cvtsudoers", "/usr/sbin/cvtsudoers", "/bin/cvtsudoers"].find((file) => fs.existsSync(file));
  if (tool === undefined) return { problem: "cvtsudoers is not installed" };
  const result = runCommand(tool, ["-e", "-f", "json", "/etc/sudoers"]);
  try {
    return { json: JSON.parse(result.stdout) as unknown };
  } catch {
    return { problem: `\`cvtsudoers -e -f json /etc/sudoers\` exited ${result.status}: ${result.stderr.trim().split("\n")[0] ?? ""}` };
  }
}
