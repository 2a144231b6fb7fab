/**
 * Whether a user can really start a script: its shebang's interpreter, every link on the way to
 * it, and for a venv the `home` of pyvenv.cfg, where the interpreter finds its standard library.
 * The kernel refuses exec with EACCES when any directory on the way, or the final file, is not
 * searchable/executable for the user; a venv's `python` is usually a link into another Python, so
 * a venv made from a Python under /root passes every check on the script and still cannot start.
 *
 * Pure apart from the reads of the ChainView; judged with the mode classes of access.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { EXECUTE, READ, permits, type ModeInfo, type Principal } from "./access.js";

export interface NodeInfo extends ModeInfo {
  kind: "file" | "dir" | "link" | "other";
}

/** What the walk reads; each answers undefined when the path is missing or cannot be read. */
export interface ChainView {
  lstat(p: string): NodeInfo | undefined;
  readlink(p: string): string | undefined;
  /** The first bytes of a file (a shebang fits in 256). */
  head(p: string): string | undefined;
  readText(p: string): string | undefined;
}

export interface ChainProblem {
  /** The path that stops the user. */
  culprit: string;
  /** Why, in words that name the user. */
  problem: string;
}

interface Walked {
  /** Where the path finally resolves. */
  real: string;
  /** Each link followed, "link -> target". */
  links: string[];
  problem?: ChainProblem;
}

const MAX_LINKS = 40;

function modeText(info: ModeInfo): string {
  return `owner uid ${info.uid}, group ${info.gid}, mode ${(info.mode & 0o7777).toString(8).padStart(4, "0")}`;
}

/**
 * Resolve `p` component by component as the kernel does for `who`: every directory must be
 * searchable, every link is followed (and listed), and the final node must allow `finalBits`.
 */
export function walkPath(p: string, who: Principal, userName: string, view: ChainView, finalBits: number, finalKind: "file" | "dir"): Walked {
  const links: string[] = [];
  let pending = path.resolve(p).split("/").filter(Boolean);
  let current = "/";
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    const next = path.join(current, name);
    const info = view.lstat(next);
    if (info === undefined) return { real: path.join(next, ...pending), links, problem: { culprit: next, problem: `${next} does not exist (or cannot be examined)` } };
    const last = pending.length === 0;
    // Where the path was going when it stopped: the culprit and what lies beyond it.
    const stop = (culprit: string, problem: string): Walked => ({ real: path.join(next, ...pending), links, problem: { culprit, problem } });
    if (info.kind === "link") {
      if (++hops > MAX_LINKS) return stop(next, `too many links on the way to ${p}`);
      const target = view.readlink(next);
      if (target === undefined) return stop(next, `cannot read the link ${next}`);
      links.push(`${next} -> ${target}`);
      const resolved = path.resolve(current, target);
      pending = [...resolved.split("/").filter(Boolean), ...pending];
      current = "/";
      continue;
    }
    if (!last || finalKind === "dir") {
      if (info.kind !== "dir") return stop(next, `${next} is not a directory`);
      if (!permits(info, who, EXECUTE)) {
        return stop(next, `${userName} cannot enter ${next} (${modeText(info)})`);
      }
    }
    if (last && finalKind === "file") {
      if (info.kind !== "file") return stop(next, `${next} is not a regular file`);
      if (!permits(info, who, finalBits)) {
        const needs = finalBits & READ ? "readable and executable" : "executable";
        return stop(next, `${next} is not ${needs} by ${userName} (${modeText(info)})`);
      }
    }
    current = next;
  }
  return { real: current, links };
}

export interface Shebang {
  interpreter: string;
  argument?: string;
}

/**
 * The interpreter a script names: `#!/path [arg]`, or pip's trampoline for paths too long for a
 * shebang (`#!/bin/sh` then `'''exec' "/path/python" "$0" "$@"`), which names the real one.
 */
