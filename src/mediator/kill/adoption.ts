/**
 * Live migration from the Python sudospawner: which processes without our mark still count as
 * servers, so that a hub switched to ts-sudospawner while servers run can poll and stop them.
 *
 * The Python mediator starts a server like this: sudo runs `python3 .../sudospawner`, which forks;
 * the fork calls setpgrp(), starts the single-user server with Popen, answers the pid and then
 * waits for that one child until it exits. No mark is set. Two rules adopt such a server, and
 * nothing else (ownership.ts asks only about processes that are not ours by the mark):
 *
 * 1. Lineage, always on. The process's parent is a lingering Python sudospawner fork of the same
 *    user: its executable is a Python interpreter and its command line runs a script named
 *    `sudospawner`. That fork has exactly one child, the server, and exits when the server does,
 *    so a reused pid cannot be found under it, and a `sleep` the user started is not its child.
 *
 * 2. Orphans, only while the root policy says so: `"adopt": {"until": "2026-12-31T00:00:00Z"}`.
 *    When the fork is gone (killed to save its memory, say), the server's parent is PID 1 or a
 *    subreaper. Until the given time, a process counts when all of these hold: no mark at all in
 *    its environment, a JupyterHub API token there (every hub-started server has one), a parent
 *    that is PID 1 or not one of the user's own processes, and it runs one of the install's
 *    single-user executables (next to the mediator, the policy's, or `adopt.executables`),
 *    compared by real path with /proc/PID/exe or with the script its interpreter runs.
 *
 * Everything read comes from /proc through a ProcView, so the rules are unit-tested on made-up
 * process tables; docs/security.md states them for admins.
 */
import { readFileSync, readlinkSync, realpathSync } from "node:fs";
import { basename, join } from "node:path";
import { SINGLEUSER_NAMES } from "../../install/executable.js";
import { STAT_FIELD, readProcFile, statNumber } from "../../system/proc-stat.js";
import type { UnownedReason } from "../../protocol/wire.js";
import { MARK_ENV } from "../env-policy.js";

/** The root policy's `adopt` setting. */
export interface AdoptPolicy {
  /** Adoption of orphans stops at this time (ms since the epoch). */
  untilMs: number;
  /** As written in the policy, for messages. */
  until: string;
  /** More single-user executables to recognise (absolute paths), e.g. the old install's. */
  executables: string[];
}

/** What adoption reads about a process; undefined where it cannot be read. */
export interface ProcView {
  environ(pid: number): Buffer | undefined;
  stat(pid: number): string | undefined;
  cmdline(pid: number): string[] | undefined;
  /** readlink of /proc/PID/exe. */
  exe(pid: number): string | undefined;
  /** Real uid from /proc/PID/status. */
  uid(pid: number): number | undefined;
  realpath(p: string): string | undefined;
}

function read(pid: number, name: string): Buffer | undefined {
  const data = readProcFile(pid, name);
  return data instanceof Buffer ? data : undefined;
}

