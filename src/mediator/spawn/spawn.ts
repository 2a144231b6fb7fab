/**
 * The spawn action: start the single-user server as the current user through the reaper, wait the
 * grace period (if any) for an early exit, and report its pid.
 */
import { closeSync, lstatSync, readFileSync, type Stats } from "node:fs";
import { constants } from "node:os";
import { SudoSpawnerError } from "../../errors.js";
import { shellLine } from "../../protocol/index.js";
import { MARK_ENV } from "../env-policy.js";
import type { Logger } from "../logger.js";
import type { NativeAddon } from "../native.js";
import type { ScopeExec } from "../cgroup/placement.js";
import { REAPER_COMMIT_FD, commitThrough, type ServerCommit } from "./commit.js";
import { checkExecStrings, e2bigHint, stackSoftLimit } from "./exec-size.js";
import { logFileRefusal, type FoundEntry } from "./log-file-refusal.js";
import { describeExit, describeStage } from "./reaper-lines.js";
import { ReaperStatus, type NextEvent } from "./reaper-status.js";

const { E2BIG, EACCES, ENOENT } = constants.errno;

export const DEFAULT_GRACE_MS = 1000;

/**
 * The grace of one start (pure): the policy's graceSeconds (default 1 s) is both the default and
 * the longest a request may ask; a request can only shorten it, e.g. to 0 (answer at the exec).
 */
export function effectiveGraceMs(policyGraceMs: number | undefined, requestGraceSeconds: number | undefined): number {
  const bound = policyGraceMs ?? DEFAULT_GRACE_MS;
  if (requestGraceSeconds === undefined) return bound;
  return Math.min(bound, Math.round(requestGraceSeconds * 1000));
}
/** How long the reaper may take to report the exec (a loaded machine, a slow NFS home). */
export const START_TIMEOUT_MS = 15_000;

export interface LaunchPlan {
  executable: string;
  args: readonly string[];
  env: readonly string[];
  cwd: string;
  /** Extra reaper options from the site policy (--rlimit, --umask, --nice, --log-file) and the mediator (--remove-after). */
  reaperOptions: readonly string[];
}

/** The reaper's command line for a plan (pure); the server stays provisional until the commit. */
export function reaperArgv(plan: LaunchPlan): string[] {
  return ["tsss-reaper", "--cwd", plan.cwd, "--mark-env", MARK_ENV, "--commit-fd", String(REAPER_COMMIT_FD), ...plan.reaperOptions, "--", plan.executable, ...plan.args];
}

/** A started server the hub has not been told about yet: confirm its commit once the answer is out. */
export interface StartedServer {
  pid: number;
  commit: ServerCommit;
}

export interface SpawnDeps {
  addon: NativeAddon;
  reaperPath: string;
  logger: Logger;
  graceMs: number;
  /** Aborted when the hub gives up on the call (sudo relays its SIGTERM): stop what was started. */
  interrupted?: AbortSignal;
  /** Who the server runs as (this process), for messages about files that must be theirs. */
  user: { name: string; uid: number };
  /** How a refusal names another uid ("uid 1002", or that it is the hub user's). */
  describeUid: (uid: number) => string;
  /** With the policy's "cgroup" section: start the reaper through systemd-run in this scope. */
  scope?: ScopeExec;
}

/** How long a server stopped because of an interruption gets after SIGTERM before SIGKILL. */
export const INTERRUPT_STOP_MS = 2000;

function stageHint(stage: string, errno: number, plan: LaunchPlan): string {
  if ((stage === "exec" || stage === "exec-reaper") && errno === E2BIG) return execSizeHint(stage, plan);
  if (stage === "chdir" && errno === ENOENT) return ` (home directory ${plan.cwd}); create it, e.g. \`mkhomedir_helper USER\` as root`;
  if (stage === "chdir") return ` (home directory ${plan.cwd}); the user must be able to enter it: check its owner and mode`;
  // EACCES on exec of a script that the mediator's audit passed is usually its interpreter (a
  // venv's python linking into a directory the user cannot enter, e.g. under /root), not the file.
  if (stage === "exec" && errno === EACCES) {
    return ` (${plan.executable}); this user cannot execute it or the interpreter it names: a directory on the way, the shebang's interpreter or a venv python's link target is not executable by the user. \`ts-sudospawner check --hub-user HUB --user USER\` (row 5) names which one`;
  }
  if (stage === "exec") return ` (${plan.executable}); check that it exists and is executable by this user`;
  if (stage === "exec-reaper") return "; reinstall ts-sudospawner (`npm rebuild ts-sudospawner`)";
  if (stage === "userns") {
    return "; the site policy's sandbox (privateTmp, readOnlyPaths) needs unprivileged user namespaces: check user.max_user_namespaces and kernel.unprivileged_userns_clone (sysctl), or remove those keys";
  }
  if (stage === "read-only") return `; check the site policy's sandbox.readOnlyPaths (${readOnlyPaths(plan).join(", ")}): each must exist`;
  return "";
}

