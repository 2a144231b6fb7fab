/**
 * Real-system helpers for integration tests: users, groups, sudoers files and processes.
 * Everything they create carries the `tsss-` prefix and is removed again.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { prerequisiteMissing } from "../../scripts/test/prerequisites.mjs";

export const IS_ROOT = process.getuid?.() === 0;

export function commandExists(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** Why root-only tests cannot run here, or undefined when they can. */
export function rootUnavailableReason(): string | undefined {
  if (!IS_ROOT) return "not running as root (CI runs as root)";
  if (!commandExists("sudo")) return "sudo is not installed (apt-get install sudo)";
  if (!commandExists("useradd")) return "useradd is not installed";
  return undefined;
}

/**
 * A suite skipped for want of `reason`: a loud banner, or under CI a failure (the rule of
 * scripts/test/prerequisites.mjs). New code uses skipWithout() of test/helpers/prerequisites.ts.
 */
export function announceSkip(suite: string, reason: string): void {
  prerequisiteMissing(suite, reason);
}

export function run(file: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(file, args, { input: options.input ?? "", env: options.env ?? process.env, encoding: "utf8", timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function ensureGroup(name: string): void {
  if (spawnSync("getent", ["group", name]).status !== 0) execFileSync("groupadd", [name]);
}

export function removeGroup(name: string): void {
  spawnSync("groupdel", [name], { stdio: "ignore" });
}

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function userInfo(name: string): TestUser {
  const entry = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim().split(":");
  return { name, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] as string };
}

/**
 * Create (or reuse) a user with a home directory; `groups` are its supplementary groups, exactly:
 * a reused user (an earlier suite's) gets them set again, since a group recreated since then has
 * lost its members.
 */
export function ensureUser(name: string, options: { groups?: string[]; home?: boolean } = {}): TestUser {
  if (!name.startsWith("tsss-")) throw new Error(`test user ${name} must carry the tsss- prefix`);
  const groups = options.groups ?? [];
  if (spawnSync("getent", ["passwd", name]).status !== 0) {
    const args = ["--shell", "/bin/bash", "--user-group"];
    args.push(options.home === false ? "--no-create-home" : "--create-home");
    if (groups.length > 0) args.push("--groups", groups.join(","));
    execFileSync("useradd", [...args, name]);
  } else {
    execFileSync("usermod", ["--groups", groups.join(","), name]);
  }
  return userInfo(name);
}

/** Kill every process of the user, then remove the user, its home and its group. */
export function removeUser(name: string): void {
  if (!name.startsWith("tsss-")) throw new Error(`refusing to remove ${name}: not a tsss- test user`);
  killUserProcesses(name);
  spawnSync("userdel", ["--remove", "--force", name], { stdio: "ignore" });
  removeGroup(name);
}

export function killUserProcesses(name: string): void {
  spawnSync("pkill", ["-KILL", "-u", name], { stdio: "ignore" });
  for (let i = 0; i < 50 && userProcesses(name).length > 0; i++) spawnSync("sleep", ["0.1"]);
}

/** Pids of the user's processes (zombies included). */
export function userProcesses(name: string): number[] {
  const result = spawnSync("pgrep", ["-u", name], { encoding: "utf8" });
  return result.stdout
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

/** Install a sudoers drop-in after `visudo -cf`; returns its path. */
export function installSudoers(name: string, content: string): string {
  if (!name.startsWith("tsss-")) throw new Error(`sudoers file ${name} must carry the tsss- prefix`);
  const file = `/etc/sudoers.d/${name}`;
  const staging = `/etc/sudoers.d/.${name}.tmp`;
  fs.writeFileSync(staging, content, { mode: 0o440 });
  const check = spawnSync("visudo", ["-cf", staging], { encoding: "utf8" });
  if (check.status !== 0) {
    fs.rmSync(staging, { force: true });
    throw new Error(`visudo rejected the test sudoers file:\n${check.stdout}${check.stderr}\n${content}`);
  }
  fs.renameSync(staging, file);
  return file;
}

export function removeSudoers(name: string): void {
  fs.rmSync(`/etc/sudoers.d/${name}`, { force: true });
}

/** Fields of /proc/PID/status, or undefined when the process is gone. */
export function procStatus(pid: number): Record<string, string> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

/**
 * Whether `pid` is a mediator waiting for its request: node, blocked in the poll(2) of its stdin
 * reader (src/mediator/stdin.ts), which it enters only after installing its signal handlers. (Not
 * SigCgt: Node itself catches SIGTERM from its first instruction on, to restore the terminal.)
 */
export function mediatorWaitingOnStdin(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).endsWith("/node") && fs.readFileSync(`/proc/${pid}/wchan`, "utf8").startsWith("poll_schedule_timeout");
  } catch {
    return false; // gone meanwhile
  }
}

/** Pids whose parent is `pid` (a scan of /proc: no CONFIG_PROC_CHILDREN needed). */
export function childPids(pid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((child) => procStatus(child)?.PPid === String(pid));
}

/** The process's start time (field 22 of /proc/PID/stat, clock ticks since boot): with the pid, its identity. */
export function procStartTicks(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** "R", "S", "Z"...; undefined when gone. */
export function procState(pid: number): string | undefined {
  return procStatus(pid)?.State?.charAt(0);
}

/** The user's processes that still run: neither gone nor a zombie waiting for its parent. */
export function liveProcesses(user: string): number[] {
  return userProcesses(user).filter((pid) => !["Z", undefined].includes(procState(pid)));
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface MediatorRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The parsed single JSON answer, when stdout held exactly one. */
  answer: Record<string, unknown> | undefined;
}

function parseAnswer(stdout: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Run `sudo -u HUB sudo -n -u USER -H MEDIATOR ARGS` with `input` on stdin, the way a hub does.
 * Resolves when the mediator's stdout closes and it exits; stderr is collected only until then,
 * because a spawned server inherits it and keeps it open.
 */
export function runMediatorAs(hub: string, user: string, mediator: string, input: string, args: string[] = ["--logging=debug"]): Promise<MediatorRun> {
  const child = spawn("sudo", ["-u", hub, "sudo", "-n", "-u", user, "-H", mediator, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  return collectMediator(child, input);
}

/** Run the mediator directly (no sudo), as this process's user. */
export function runMediatorDirect(mediator: string, input: string, args: string[] = ["--logging=debug"], env?: NodeJS.ProcessEnv): Promise<MediatorRun> {
  const child = spawn(mediator, args, { stdio: ["pipe", "pipe", "pipe"], env: env ?? process.env });
  return collectMediator(child, input);
}

/**
 * The exit status, once the process has exited and its stdout (or `stream`) has closed: Node's
 * "exit" may come while stdio still has data to read (its docs: stdio may still be open then).
 */
export function exitedAndClosed(child: ReturnType<typeof spawn>, stream = child.stdout): Promise<number | null> {
  const exited = new Promise<number | null>((done) => child.once("exit", (status) => done(status)));
  const closed = new Promise<void>((done) => (stream && !stream.closed ? stream.once("close", () => done()) : done()));
  return Promise.all([exited, closed]).then(([status]) => status);
}

/** The answer, stdout and stderr of a mediator started some other way (e.g. under prlimit). */
export function collectMediator(child: ReturnType<typeof spawn>, input: string): Promise<MediatorRun> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    // The server keeps stderr open: stderr is read only a little longer than stdout.
    void exitedAndClosed(child).then((status) => {
      setTimeout(() => {
        child.stderr?.destroy();
        resolve({ status, stdout, stderr, answer: parseAnswer(stdout) });
      }, 50);
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input);
  });
}