export const realProc: ProcView = {
  environ: (pid) => read(pid, "environ"),
  stat: (pid) => read(pid, "stat")?.toString("latin1"),
  cmdline: (pid) => {
    const data = read(pid, "cmdline");
    return data === undefined ? undefined : data.toString("utf8").split("\0").filter((arg, i, all) => arg !== "" || i < all.length - 1);
  },
  exe: (pid) => {
    try {
      return readlinkSync(`/proc/${pid}/exe`);
    } catch {
      return undefined;
    }
  },
  uid: (pid) => {
    try {
      const match = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  },
  realpath: (p) => {
    try {
      return realpathSync(p);
    } catch {
      return undefined;
    }
  },
};

const PYTHON = /^python[0-9.]*$/;
const TOKEN_NAMES = ["JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"];

/** The command line of a Python sudospawner mediator: `python3 [-opts] /path/sudospawner ...`. */
export function isPythonMediator(cmdline: readonly string[], exe: string | undefined): boolean {
  if (exe === undefined || !PYTHON.test(basename(exe.replace(/ \(deleted\)$/, "")))) return false;
  // The script is the first argument that is not an interpreter option (within the first three).
  const script = cmdline.slice(1, 4).find((arg) => !arg.startsWith("-"));
  return script !== undefined && basename(script) === "sudospawner";
}

function environEntries(environ: Buffer): string[] {
  return environ.toString("latin1").split("\0");
}

/** The executables a process may be running: its exe, and the script its interpreter was given. */
export function runningFiles(cmdline: readonly string[], exe: string | undefined, view: Pick<ProcView, "realpath">): string[] {
  const files: string[] = [];
  if (exe !== undefined) files.push(exe.replace(/ \(deleted\)$/, ""));
  // `#!/usr/bin/python3` (or `#!/usr/bin/env node`) turns argv into [interpreter, (one shebang option), script, ...].
  for (const arg of cmdline.slice(1, 3)) {
    if (!arg.startsWith("/")) continue;
    const real = view.realpath(arg);
    if (real !== undefined) files.push(real);
  }
  return files;
}

export type AdoptionReason = { rule: "lineage"; parent: number; mediator: string } | { rule: "policy"; until: string; executable: string };

export interface AdoptionInput {
  /** Our uid: the user the mediator runs as. */
  uid: number;
  adopt: AdoptPolicy | undefined;
  /** Real paths of the single-user executables this install may run; computed only when needed. */
  singleUserFiles: () => readonly string[];
  now: number;
}

/** Why `pid` counts as a server the Python sudospawner started, or undefined when it does not. */
export function adoptionReason(pid: number, input: AdoptionInput, view: ProcView = realProc): AdoptionReason | undefined {
  const stat = view.stat(pid);
  const ppid = stat === undefined ? undefined : statNumber(stat, STAT_FIELD.ppid);
  if (ppid === undefined || view.uid(pid) !== input.uid) return undefined;

  // 1. Lineage: the parent is a lingering Python sudospawner fork of the same user.
  if (ppid > 1 && view.uid(ppid) === input.uid) {
    const parentCmdline = view.cmdline(ppid);
    if (parentCmdline !== undefined && isPythonMediator(parentCmdline, view.exe(ppid))) {
      return { rule: "lineage", parent: ppid, mediator: parentCmdline.slice(0, 3).join(" ") };
    }
  }

  // 2. Orphans, while the site policy allows it.
  const adopt = input.adopt;
  if (adopt === undefined || input.now >= adopt.untilMs) return undefined;
  const executable = orphanedServerExecutable(pid, ppid, input, view);
  return executable === undefined ? undefined : { rule: "policy", until: adopt.until, executable };
}

/**
 * The single-user executable `pid` runs if it looks like a server the Python sudospawner started
 * whose fork is gone: no mark at all, a JupyterHub token, a parent that is PID 1 or not the
 * user's, and one of the install's single-user executables (or the policy's adopt.executables).
 */
function orphanedServerExecutable(pid: number, ppid: number, input: AdoptionInput, view: ProcView): string | undefined {
  const environ = view.environ(pid);
  if (environ === undefined) return undefined;
  const entries = environEntries(environ);
  if (entries.some((entry) => entry.startsWith(`${MARK_ENV}=`))) return undefined;
  if (!entries.some((entry) => TOKEN_NAMES.some((name) => entry.startsWith(`${name}=`) && entry.length > name.length + 1))) return undefined;
  if (ppid !== 1 && view.uid(ppid) === input.uid) return undefined;
  const cmdline = view.cmdline(pid) ?? [];
  const known = new Set([...input.singleUserFiles(), ...(input.adopt?.executables ?? []).map((file) => view.realpath(file)).filter((file): file is string => file !== undefined)]);
  return runningFiles(cmdline, view.exe(pid), view).find((file) => known.has(file));
}

/**
 * Why a live process of the user that is not ours (and not adopted) was left alone, for the kill
 * answer and the log: an orphaned Python-started server (only the policy's "adopt" lets us stop
 * it), or anything else (a reused pid, a kernel, another tool's process).
 */
export function unownedReason(pid: number, input: AdoptionInput, view: ProcView = realProc): UnownedReason {
  const stat = view.stat(pid);
  const ppid = stat === undefined ? undefined : statNumber(stat, STAT_FIELD.ppid);
  if (ppid === undefined || view.uid(pid) !== input.uid) return "other";
  return orphanedServerExecutable(pid, ppid, input, view) === undefined ? "other" : "orphaned-python-server";
}

/** A log line for an adopted process. */
export function describeAdoption(pid: number, reason: AdoptionReason): string {
  return reason.rule === "lineage"
    ? `pid ${pid} is a server the Python sudospawner started (its parent ${reason.parent} is the mediator's waiting fork: ${reason.mediator}); treating it as ours`
    : `pid ${pid} runs ${reason.executable} without our mark and its Python mediator is gone; adopting it as the site policy's "adopt" allows until ${reason.until}`;
}

/** The real paths of the single-user executables the install may run: next to the mediator, and the policy's. */
export function singleUserFiles(binDir: () => string, policy: { singleuser?: string; profiles: Record<string, { executable: string }> }, view: Pick<ProcView, "realpath"> = realProc): string[] {
  const candidates: string[] = [];
  try {
    const dir = binDir();
    for (const name of SINGLEUSER_NAMES) candidates.push(join(dir, name));
  } catch {
    // started without a trustworthy path: only the policy's executables
  }
  if (policy.singleuser !== undefined) candidates.push(policy.singleuser);
  for (const profile of Object.values(policy.profiles)) candidates.push(profile.executable);
  return [...new Set(candidates.map((file) => view.realpath(file)).filter((file): file is string => file !== undefined))];
}

/** What ownership.ts asks for a process that does not carry our mark: adopt it? Logs why when it does. */
export type Adoption = ((pid: number) => boolean) & {
  /** Why a process that is not adopted was left alone (see unownedReason). */
  unowned?: (pid: number) => UnownedReason;
};

export function adoptionFor(
  context: { binDir: () => string; policy: { singleuser?: string; profiles: Record<string, { executable: string }>; adopt?: AdoptPolicy }; logger: { info(message: string): void } },
  view: ProcView = realProc,
): Adoption {
  let files: string[] | undefined;
  const input = (): AdoptionInput => ({
    uid: process.getuid?.() ?? -1,
    adopt: context.policy.adopt,
    singleUserFiles: () => (files ??= singleUserFiles(context.binDir, context.policy, view)),
    now: Date.now(),
  });
  const adoption: Adoption = (pid) => {
    const reason = adoptionReason(pid, input(), view);
    if (reason !== undefined) context.logger.info(describeAdoption(pid, reason));
    return reason !== undefined;
  };
  adoption.unowned = (pid) => unownedReason(pid, input(), view);
  return adoption;
}
