/**
 * The sudoers snippet for a hub, as text: validation of every name and path that goes into it and
 * the generation itself. Pure (no I/O), so every hostile input can be unit-tested.
 *
 * Rules of construction:
 * - Any user or group name NSS can hold is accepted (system/account-name.ts refuses the few that
 *   sudo reads as ids, groups, netgroups, negations or options) and spelled for sudoers by
 *   sudoersName: a plain word as is, anything else in double quotes, so no name can add a list
 *   entry, an alias, `ALL`, a `#uid` or a second rule.
 * - The Runas list names the spawnable users (or their group) and always ends in `!#0`: even when
 *   root (or another uid-0 account) is a member of the group, sudo refuses to run the mediator as
 *   uid 0. In a sudoers list the last matching entry wins, so the negation must come last.
 * - The command is one literal path; sudo matches it as written (see docs/admin-guide.md).
 */
import path from "node:path";
import { SudoSpawnerError } from "../../errors.js";
import { shellQuote } from "../../protocol/index.js";
import { accountNameProblem } from "../../system/account-name.js";

/** Characters allowed in a command path in the rule: no whitespace, no sudoers or glob metacharacters. */
const COMMAND_PATH_PATTERN = /^\/[A-Za-z0-9_.+@/-]+$/;

export type AccountKind = "hub user" | "group" | "user";

/**
 * A name any tool may be given (system/account-name.ts), never root; or a USAGE error saying why
 * not. Directory-service names (`alice@corp.example.com`, `CORP\alice`, `domain users`) pass.
 */
export function validateAccountName(name: string, kind: AccountKind): string {
  const problem = accountNameProblem(name);
  if (problem !== undefined) {
    throw new SudoSpawnerError(
      "USAGE",
      `invalid ${kind} name ${JSON.stringify(name)}: ${problem}. Names may hold letters of any case, digits, spaces inside, and ".", "_", "-", "@", "\\", "$" and other signs, but not begin with "#", "%", "+", "!" or "-"`,
    );
  }
  // root as the hub, as a spawnable user or as the group (whose members include uid 0 by primary
  // group) would put uid 0 on one side of the rule.
  if (name === "root") throw new SudoSpawnerError("USAGE", `the ${kind} must not be root`);
  return name;
}

/** Written as is: sudoers reads these as one plain word (a name, never an alias or a keyword). */
const PLAIN_WORD = /^[A-Za-z0-9_.@$-]+$/;
/** What sudoers would read as an alias name rather than a user or group name. */
const ALIAS_SHAPED = /^[A-Z][A-Z0-9_]*$/;

/**
 * A validated name as sudoers must spell it, with the `%` of a group: `alice`, `%jupyter`, or in
 * double quotes where sudoers would otherwise read it differently: `"Alice Smith"`, `"CORP\alice"`,
 * `"%domain users"`, `"TSSSBOB"` (unquoted, an all-capitals word is an alias). Inside double quotes
 * sudoers takes every character literally except `\"`, which stands for `"` (sudo 1.9's lexer;
 * checked with visudo and cvtsudoers in the tests). What sudoers cannot spell — "ALL", a name
 * ending in a backslash — is refused with the form to write by hand: the numeric id, `#UID` or
 * `%#GID`, which `id` prints.
 */
export function sudoersName(name: string, kind: AccountKind, id?: number): string {
  validateAccountName(name, kind);
  const prefix = kind === "group" ? "%" : "";
  const byHand = () => {
    const form = kind === "group" ? `%#${id ?? "GID"}` : `#${id ?? "UID"}`;
    const lookup = kind === "group" ? `getent group ${shellQuote(name)}` : `id -u ${shellQuote(name)}`;
    return `write the rule by hand with the numeric id instead of the name: ${form} (\`${lookup}\` prints it), and check it with \`visudo -cf FILE\``;
  };
  if (name === "ALL") {
    throw new SudoSpawnerError("USAGE", `the ${kind} name "ALL" cannot be written into a sudoers rule: sudoers reads it as "everyone"; ${byHand()}`);
  }
  if (PLAIN_WORD.test(name) && !ALIAS_SHAPED.test(name)) return `${prefix}${name}`;
  if (name.endsWith("\\")) {
    throw new SudoSpawnerError(
      "USAGE",
      `the ${kind} name ${JSON.stringify(name)} cannot be written into a sudoers rule: a backslash at the end of a quoted name would escape the closing quote; ${byHand()}`,
    );
  }
  return `"${prefix}${name.replaceAll('"', '\\"')}"`;
}

/** `--users a,b,c` → validated, de-duplicated names. */
export function parseUserList(list: string): string[] {
  const names = list.split(",").map((part) => part.trim());
  if (names.length === 0 || names.every((name) => name === "")) {
    throw new SudoSpawnerError("USAGE", "--users needs at least one user name (comma-separated)");
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (name === "") throw new SudoSpawnerError("USAGE", `--users ${JSON.stringify(list)} has an empty entry`);
    seen.add(validateAccountName(name, "user"));
  }
  return [...seen];
}

