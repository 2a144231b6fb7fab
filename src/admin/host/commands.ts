/**
 * Small, synchronous questions to the host for the admin commands: run a program, look up an
 * account through NSS (getent, so LDAP/SSSD users count), list a user's groups, read a file that
 * may be absent.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { errorMessage } from "../../errors.js";
import type { Account } from "../../system/account.js";

/** A text file's contents, or undefined when it cannot be read (absent, no permission). */
export function readTextIfPresent(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

export interface CommandResult {
  /** Exit status; null when killed by a signal or not started. */
  status: number | null;
  stdout: string;
  stderr: string;
  /** Why it could not be started or was stopped (ENOENT, timeout). */
  failure?: string;
}

export interface RunOptions {
  input?: string;
  /** stderr goes here (an open fd) instead of being captured. */
  stderrFd?: number;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** No stdin, stdout or stderr at all (/dev/null): for a program in another SELinux domain. */
  silent?: boolean;
}

/** Run a program and wait for it. Never throws; the caller judges the result. */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): CommandResult {
  const result = spawnSync(file, args, {
    input: options.silent ? undefined : (options.input ?? ""),
    encoding: "utf8",
    // "/" rather than the caller's cwd: other users (the hub, USER) may not be able to enter it.
    cwd: "/",
    env: options.env ?? { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C", LC_ALL: "C" },
    timeout: options.timeoutMs ?? 60_000,
    killSignal: "SIGKILL",
    stdio: options.silent ? "ignore" : ["pipe", "pipe", options.stderrFd ?? "pipe"],
  });
  const out: CommandResult = { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  if (result.error) out.failure = errorMessage(result.error);
  return out;
}

/** The passwd entry of `name`, or undefined when there is none. */
export function lookupAccount(name: string): Account | undefined {
  const result = runCommand("getent", ["passwd", "--", name]);
  const line = result.status === 0 ? result.stdout.split("\n")[0] : undefined;
  if (!line) return undefined;
  const fields = line.split(":");
  if (fields.length < 7 || fields[0] !== name) return undefined;
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] as string, shell: fields[6] as string };
}

export function groupExists(name: string): boolean {
  return runCommand("getent", ["group", "--", name]).status === 0;
}

/** Primary and supplementary gids of `name` (`id -G`), as initgroups would give them. */
export function groupIds(name: string): number[] {
  const result = runCommand("id", ["-G", "--", name]);
  if (result.status !== 0) return [];
  return result.stdout.trim().split(/\s+/).filter(Boolean).map(Number);
}

export function currentUid(): number {
  return process.getuid?.() ?? -1;
}

export interface ChainStep {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/**
 * Owner and mode of "/" and every directory down to `p` (resolved, so links are followed), with
 * `p` itself last when `includeSelf`. Throws when a component cannot be examined.
 */
export function pathChain(p: string, includeSelf: boolean): ChainStep[] {
  const real = fs.realpathSync(p);
  const parts = real.split("/").filter(Boolean);
  const prefixes = ["/", ...parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`)];
  const chosen = includeSelf ? prefixes : prefixes.slice(0, -1);
  return chosen.map((step) => {
    const stats = fs.statSync(step);
    return { path: step, uid: stats.uid, gid: stats.gid, mode: stats.mode };
  });
}

/** "alice (uid 1001)" for messages, or "uid 1001" when no account has it. */
export function uidWithName(uid: number): string {
  const result = runCommand("getent", ["passwd", String(uid)]);
  const name = result.status === 0 ? result.stdout.split(":")[0] : undefined;
  return name ? `${name} (uid ${uid})` : `uid ${uid}`;
}
