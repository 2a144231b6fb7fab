/**
 * What `sudo -ll -U HUB` says about the hub (pure parsing): the Defaults that apply to it, the
 * Runas- and command-specific Defaults, and one entry per rule it may use, as sudo itself matched
 * them (aliases expanded, groups and included files resolved). The long format is used because it
 * puts each Runas list, option and command on a line of its own, unlike `sudo -l`, which wraps.
 *
 *     Matching Defaults entries for hub on host:
 *         env_reset, mail_badpass, secure_path=/usr/local/sbin\:/usr/bin, use_pty, !requiretty
 *
 *     Runas and Command-specific defaults for hub:
 *         Defaults>alice env_keep="X Y"    Defaults!/usr/bin/id setenv
 *
 *     User hub may run the following commands on host:
 *
 *     Sudoers entry:
 *         RunAsUsers: "%domain users", CORP\carol, !#0
 *         Options: setenv, !authenticate
 *         Commands:
 *             /opt/ts-sudospawner/bin/ts-sudospawner
 */

export interface ListedRule {
  /** As sudo prints them: `ALL`, `root`, `"%domain users"`, `!#0`, ... (sudo prints `root` when the rule names none). */
  runAsUsers: string[];
  runAsGroups: string[];
  /** `!authenticate` (NOPASSWD), `setenv` (SETENV), ... */
  options: string[];
  /** Paths with their arguments, `ALL`, or `!/bin/sh` for a negated command. */
  commands: string[];
}

export interface SudoListing {
  /** The "Matching Defaults entries" for the user, in order (the last setting wins). */
  defaults: string[];
  /** `Defaults>alice env_keep="X Y"`, `Defaults!/usr/bin/id setenv`, ... */
  specificDefaults: string[];
  rules: ListedRule[];
}

/** Split a list on the commas between entries; commas inside double quotes or after a backslash stay. */
export function splitListEntries(list: string): string[] {
  const entries: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < list.length; i++) {
    const char = list.charAt(i);
    if (char === "\\" && i + 1 < list.length) {
      current += char + list.charAt(i + 1);
      i++;
    } else if (char === '"') {
      quoted = !quoted;
      current += char;
    } else if (char === "," && !quoted) {
      entries.push(current.trim());
      current = "";
    } else {
      current += char;
    }
  }
  if (current.trim() !== "") entries.push(current.trim());
  return entries.filter((entry) => entry !== "");
}

/** The indented lines after a header line, joined (sudo indents a block's continuation lines). */
function block(lines: readonly string[], header: RegExp): string | undefined {
  const start = lines.findIndex((line) => header.test(line));
  if (start < 0) return undefined;
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s/.test(line) || line.trim() === "") break;
    body.push(line.trim());
  }
  return body.join(" ");
}

export function parseLongListing(text: string): SudoListing {
  const lines = text.split("\n");
  const defaults = splitListEntries(block(lines, /^Matching Defaults entries for /) ?? "");
  const specific = block(lines, /^Runas and Command-specific defaults for /) ?? "";
  const specificDefaults = specific === "" ? [] : specific.split(/\s+(?=Defaults[>!@:])/).map((entry) => entry.trim());
  const rules: ListedRule[] = [];
  let rule: ListedRule | undefined;
  let inCommands = false;
  for (const line of lines) {
    if (/^Sudoers entry:/.test(line)) {
      rule = { runAsUsers: [], runAsGroups: [], options: [], commands: [] };
      rules.push(rule);
      inCommands = false;
      continue;
    }
    if (rule === undefined) continue;
    if (line.trim() === "" || !/^\s/.test(line)) {
      if (line.trim() !== "") rule = undefined;
      inCommands = false;
      continue;
    }
    const field = /^\s+(RunAsUsers|RunAsGroups|Options|Commands):\s*(.*)$/.exec(line);
    if (field) {
      const value = (field[2] as string).trim();
      inCommands = field[1] === "Commands";
      if (field[1] === "RunAsUsers") rule.runAsUsers = splitListEntries(value);
      else if (field[1] === "RunAsGroups") rule.runAsGroups = splitListEntries(value);
      else if (field[1] === "Options") rule.options = splitListEntries(value);
      else if (value !== "") rule.commands.push(value);
      continue;
    }
    if (/^\s+[A-Za-z]+:/.test(line) && !/^\t/.test(line)) {
      // Another field of the entry (Cwd:, Chroot:, Timeout:, ...): not a command.
      inCommands = false;
      continue;
    }
    if (inCommands) rule.commands.push(line.trim());
  }
  return { defaults, specificDefaults, rules };
}

/** `"%domain users"` → `%domain users`, `CORP\\carol` → `CORP\carol`: a listed name as the account has it. */
export function unquoteListedName(entry: string): string {
  const text = entry.length >= 2 && entry.startsWith('"') && entry.endsWith('"') ? entry.slice(1, -1) : entry;
  return text.replace(/\\(["\\,:=()! ])/g, "$1");
}

/** Whether a rule needs no password (NOPASSWD). */
export function isPasswordless(rule: ListedRule): boolean {
  return rule.options.includes("!authenticate");
}
