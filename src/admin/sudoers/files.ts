/**
 * The text of /etc/sudoers and the files it includes, read just well enough to point an admin at
 * the line to change (pure; the files are read by the caller). What a rule *means* comes from sudo
 * itself (`sudo -ll`, `cvtsudoers`); this only finds where it is written: logical lines (a
 * trailing backslash continues a line), comments removed, and the include directives followed.
 */
import path from "node:path";

export interface SudoersFile {
  file: string;
  text: string;
}

export interface SudoersLine {
  file: string;
  /** 1-based number of the first physical line. */
  line: number;
  /** The logical line without its comment, continuations joined with a space. */
  text: string;
}

/**
 * Remove a comment: a `#` that begins a word, unless it is a uid (`#1000`, `!#0`, `%#100`) or
 * an include directive at the start of the line; never inside double quotes or after a backslash.
 */
export function stripComment(line: string): string {
  if (/^\s*#include(dir)?\s/.test(line)) return line.trimEnd();
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line.charAt(i);
    if (char === "\\") {
      i++;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char !== "#" || quoted) continue;
    const before = i === 0 ? " " : line.charAt(i - 1);
    const startsWord = /[\s,(=:]/.test(before);
    const isId = /[0-9]/.test(line.charAt(i + 1)) || before === "!" || before === "%";
    if (startsWord && !isId) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

export function logicalLines(file: SudoersFile): SudoersLine[] {
  const physical = file.text.split("\n");
  const lines: SudoersLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    const first = i + 1;
    let text = stripComment(physical[i] as string);
    // An odd number of trailing backslashes continues the line.
    while (/(^|[^\\])(\\\\)*\\$/.test(text) && i + 1 < physical.length) {
      i++;
      text = `${text.slice(0, -1).trimEnd()} ${stripComment(physical[i] as string).trim()}`;
    }
    if (text.trim() !== "") lines.push({ file: file.file, line: first, text: text.trim() });
  }
  return lines;
}

export interface IncludeDirective {
  kind: "file" | "dir";
  path: string;
}

/** `@include FILE`, `@includedir DIR` (and the old `#include`/`#includedir`), relative to the including file. */
export function includeDirective(line: SudoersLine): IncludeDirective | undefined {
  const match = /^[@#](include|includedir)\s+(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$/.exec(line.text);
  if (!match) return undefined;
  const target = (match[2] ?? match[3] ?? "").replace(/\\(.)/g, "$1");
  return { kind: match[1] === "include" ? "file" : "dir", path: path.resolve(path.dirname(line.file), target) };
}

/** Files sudo reads from an include directory: no name with a "." or ending in "~". */
export function readByIncludeDir(name: string): boolean {
  return !name.includes(".") && !name.endsWith("~");
}

export interface SudoersReader {
  /** The text of a file, or undefined when it cannot be read. */
  read(file: string): string | undefined;
  /** The entries of a directory, or undefined. */
  list(dir: string): string[] | undefined;
}

const MAX_DEPTH = 16;

/** /etc/sudoers and every file it includes, in the order sudo reads them. */
export function sudoersFiles(reader: SudoersReader, main = "/etc/sudoers"): SudoersFile[] {
  const files: SudoersFile[] = [];
  const seen = new Set<string>();
  const visit = (file: string, depth: number) => {
    if (seen.has(file) || depth > MAX_DEPTH) return;
    seen.add(file);
    const text = reader.read(file);
    if (text === undefined) return;
    const entry = { file, text };
    files.push(entry);
    for (const line of logicalLines(entry)) {
      const include = includeDirective(line);
      if (include === undefined) continue;
      if (include.kind === "file") visit(include.path, depth + 1);
      else for (const name of [...(reader.list(include.path) ?? [])].sort()) if (readByIncludeDir(name)) visit(path.join(include.path, name), depth + 1);
    }
  };
  visit(main, 0);
  return files;
}

export type LineKind = "defaults" | "alias" | "include" | "rule";

export function lineKind(line: SudoersLine): LineKind {
  if (/^Defaults([:@>!\s]|$)/.test(line.text)) return "defaults";
  if (/^(User|Runas|Host|Cmnd|Cmd)_Alias\s/.test(line.text)) return "alias";
  if (/^[@#]include(dir)?\s/.test(line.text)) return "include";
  return "rule";
}

/** The words of a line as sudoers splits them (quotes and backslash escapes undone), for matching. */
export function words(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  const flush = () => {
    if (current !== "") out.push(current);
    current = "";
  };
  for (let i = 0; i < text.length; i++) {
    const char = text.charAt(i);
    if (char === "\\" && i + 1 < text.length) {
      const next = text.charAt(i + 1);
      // Inside quotes only \" is an escape; outside, any character may be escaped.
      if (!quoted || next === '"') {
        current += next;
        i++;
        continue;
      }
      current += char;
      continue;
    }
    if (char === '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && /[\s,=():!]/.test(char)) {
      flush();
      continue;
    }
    current += char;
  }
  flush();
  return out;
}

/** Cmnd_Alias names whose definition lists `command` (a path, compared word by word). */
export function aliasesNaming(lines: readonly SudoersLine[], command: string): string[] {
  const names: string[] = [];
  for (const line of lines) {
    const match = /^Cmnd_Alias\s+(.*)$/.exec(line.text);
    if (!match) continue;
    for (const definition of (match[1] as string).split(":")) {
      const [name, list] = definition.split(/=(.*)/s);
      if (list !== undefined && words(list).includes(command)) names.push((name as string).trim());
    }
  }
  return names;
}

export function formatLocation(line: SudoersLine): string {
  return `${line.file}:${line.line}`;
}

/** How to edit the file a line is in: `visudo` for /etc/sudoers, `visudo -f FILE` otherwise. */
export function editCommand(file: string): string {
  return file === "/etc/sudoers" ? "visudo" : `visudo -f ${file}`;
}
