/**
 * What `--install` may do to a file that already holds a rule for the same hub (pure). A second
 * install must never cut anyone off: a group rule is never replaced by a user rule, and users
 * already in the file stay. When the new rule would drop someone, the install is refused with the
 * exact command (or `usermod`) that keeps everyone.
 */
import { shellQuote } from "../../protocol/index.js";
import { logicalLines, readByIncludeDir } from "./files.js";
import { commandAliasName, type Runas } from "./rule.js";

export interface ExistingRule {
  group?: string;
  users: string[];
}

function unquote(word: string): string {
  const trimmed = word.trim();
  return trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).replaceAll('\\"', '"') : trimmed;
}

/** The Runas list of the hub's rule that uses our alias in `text`, or undefined when there is none. */
export function existingRule(text: string, hubUser: string): ExistingRule | undefined {
  const alias = commandAliasName(hubUser);
  for (const line of logicalLines({ file: "", text })) {
    const match = /^\S.*?\sALL\s*=\s*\((.*)\)\s*NOPASSWD:\s*(\S+)\s*$/.exec(line.text);
    if (!match || match[2] !== alias) continue;
    const members = (match[1] as string).split(",").map(unquote).filter((m) => m !== "" && m !== "!#0");
    const rule: ExistingRule = { users: [] };
    for (const member of members) {
      if (member.startsWith("%")) rule.group = member.slice(1);
      else rule.users.push(member);
    }
    return rule;
  }
  return undefined;
}

export interface MergeFacts {
  hubUser: string;
  runas: Runas;
  /** The --file name. */
  file: string;
  /** The rule already in that file, if any. */
  existing?: ExistingRule;
  /** Members of a group, for a group that would replace a user list. */
  groupMembers?: readonly string[];
}

/** Undefined when the new rule keeps everyone the file's rule serves; else the refusal. */
export function mergeRefusal(f: MergeFacts): string | undefined {
  const old = f.existing;
  if (old === undefined) return undefined;
  const fileOption = f.file === "ts-sudospawner" ? "" : ` --file ${shellQuote(f.file)}`;
  const command = (runas: string) => `ts-sudospawner sudoers --hub-user ${shellQuote(f.hubUser)} ${runas}${fileOption} --install`;
  if (f.runas.kind === "users") {
    if (old.group !== undefined) {
      const adds = f.runas.users.map((u) => `usermod -aG ${shellQuote(old.group as string)} ${shellQuote(u)}`).join(" && ");
      return `/etc/sudoers.d/${f.file} lets ${f.hubUser} serve the group ${old.group}; a rule for ${f.runas.users.join(", ")} alone would replace it and cut off every other member. Keep the group rule and add them to the group instead, as root: \`${adds}\``;
    }
    const merged = [...new Set([...old.users, ...f.runas.users])];
    if (merged.length === f.runas.users.length) return undefined;
    return `/etc/sudoers.d/${f.file} already lets ${f.hubUser} serve ${old.users.join(", ")}; a rule for ${f.runas.users.join(", ")} alone would cut off the others. To keep them and add the new ones, run as root: \`${command(`--users ${shellQuote(merged.join(","))}`)}\``;
  }
  if (old.group !== undefined && old.group !== f.runas.group) {
    return `/etc/sudoers.d/${f.file} lets ${f.hubUser} serve the group ${old.group}; replacing it with the group ${f.runas.group} would cut off its members. Put them into ${f.runas.group} first (\`usermod -aG ${shellQuote(f.runas.group)} USER\` for each member of ${old.group}), then remove the file (\`rm /etc/sudoers.d/${f.file}\`) and run the command again`;
  }
  const group = f.runas.group;
  const left = old.users.filter((u) => !(f.groupMembers ?? []).includes(u));
  if (left.length > 0) {
    const adds = left.map((u) => `usermod -aG ${shellQuote(group)} ${shellQuote(u)}`).join(" && ");
    return `/etc/sudoers.d/${f.file} lets ${f.hubUser} serve ${left.join(", ")}, who ${left.length === 1 ? "is" : "are"} not in the group ${f.runas.group}; add them first, as root: \`${adds}\`, then run the command again`;
  }
  return undefined;
}

/** Files of the include directory, other than `file`, that define the hub's alias (sudo rejects a second definition). */
export function aliasDefinedElsewhere(files: readonly { name: string; text: string }[], file: string, hubUser: string): string[] {
  const alias = commandAliasName(hubUser);
  return files
    .filter((entry) => entry.name !== file && readByIncludeDir(entry.name))
    .filter((entry) => logicalLines({ file: entry.name, text: entry.text }).some((line) => new RegExp(`^Cmnd_Alias\\s+(.*:\\s*)?${alias}\\s*=`).test(line.text)))
    .map((entry) => entry.name);
}

/** A name sudo's includedir reads, and nothing else: letters, digits, "_" and "-". */
export function validInstallName(name: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name) && readByIncludeDir(name);
}
