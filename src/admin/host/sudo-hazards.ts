/**
 * What an old sudospawner setup may have left in sudo's configuration, judged from what sudo
 * itself reports (pure): `sudo -ll -U HUB` (host/sudo-listing.ts) for the rules and Defaults that
 * reach the hub, and `cvtsudoers -e -f json` for every rule, to find who else may become the hub.
 */
import type { ListedRule, SudoListing } from "./sudo-listing.js";
import { isPasswordless, splitListEntries, unquoteListedName } from "./sudo-listing.js";

// ---------------------------------------------------------------------------------------------
// The hub's own rules

export interface RuleHazard {
  rule: ListedRule;
  /** Why it is more than the hub needs. */
  reason: string;
  passwordless: boolean;
}

function describeRunas(rule: ListedRule): string {
  const users = rule.runAsUsers.length > 0 ? rule.runAsUsers.join(", ") : "root";
  return rule.runAsGroups.length > 0 ? `${users} : ${rule.runAsGroups.join(", ")}` : users;
}

/** One rule as `sudo -l` shows it: `(ALL) NOPASSWD: /usr/local/bin/sudospawner`. */
export function describeRule(rule: ListedRule): string {
  const tags = [isPasswordless(rule) ? "NOPASSWD: " : "", rule.options.includes("setenv") ? "SETENV: " : ""].join("");
  return `(${describeRunas(rule)}) ${tags}${rule.commands.join(", ")}`;
}

/** The command word of a listed command (`/bin/ls *` → `/bin/ls`), `!` dropped. */
export function commandPath(command: string): string {
  return command.replace(/^!\s*/, "").split(/\s+/)[0] as string;
}

/**
 * Every rule that lets the hub do more than run the mediator as its users: another command (the
 * old `/usr/local/bin/sudospawner`, `ALL`), or the mediator as everyone (`(ALL)`) or as root.
 */
export function otherRules(listing: SudoListing, mediator: string): RuleHazard[] {
  const hazards: RuleHazard[] = [];
  for (const rule of listing.rules) {
    const passwordless = isPasswordless(rule);
    const others = rule.commands.filter((command) => !command.startsWith("!") && command !== mediator);
    if (others.length > 0) {
      hazards.push({ rule, passwordless, reason: `it may run ${others.join(", ")} as ${describeRunas(rule)}` });
      continue;
    }
    const users = rule.runAsUsers.map(unquoteListedName);
    if (users.length === 0 || users.includes("root") || users.includes("#0")) {
      hazards.push({ rule, passwordless, reason: "it may run the mediator as root" });
    } else if (users.includes("ALL") || rule.runAsGroups.includes("ALL")) {
      hazards.push({ rule, passwordless, reason: "it may run the mediator as every user, not only those who get servers" });
    }
  }
  return hazards;
}

// ---------------------------------------------------------------------------------------------
// Defaults

/** The last entry of a Defaults list that sets (`name`, `name=...`) or clears (`!name`) an option. */
export function lastOption(entries: readonly string[], name: string): { on: boolean; value?: string; entry: string } | undefined {
  let found: { on: boolean; value?: string; entry: string } | undefined;
  for (const entry of entries) {
    if (entry === `!${name}`) found = { on: false, entry };
    else if (entry === name) found = { on: true, entry };
    else {
      const match = new RegExp(`^${name}\\s*=\\s*(.*)$`).exec(entry);
      if (match) found = { on: true, value: unquote(match[1] as string), entry };
    }
  }
  return found;
}

function unquote(value: string): string {
  const text = value.trim();
  const inner = text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
  return inner.replace(/\\(.)/g, "$1");
}

