/**
 * Which `node` the mediator gets under sudo. The installed command starts with
 * `#!/usr/bin/env node`, and sudo replaces PATH with `secure_path`, so node must be found in one
 * of those directories: otherwise every spawn fails with "/usr/bin/env: 'node': No such file or
 * directory" (exit 127).
 *
 * secure_path is read from sudo itself: `sudo -l -U HUB` (as root) lists the Defaults that apply
 * to the hub, user-specific ones included; when the hub may run nothing yet, sudo shows nothing and
 * the global value from `sudo -V` (as root) is used. The hub user can list its own (`sudo -n -l`).
 */
import fs from "node:fs";
import path from "node:path";
import { currentUid, runCommand } from "./commands.js";
import {
  findSecurePathLines,
  parseSudoVersion,
  pathDirectories,
  replaceSecurePath,
  securePathFromListOutput,
  securePathValue,
  securePathFromVersionOutput,
  type DefaultsLocation,
  type SecurePathSetting,
  type SudoVersion,
} from "./sudo-info.js";

export interface SecurePathReport {
  setting: SecurePathSetting;
  /** The command it was read from, for messages. */
  source: string;
}

/** secure_path as it applies to `hubUser`'s sudo calls. */
export function securePathFor(hubUser: string, currentUser: string | undefined): SecurePathReport {
  if (currentUid() === 0) {
    const listed = securePathFromListOutput(runCommand("sudo", ["-n", "-l", "-U", hubUser]).stdout);
    if (listed.state !== "unknown") return { setting: listed, source: `sudo -l -U ${hubUser}` };
    const version = runCommand("sudo", ["-V"]).stdout;
    // As root, sudo -V prints the policy's settings; no "override" line means secure_path is unset.
    if (parseSudoVersion(version)) {
      const value = securePathFromVersionOutput(version);
      return { setting: value === undefined ? { state: "unset" } : { state: "set", value }, source: "sudo -V" };
    }
    return { setting: { state: "unknown" }, source: "sudo -V" };
  }
  if (currentUser === hubUser) {
    return { setting: securePathFromListOutput(runCommand("sudo", ["-n", "-l"]).stdout), source: "sudo -n -l" };
  }
  return { setting: { state: "unknown" }, source: "(needs root or the hub user)" };
}

/** The first `name` that `env` would run from these directories. */
export function findOnPath(name: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      const stats = fs.statSync(candidate);
      if (stats.isFile() && (stats.mode & 0o111) !== 0) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function sudoVersion(): SudoVersion | undefined {
  return parseSudoVersion(runCommand("sudo", ["-V"]).stdout);
}

/** The files sudo reads by default (it skips names with a "." or ending in "~" in sudoers.d). */
function sudoersFiles(): Array<{ file: string; text: string }> {
  const files: Array<{ file: string; text: string }> = [];
  const read = (file: string) => {
    try {
      files.push({ file, text: fs.readFileSync(file, "utf8") });
    } catch {
      // unreadable (not root) or gone
    }
  };
  read("/etc/sudoers");
  let names: string[] = [];
  try {
    names = fs.readdirSync("/etc/sudoers.d").sort();
  } catch {
    // no drop-in directory
  }
  for (const name of names) if (!name.includes(".") && !name.endsWith("~")) read(path.join("/etc/sudoers.d", name));
  return files;
}

export function securePathLocations(): DefaultsLocation[] {
  return findSecurePathLines(sudoersFiles());
}

export type NodeUnderSudo =
  | { state: "found"; node: string; securePath: string; source: string }
  | { state: "missing"; securePath: string; source: string }
  | { state: "unset"; source: string }
  | { state: "unknown"; source: string };

export function nodeUnderSudo(hubUser: string, currentUser: string | undefined): NodeUnderSudo {
  const { setting, source } = securePathFor(hubUser, currentUser);
  if (setting.state === "unset") return { state: "unset", source };
  if (setting.state === "unknown") return { state: "unknown", source };
  const node = findOnPath("node", pathDirectories(setting.value));
  if (node === undefined) return { state: "missing", securePath: setting.value, source };
  return { state: "found", node, securePath: setting.value, source };
}

/**
 * What to tell an admin whose node is not on secure_path: the line that sets the value sudo
 * reported (the last such line wins), rewritten with node's directory added.
 */
export function securePathFix(securePath: string, nodeDir: string, locations: readonly DefaultsLocation[]): string {
  const newValue = `${securePath}:${nodeDir}`;
  const matching = locations.filter((l) => securePathValue(l.text) === securePath);
  const target = matching[matching.length - 1] ?? locations[locations.length - 1];
  const linkDir = pathDirectories(securePath)[0] ?? "/usr/bin";
  const link = `or link node into a directory on it: \`ln -s ${path.join(nodeDir, "node")} ${path.join(linkDir, "node")}\``;
  if (target === undefined) return `as root, add \`Defaults secure_path="${newValue}"\` with \`visudo\`, ${link}`;
  const edit = target.file === "/etc/sudoers" ? "visudo" : `visudo -f ${target.file}`;
  return `as root, with \`${edit}\`, change line ${target.line} \`${target.text}\` to \`${replaceSecurePath(target.text, newValue)}\`, ${link}`;
}
