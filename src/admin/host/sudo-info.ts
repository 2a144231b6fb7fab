/**
 * What sudo tells about itself, parsed from its own output (pure): its version, and the
 * `secure_path` that becomes PATH of the commands it runs. That PATH is what the mediator's
 * `#!/usr/bin/env node` line searches for node.
 */

export interface SudoVersion {
  major: number;
  minor: number;
  patch: number;
}

/** First line of `sudo -V`: "Sudo version 1.9.13p3". */
export function parseSudoVersion(text: string): SudoVersion | undefined {
  const match = /^Sudo version (\d+)\.(\d+)(?:\.(\d+))?/m.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

/** Regular expressions in command arguments arrived in sudo 1.9.10. */
export function supportsArgumentRegex(version: SudoVersion): boolean {
  if (version.major !== 1) return version.major > 1;
  if (version.minor !== 9) return version.minor > 9;
  return version.patch >= 10;
}

/** `sudo -V` as root: "Value to override user's $PATH with: /usr/local/sbin:..." (absent when unset). */
export function securePathFromVersionOutput(text: string): string | undefined {
  const match = /^Value to override user's \$PATH with: (.*)$/m.exec(text);
  return match ? (match[1] as string).trim() : undefined;
}

/** Split a sudo -l Defaults list on the commas sudo puts between entries (values escape theirs). */
function splitDefaults(list: string): string[] {
  const entries: string[] = [];
  let current = "";
  for (let i = 0; i < list.length; i++) {
    const char = list[i] as string;
    if (char === "\\" && i + 1 < list.length) {
      current += char + (list[i + 1] as string);
      i++;
    } else if (char === ",") {
      entries.push(current.trim());
      current = "";
    } else {
      current += char;
    }
  }
  if (current.trim() !== "") entries.push(current.trim());
  return entries;
}

function unescapeValue(value: string): string {
  let text = value.trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
  return text.replace(/\\(.)/g, "$1");
}

export type SecurePathSetting = { state: "set"; value: string } | { state: "unset" } | { state: "unknown" };

/**
 * `sudo -l [-U USER]`: the "Matching Defaults entries for USER" block holds the Defaults that apply
 * to USER, global and user-specific, in order; the last secure_path wins, and `!secure_path`
 * unsets it. "unknown" when the block is absent (USER may run nothing, so sudo shows nothing).
 */
export function securePathFromListOutput(text: string): SecurePathSetting {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => /^Matching Defaults entries for /.test(line));
  if (start < 0) return { state: "unknown" };
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s/.test(line) || line.trim() === "") break;
    block.push(line.trim());
  }
  let setting: SecurePathSetting = { state: "unset" };
  for (const entry of splitDefaults(block.join(" "))) {
    if (entry === "!secure_path") setting = { state: "unset" };
    const match = /^secure_path\s*=\s*(.*)$/.exec(entry);
    if (match) setting = { state: "set", value: unescapeValue(match[1] as string) };
  }
  return setting;
}

export interface DefaultsLocation {
  file: string;
  line: number;
  text: string;
}

/** Lines of sudoers files that set secure_path, so an error can say which one to change. */
export function findSecurePathLines(files: ReadonlyArray<{ file: string; text: string }>): DefaultsLocation[] {
  const found: DefaultsLocation[] = [];
  for (const { file, text } of files) {
    text.split("\n").forEach((line, index) => {
      if (/^\s*Defaults\b.*\bsecure_path\s*=/.test(line)) found.push({ file, line: index + 1, text: line.trim() });
    });
  }
  return found;
}

/** Which directories `env node` would search, in order. */
export function pathDirectories(value: string): string[] {
  return value.split(":").filter((dir) => dir.startsWith("/"));
}

const SECURE_PATH_VALUE = /(\bsecure_path\s*=\s*)("[^"]*"|[^\s,]+)/;

/** The value a `Defaults ... secure_path=...` line sets, unquoted. */
export function securePathValue(line: string): string | undefined {
  const match = SECURE_PATH_VALUE.exec(line);
  return match ? unescapeValue(match[2] as string) : undefined;
}

/** The same line with another secure_path value (quoted), everything else kept. */
export function replaceSecurePath(line: string, value: string): string {
  return line.replace(SECURE_PATH_VALUE, (_all, head: string) => `${head}"${value}"`);
}