/**
 * A command path for the rule: absolute, normalized (sudo compares it literally with what the hub
 * runs) and free of characters sudoers would interpret (spaces, `,` `:` `=` `\`, glob characters).
 */
export function validateCommandPath(p: string, what: string): string {
  if (!path.isAbsolute(p)) {
    throw new SudoSpawnerError("USAGE", `${what} ${JSON.stringify(p)} is not an absolute path; sudo rules name commands by absolute path`);
  }
  const normalized = path.normalize(p);
  if (normalized !== p || (p.length > 1 && p.endsWith("/"))) {
    throw new SudoSpawnerError(
      "USAGE",
      `${what} ${JSON.stringify(p)} is not in normal form; sudo compares paths literally, so use ${JSON.stringify(normalized.replace(/\/+$/, ""))} (and the same path in the hub's config)`,
    );
  }
  if (!COMMAND_PATH_PATTERN.test(p)) {
    throw new SudoSpawnerError(
      "USAGE",
      `${what} ${JSON.stringify(p)} contains characters sudoers would interpret (spaces, commas, colons, "=", backslashes, quotes or glob characters); install it under a plain path`,
    );
  }
  return p;
}

export type Runas = { kind: "group"; group: string } | { kind: "users"; users: readonly string[] };

/** The numeric id of an account, for the by-hand form of a name sudoers cannot spell. */
export type IdLookup = (name: string, kind: AccountKind) => number | undefined;

const noIds: IdLookup = () => undefined;

/** `%group, !#0` or `alice, bob, !#0`, each name spelled for sudoers: never root, never ALL. */
export function runasList(runas: Runas, idOf: IdLookup = noIds): string {
  const members =
    runas.kind === "group"
      ? [sudoersName(runas.group, "group", idOf(runas.group, "group"))]
      : runas.users.map((u) => sudoersName(u, "user", idOf(u, "user")));
  if (members.length === 0) throw new SudoSpawnerError("USAGE", "the rule needs a group or at least one user to run servers as");
  return [...members, "!#0"].join(", ");
}

/** A Cmnd_Alias name unique to the hub, so snippets for several hubs can coexist. */
export function commandAliasName(hubUser: string): string {
  return `TSSS_MEDIATOR_${validateAccountName(hubUser, "hub user").toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export interface SnippetInput {
  hubUser: string;
  runas: Runas;
  /** The path the hub runs (c.SudoSpawner.sudospawner_path). */
  mediatorPath: string;
  /** Who made it, for the header (e.g. "ts-sudospawner 0.1.0"). */
  generator: string;
  /** Numeric ids, for the by-hand form in the error about a name sudoers cannot spell. */
  idOf?: IdLookup;
}

function describeRunas(runas: Runas): string {
  return runas.kind === "group" ? `the members of group ${runas.group}` : `the users ${runas.users.join(", ")}`;
}

/**
 * Slurm mode needs nothing more from sudo: the mediator runs the policy's job commands itself, as
 * the user, with an environment it builds. Said in the rule so no admin "completes" it.
 */
export const SLURM_NOTE = [
  "# The same rule serves Slurm mode (the policy's \"slurm\" section): the mediator runs the",
  "# policy's sbatch, squeue and scancel itself, as the user, with an environment it builds.",
  "# Add no SETENV and no rule for those commands.",
] as const;

/** The whole snippet, ending in a newline (sudoers requires one on the last line). */
export function generateSnippet(input: SnippetInput): string {
  const idOf = input.idOf ?? noIds;
  const hubName = validateAccountName(input.hubUser, "hub user");
  if (input.runas.kind === "users" && input.runas.users.includes(hubName)) {
    throw new SudoSpawnerError("USAGE", `the hub user ${hubName} must not be one of the users it spawns servers for`);
  }
  const hub = sudoersName(hubName, "hub user", idOf(hubName, "hub user"));
  const mediator = validateCommandPath(input.mediatorPath, "the mediator path");
  const alias = commandAliasName(hubName);
  const runas = runasList(input.runas, idOf);
  const lines = [
    `# sudoers rule for JupyterHub with ts-sudospawner (generated by ${input.generator}).`,
    `# Lets the hub user ${hubName} run the mediator, and nothing else, as ${describeRunas(input.runas)};`,
    "# never as root. Check it with `visudo -cf FILE` before it goes into /etc/sudoers.d/,",
    "# or let `ts-sudospawner sudoers ... --install` do both.",
    "#",
    "# sudo compares the command path literally with the one the hub runs, so the hub's",
    `# c.TsSudoSpawner.mediator_path (or c.SudoSpawner.sudospawner_path) must be exactly ${mediator}`,
    "#",
    ...SLURM_NOTE,
    "",
    `Cmnd_Alias ${alias} = ${mediator}`,
    "",
    "# The hub runs sudo from a service, without a terminal.",
    `Defaults:${hub} !requiretty`,
    "",
    "# No password (the hub has no terminal to type one); \"!#0\" keeps uid 0 out of the Runas",
    "# list even if root is a member of the group. Never use (ALL) here.",
    `${hub} ALL=(${runas}) NOPASSWD: ${alias}`,
  ];
  return `${lines.join("\n")}\n`;
}
