/**
 * The sudoers snippet for a hub, as text: validation of every name and path that goes into it and
 * the generation itself. Pure (no I/O), so every hostile input can be unit-tested.
 *
 * Rules of construction:
 * - Names are checked against a strict allow-list before they touch sudoers syntax: no sudoers
 *   metacharacters, aliases, `ALL`, `#uid` forms, whitespace or quoting can get through.
 * - The Runas list names the spawnable users (or their group) and always ends in `!#0`: even when
 *   root (or another uid-0 account) is a member of the group, sudo refuses to run the mediator as
 *   uid 0. In a sudoers list the last matching entry wins, so the negation must come last.
 * - The command is one literal path; sudo matches it as written (see docs/admin-guide.md).
 */
import path from "node:path";
import { SudoSpawnerError } from "../errors.js";

/** Portable user/group names (POSIX + the trailing `$` of machine accounts), as useradd accepts them. */
export const ACCOUNT_NAME_PATTERN = /^[a-z_][a-z0-9_.-]*\$?$/;
export const MAX_ACCOUNT_NAME_LENGTH = 32;

/** Characters allowed in a command path in the rule: no whitespace, no sudoers or glob metacharacters. */
const COMMAND_PATH_PATTERN = /^\/[A-Za-z0-9_.+@/-]+$/;

/** sudo >= 1.9.10 can restrict arguments with a regular expression (used for mkhomedir_helper). */
export const MKHOMEDIR_ARGUMENT_REGEX = "^[a-z_][a-z0-9_.-]{0,31}$";

export type AccountKind = "hub user" | "group" | "user";

/** A name that may appear in the rule, or a USAGE error saying why not. */
export function validateAccountName(name: string, kind: AccountKind): string {
  const shown = JSON.stringify(name);
  if (name.length === 0) throw new SudoSpawnerError("USAGE", `the ${kind} name is empty`);
  if (name.length > MAX_ACCOUNT_NAME_LENGTH) {
    throw new SudoSpawnerError("USAGE", `the ${kind} name ${shown} is longer than ${MAX_ACCOUNT_NAME_LENGTH} characters`);
  }
  if (!ACCOUNT_NAME_PATTERN.test(name)) {
    throw new SudoSpawnerError(
      "USAGE",
      `invalid ${kind} name ${shown}: use lowercase letters, digits, "_", "." and "-", starting with a letter or "_" (no spaces, commas, quotes, "%", "!", "#", "\\" or other sudoers syntax)`,
    );
  }
  // root as the hub, as a spawnable user or as the group (whose members include uid 0 by primary
  // group) would put uid 0 on one side of the rule.
  if (name === "root") throw new SudoSpawnerError("USAGE", `the ${kind} must not be root`);
  return name;
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

/** `%group, !#0` or `alice, bob, !#0`: never root, never ALL. */
export function runasList(runas: Runas): string {
  const members =
    runas.kind === "group" ? [`%${validateAccountName(runas.group, "group")}`] : runas.users.map((u) => validateAccountName(u, "user"));
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
  /** mkhomedir_helper's path when home directories are to be created on first spawn. */
  mkhomedirPath?: string;
  /** Who made it, for the header (e.g. "ts-sudospawner 0.1.0"). */
  generator: string;
}

function describeRunas(runas: Runas): string {
  return runas.kind === "group" ? `the members of group ${runas.group}` : `the users ${runas.users.join(", ")}`;
}

/** The whole snippet, ending in a newline (sudoers requires one on the last line). */
export function generateSnippet(input: SnippetInput): string {
  const hub = validateAccountName(input.hubUser, "hub user");
  if (input.runas.kind === "users" && input.runas.users.includes(hub)) {
    throw new SudoSpawnerError("USAGE", `the hub user ${hub} must not be one of the users it spawns servers for`);
  }
  const mediator = validateCommandPath(input.mediatorPath, "the mediator path");
  const alias = commandAliasName(hub);
  const runas = runasList(input.runas);
  const lines = [
    `# sudoers rule for JupyterHub with ts-sudospawner (generated by ${input.generator}).`,
    `# Lets the hub user ${hub} run the mediator, and nothing else, as ${describeRunas(input.runas)};`,
    "# never as root. Check it with `visudo -cf FILE` before it goes into /etc/sudoers.d/,",
    "# or let `ts-sudospawner sudoers ... --install` do both.",
    "#",
    "# sudo compares the command path literally with the one the hub runs, so the hub's",
    `# c.SudoSpawner.sudospawner_path must be exactly ${mediator}`,
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
  if (input.mkhomedirPath !== undefined) {
    const helper = validateCommandPath(input.mkhomedirPath, "the mkhomedir_helper path");
    lines.push(
      "",
      "# Create a user's home directory on first spawn: `sudo -n " + helper + " USER`.",
      "# The regular expression allows exactly one user-name argument (no umask or skeleton",
      "# directory chosen by the hub); mkhomedir_helper leaves existing homes alone.",
      `${hub} ALL=(root) NOPASSWD: ${helper} ${MKHOMEDIR_ARGUMENT_REGEX}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