/** Runas- and command-specific Defaults that reach the hub's mediator calls: not `Defaults>root`, not another command's. */
export function specificDefaultsForMediator(listing: SudoListing, mediator: string): string[] {
  const entries: string[] = [];
  for (const line of listing.specificDefaults) {
    const match = /^Defaults([>!])(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const [, kind, target, rest] = match as unknown as [string, string, string, string];
    if (kind === ">" && (target === "root" || target === "#0")) continue;
    if (kind === "!" && target !== mediator && target !== "ALL") continue;
    entries.push(...splitListEntries(rest));
  }
  return entries;
}

/** `exempt_group=G` as it applies to the hub (the last setting wins), or undefined. */
export function exemptGroup(listing: SudoListing): string | undefined {
  const option = lastOption(listing.defaults, "exempt_group");
  return option?.on === true && option.value !== undefined && option.value !== "" ? option.value.replace(/^%/, "") : undefined;
}

/** Whether env_reset is off for the hub's calls (globally, for the hub, its Runas users or the mediator). */
export function envResetOff(listing: SudoListing, mediator: string): string | undefined {
  const global = lastOption(listing.defaults, "env_reset");
  if (global?.on === false) return global.entry;
  const specific = lastOption(specificDefaultsForMediator(listing, mediator), "env_reset");
  return specific?.on === false ? specific.entry : undefined;
}

/**
 * Variables that change how the mediator (`#!/usr/bin/env node`) or the loader start: kept by
 * sudo, they let the hub run code as every user it serves. Prefixes end in "_" or "*".
 */
export const DANGEROUS_ENV = [
  "LD_*",
  "NODE_*",
  "PYTHON*",
  "PERL*",
  "RUBY*",
  "BASH_FUNC_*",
  "BASH_ENV",
  "ENV",
  "SHELLOPTS",
  "PS4",
  "GCONV_PATH",
  "GLIBC_TUNABLES",
  "LOCPATH",
  "NLSPATH",
  "OPENSSL_*",
  "JAVA_TOOL_OPTIONS",
  "TS_SUDOSPAWNER*",
];

function prefixOf(pattern: string): string | undefined {
  return pattern.endsWith("*") ? pattern.slice(0, -1) : undefined;
}

/** Whether an env_keep entry (a name or a `PREFIX*` pattern) keeps any dangerous variable. */
export function keepsDangerous(entry: string): boolean {
  const keptPrefix = prefixOf(entry);
  return DANGEROUS_ENV.some((danger) => {
    const dangerPrefix = prefixOf(danger);
    if (keptPrefix === undefined) return dangerPrefix === undefined ? entry === danger : entry.startsWith(dangerPrefix);
    // A kept pattern reaches the danger when either one starts with the other.
    const dangerText = dangerPrefix ?? danger;
    return dangerText.startsWith(keptPrefix) || keptPrefix.startsWith(dangerText);
  });
}

/** The variables of `env_keep` entries (`env_keep+="A B"`, `env_keep=X`) in a Defaults list. */
export function envKeepNames(entries: readonly string[]): Array<{ entry: string; names: string[] }> {
  const out: Array<{ entry: string; names: string[] }> = [];
  for (const entry of entries) {
    const match = /^env_keep\s*[+]?=\s*(.*)$/.exec(entry);
    if (match) out.push({ entry, names: unquote(match[1] as string).split(/\s+/).filter(Boolean) });
  }
  return out;
}

export interface EnvHazards {
  /** env_keep entries that keep a dangerous variable, with those variables. */
  dangerous: Array<{ entry: string; names: string[] }>;
  /** Variables kept that are harmless for the mediator (e.g. RHEL's LANG, DISPLAY). */
  harmless: string[];
  /** Where the hub may set variables itself: `setenv`, or SETENV on the mediator's rule. */
  setenv: string[];
}

export function envHazards(listing: SudoListing, mediator: string): EnvHazards {
  const entries = [...listing.defaults, ...specificDefaultsForMediator(listing, mediator)];
  const dangerous: Array<{ entry: string; names: string[] }> = [];
  const harmless: string[] = [];
  for (const kept of envKeepNames(entries)) {
    const bad = kept.names.filter(keepsDangerous);
    if (bad.length > 0) dangerous.push({ entry: kept.entry, names: bad });
    harmless.push(...kept.names.filter((name) => !keepsDangerous(name)));
  }
  const setenv: string[] = [];
  const option = lastOption(entries, "setenv");
  if (option?.on === true) setenv.push(`Defaults ${option.entry}`);
  for (const rule of listing.rules) {
    if (rule.options.includes("setenv") && rule.commands.some((command) => command === mediator)) setenv.push(`SETENV on ${describeRule(rule)}`);
  }
  return { dangerous, harmless: [...new Set(harmless)], setenv };
}

// ---------------------------------------------------------------------------------------------
// Who else may become the hub: cvtsudoers -e -f json

interface JsonMember {
  negated?: boolean;
  [kind: string]: unknown;
}

interface JsonCmndSpec {
  runasusers?: JsonMember[];
  runasgroups?: JsonMember[];
  Commands?: JsonMember[];
  Options?: Array<Record<string, unknown>>;
}

interface JsonUserSpec {
  User_List?: JsonMember[];
  Cmnd_Specs?: JsonCmndSpec[];
}

export interface HubIdentity {
  name: string;
  uid: number;
  /** Names of the hub's groups (primary and supplementary). */
  groups: readonly string[];
  gids: readonly number[];
}

export interface RunasGrant {
  /** Who the rule is for, as sudoers names them: `alice`, `%staff`, `#1000`, `ALL`. */
  users: string[];
  runas: string[];
  commands: string[];
  passwordless: boolean;
}

/** `{username: "alice"}` → `alice`, `{usergroup: "staff"}` → `%staff`, with a leading `!` when negated. */
export function memberText(member: JsonMember): string {
  const neg = member.negated === true ? "!" : "";
  if ("username" in member) return `${neg}${String(member.username)}`;
  if ("userid" in member) return `${neg}#${String(member.userid)}`;
  if ("usergroup" in member) return `${neg}%${String(member.usergroup)}`;
  if ("usergid" in member) return `${neg}%#${String(member.usergid)}`;
  if ("netgroup" in member) return `${neg}+${String(member.netgroup)}`;
  if ("command" in member) return `${neg}${String(member.command)}`;
  for (const [key, value] of Object.entries(member)) if (key !== "negated") return `${neg}${String(value)}`;
  return neg;
}

function namesHub(member: JsonMember, hub: HubIdentity): boolean {
  if (member.negated === true) return false;
  if ("username" in member) return member.username === hub.name;
  if ("userid" in member) return Number(member.userid) === hub.uid;
  if ("usergroup" in member) return hub.groups.includes(String(member.usergroup));
  if ("usergid" in member) return hub.gids.includes(Number(member.usergid));
  return false;
}

function onlyRoot(users: readonly JsonMember[]): boolean {
  return users.length > 0 && users.every((member) => member.negated !== true && (member.username === "root" || Number(member.userid) === 0));
}

/**
 * Rules that let someone run commands as the hub user by naming it (or a group it is in) in the
 * Runas list. `(ALL)` rules are the administrators' and are left out: whoever has one can become
 * root anyway. Rules only for root are left out too.
 */
export function runasGrants(json: unknown, hub: HubIdentity): RunasGrant[] {
  const specs = (json as { User_Specs?: JsonUserSpec[] } | null)?.User_Specs ?? [];
  const grants: RunasGrant[] = [];
  for (const spec of specs) {
    const users = spec.User_List ?? [];
    if (onlyRoot(users)) continue;
    for (const cmnd of spec.Cmnd_Specs ?? []) {
      const runas = cmnd.runasusers ?? [];
      if (!runas.some((member) => namesHub(member, hub))) continue;
      grants.push({
        users: users.map(memberText),
        runas: runas.map(memberText),
        commands: (cmnd.Commands ?? []).map(memberText),
        passwordless: (cmnd.Options ?? []).some((option) => option.authenticate === false),
      });
    }
  }
  return grants;
}