export function parseShebang(head: string): Shebang | undefined {
  if (!head.startsWith("#!")) return undefined;
  const lines = head.split("\n");
  const words = (lines[0] as string).slice(2).trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return undefined;
  const trampoline = /^'''exec' "([^"]+)" "\$0" "\$@"/.exec(lines[1] ?? "");
  if (trampoline && (words[0] === "/bin/sh" || words[0] === "/usr/bin/sh")) return { interpreter: trampoline[1] as string };
  return words.length > 1 ? { interpreter: words[0] as string, argument: words.slice(1).join(" ") } : { interpreter: words[0] as string };
}

/** `home = DIR` of a pyvenv.cfg. */
export function pyvenvHome(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const match = /^\s*home\s*=\s*(.+?)\s*$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

export interface InterpreterChain {
  /** What was followed, for the detail of a passing row. */
  steps: string[];
  problem?: ChainProblem & { fix: string };
}

/** The fix for an interpreter the user cannot run: a venv is rebuilt from the system's Python. */
function fixFor(venv: string | undefined, culprit: string): string {
  if (venv !== undefined) {
    return `as root: rebuild the venv with a Python every user can run: \`/usr/bin/python3 -m venv --clear ${venv}\`, then reinstall its packages with \`${venv}/bin/pip install jupyterhub jupyterlab\` (and the site's others)`;
  }
  return `as root: install the server with an interpreter every user can run (e.g. /usr/bin/python3), or make ${culprit} usable by all (chmod a+x) if it is meant to be shared`;
}

/**
 * Follow `script` (already resolved and judged runnable) to the interpreter that really runs.
 * `searchPath`: where `#!/usr/bin/env NAME` finds NAME (the server's PATH).
 */
export function followInterpreter(script: string, who: Principal, userName: string, view: ChainView, searchPath: readonly string[]): InterpreterChain {
  const head = view.head(script);
  const shebang = head === undefined ? undefined : parseShebang(head);
  if (shebang === undefined) return { steps: [] };
  const steps: string[] = [`${script}: #!${shebang.interpreter}${shebang.argument === undefined ? "" : ` ${shebang.argument}`}`];
  let interpreter = shebang.interpreter;
  const envName = path.basename(interpreter) === "env" && shebang.argument !== undefined ? shebang.argument.split(/\s+/).find((w) => !w.startsWith("-")) : undefined;
  if (envName !== undefined) {
    const env = walkPath(interpreter, who, userName, view, EXECUTE, "file");
    if (env.problem) return { steps, problem: { ...env.problem, fix: fixFor(undefined, env.problem.culprit) } };
    const found = searchPath.map((dir) => path.join(dir, envName)).find((candidate) => view.lstat(candidate) !== undefined);
    if (found === undefined) {
      return { steps, problem: { culprit: envName, problem: `\`${envName}\` (from \`#!${interpreter} ${shebang.argument ?? ""}\`) is in none of ${searchPath.join(":")}`, fix: "as root: name the interpreter by its full path in the shebang" } };
    }
    steps.push(`${envName} on the server's PATH: ${found}`);
    interpreter = found;
  }
  // A venv's interpreter is bin/python* with pyvenv.cfg one level above bin.
  const venvRoot = path.dirname(path.dirname(interpreter));
  const cfg = view.readText(path.join(venvRoot, "pyvenv.cfg"));
  const venv = cfg === undefined ? undefined : venvRoot;
  const walked = walkPath(interpreter, who, userName, view, EXECUTE, "file");
  steps.push(...walked.links);
  if (walked.problem) {
    const what = venv !== undefined ? `the venv's ${path.basename(interpreter)} resolves to ${walked.real}` : `the interpreter ${interpreter} resolves to ${walked.real}`;
    return { steps, problem: { culprit: walked.problem.culprit, problem: `${what}: ${walked.problem.problem}, so ${userName} cannot run it`, fix: fixFor(venv, walked.problem.culprit) } };
  }
  if (walked.real !== interpreter) steps.push(`${interpreter} is ${walked.real}`);
  if (cfg !== undefined) {
    const home = pyvenvHome(cfg);
    if (home !== undefined) {
      steps.push(`${path.join(venvRoot, "pyvenv.cfg")}: home = ${home}`);
      const base = walkPath(home, who, userName, view, EXECUTE, "dir");
      if (base.problem) {
        return {
          steps,
          problem: {
            culprit: base.problem.culprit,
            problem: `the venv ${venvRoot} was made from the Python in ${home} (pyvenv.cfg's home): ${base.problem.problem}, so its python cannot find its standard library as ${userName}`,
            fix: fixFor(venvRoot, base.problem.culprit),
          },
        };
      }
    }
  }
  return { steps };
}

/** The view of the running process (root or the hub): a path it cannot examine reads as missing. */
export const realChainView: ChainView = {
  lstat(p) {
    try {
      const stats = fs.lstatSync(p);
      const kind = stats.isSymbolicLink() ? "link" : stats.isDirectory() ? "dir" : stats.isFile() ? "file" : "other";
      return { kind, uid: stats.uid, gid: stats.gid, mode: stats.mode };
    } catch {
      return undefined;
    }
  },
  readlink(p) {
    try {
      return fs.readlinkSync(p);
    } catch {
      return undefined;
    }
  },
  head(p) {
    try {
      const fd = fs.openSync(p, "r");
      try {
        const buffer = Buffer.alloc(256);
        const count = fs.readSync(fd, buffer, 0, buffer.length, 0);
        return buffer.subarray(0, count).toString("latin1");
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return undefined;
    }
  },
  readText(p) {
    try {
      return fs.readFileSync(p, "utf8");
    } catch {
      return undefined;
    }
  },
};