/** E2BIG: what the failed exec (the reaper's, or the server's) was given, and what Linux allows. */
function execSizeHint(stage: string, plan: LaunchPlan): string {
  let stack: number | undefined;
  try {
    stack = stackSoftLimit(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    stack = 8 * 1024 * 1024; // the usual default
  }
  // The server gets the reaper's ownership mark as well: a pid's worth of digits.
  if (stage === "exec") return e2bigHint([plan.executable, ...plan.args], [...plan.env, `${MARK_ENV}=0000000000`], stack);
  return e2bigHint(reaperArgv(plan), plan.env, stack);
}

function entryKind(stats: Stats): string {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "directory";
  if (stats.isSymbolicLink()) return "symbolic link";
  if (stats.isFIFO()) return "FIFO";
  if (stats.isSocket()) return "socket";
  return "device";
}

/** The reaper refused or could not open the log file: look at what is there, and say so. */
function logFileMessage(errno: number, plan: LaunchPlan, deps: SpawnDeps): string {
  const path = optionValues(plan.reaperOptions, "--log-file")[0] ?? "(none)";
  let found: FoundEntry | undefined;
  try {
    const stats = lstatSync(path);
    found = { uid: stats.uid, nlink: stats.nlink, kind: entryKind(stats) };
  } catch {
    found = undefined;
  }
  return logFileRefusal(errno, { path, user: deps.user, found, describeUid: deps.describeUid, strerror: deps.addon.strerror(errno) });
}

function readOnlyPaths(plan: LaunchPlan): string[] {
  return optionValues(plan.reaperOptions, "--read-only");
}

function optionValues(options: readonly string[], name: string): string[] {
  return options.flatMap((option, i) => (option === name ? [options[i + 1] ?? ""] : []));
}

/** What the sandbox does to the server, for the log (from the reaper options). */
export function describeSandbox(reaperOptions: readonly string[]): string {
  const parts: string[] = [];
  if (!reaperOptions.includes("--allow-new-privs")) parts.push("no_new_privs");
  if (reaperOptions.includes("--private-tmp")) parts.push("a private /tmp");
  const readOnly = optionValues(reaperOptions, "--read-only");
  if (readOnly.length > 0) parts.push(`read-only ${readOnly.join(", ")}`);
  return parts.length === 0 ? "none (the site policy turned no_new_privs off)" : parts.join(", ");
}

/** The hub gave up on this start and will never learn the pid: the server must not stay. */
async function stopInterrupted(addon: NativeAddon, events: ReaperStatus, serverPid: number, reaperPid: number, logger: Logger): Promise<void> {
  logger.warn(`interrupted while starting: stopping the server (pid ${serverPid}) that the hub will never learn about`);
  addon.kill(serverPid, 15);
  const after = await events.next(INTERRUPT_STOP_MS);
  if (after.kind !== "exited" && after.kind !== "eof") {
    addon.kill(serverPid, 9);
    await events.next(INTERRUPT_STOP_MS);
  }
  await reapSoon(addon, reaperPid);
}

/** Give the reaper a moment to exit after reporting, so it is not left as our zombie. */
async function reapSoon(addon: NativeAddon, pid: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if (addon.reap(pid) !== null) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The server's pid from the reaper's first report; a failure or anything else throws (the reaper reaped or killed). */
async function startedPid(first: NextEvent, reaperPid: number, plan: LaunchPlan, deps: SpawnDeps): Promise<number> {
  const { addon } = deps;
  if (first.kind === "failed") {
    await reapSoon(addon, reaperPid);
    if (first.stage === "log-file") throw new SudoSpawnerError("SPAWN_FAILED", logFileMessage(first.errno, plan, deps));
    throw new SudoSpawnerError(
      "SPAWN_FAILED",
      `${describeStage(first.stage)}: ${addon.strerror(first.errno)} (errno ${first.errno})${stageHint(first.stage, first.errno, plan)}`,
    );
  }
  if (first.kind !== "started") {
    // A server child the reaper forked but never reported dies with it (PR_SET_PDEATHSIG in
    // the child, set before anything else, with a check that the reaper is still its parent).
    addon.kill(reaperPid, 9);
    await reapSoon(addon, reaperPid);
    if (first.kind === "eof" && deps.scope !== undefined) {
      // systemd-run exits before the exec when the manager refuses the scope; it said why on stderr.
      throw new SudoSpawnerError("SPAWN_FAILED", deps.scope.refused());
    }
    throw new SudoSpawnerError("SPAWN_FAILED", `the reaper did not report a started server (${first.kind === "garbage" ? `it said ${JSON.stringify(first.line)}` : first.kind})`);
  }
  return first.pid;
}

export async function spawnServer(plan: LaunchPlan, deps: SpawnDeps): Promise<StartedServer> {
  const { addon, logger } = deps;
  checkExecStrings(plan.args, plan.env);
  const argv = reaperArgv(plan);
  logger.info(`Spawning ${shellLine([plan.executable, ...plan.args])} in ${plan.cwd}`);
  // The default (no_new_privs alone) at debug; anything the site chose at info.
  const sandbox = describeSandbox(plan.reaperOptions);
  if (sandbox === "no_new_privs") logger.debug(`server sandbox: ${sandbox}`);
  else logger.info(`server sandbox: ${sandbox}`);
  // While we wait for the reaper (and out the grace period), holding the hub's stdout, the server
  // we start (our user's process) must not be able to ptrace us or open our /proc files.
  const dumpable = addon.setNonDumpable();
  if (dumpable !== 0) logger.warn(`could not make the mediator non-dumpable: ${addon.strerror(dumpable)}`);
  const { scope } = deps;
  const reaper =
    scope === undefined
      ? addon.spawnReaper(deps.reaperPath, argv, [...plan.env], true)
      : addon.spawnReaper(scope.file, scope.argv(deps.reaperPath, argv), scope.env(plan.env), true);
  const commit = commitThrough(reaper.commitFd);
  try {
    return { pid: await startServer(plan, deps, reaper), commit };
  } catch (error) {
    // A refusal after the reaper began: whatever it started must not stay.
    commit.abandon();
    throw error;
  }
}

/** The server's pid once the reaper reported it (and, with a grace, it outlived the grace). */
async function startServer(plan: LaunchPlan, deps: SpawnDeps, reaper: { pid: number; statusFd: number }): Promise<number> {
  const { addon, logger } = deps;
  const events = new ReaperStatus(addon, reaper.statusFd);
  try {
    // Not interruptible: until the reaper reports, there is no pid to stop.
    const pid = await startedPid(await events.next(START_TIMEOUT_MS), reaper.pid, plan, deps);
    if (deps.graceMs <= 0) {
      // The reaper reports "P" only once the exec succeeded (its CLOEXEC error pipe saw EOF), so with
      // no grace the answer can go at once: a later death reaches the hub through the reaper's exit line.
      logger.debug(`server pid ${pid} started (reaper pid ${reaper.pid}); no grace asked, answering now`);
      return pid;
    }
    logger.debug(`server pid ${pid} started (reaper pid ${reaper.pid}); waiting ${deps.graceMs} ms for an early exit`);
    const during = await events.next(deps.graceMs, deps.interrupted);
    if (during.kind === "interrupted") {
      await stopInterrupted(addon, events, pid, reaper.pid, logger);
      throw new SudoSpawnerError("ABORTED", `interrupted by ${String(deps.interrupted?.reason ?? "a signal")} while starting; the server (pid ${pid}) was stopped`);
    }
    if (during.kind === "exited") {
      await reapSoon(addon, reaper.pid);
      throw new SudoSpawnerError(
        "SPAWN_FAILED",
        `the single-user server ${describeExit(during.code, during.signal)} within ${deps.graceMs} ms of starting; its output is in the hub's log just above`,
      );
    }
    if (during.kind === "eof") {
      // Only the reaper's end closes the status pipe: it died, and the server with it (PR_SET_PDEATHSIG).
      await reapSoon(addon, reaper.pid);
      throw new SudoSpawnerError("SPAWN_FAILED", `the reaper (pid ${reaper.pid}) ended within ${deps.graceMs} ms of starting the server (pid ${pid}), which ended with it`);
    }
    return pid;
  } finally {
    closeSync(reaper.statusFd);
  }
}
