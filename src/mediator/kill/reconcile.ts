/**
 * Reconciliation at start: before a spawn that asks for it, stop this user's servers that carry
 * our mark for the same JupyterHub server name. The hub asks only when it has no state for that
 * name, so each such server is one that an earlier hub started and died before it saved the pid.
 *
 * Which processes: the user's own (the mediator runs as the user; /proc of others is unreadable
 * anyway), whose environment holds both MARK_ENV equal to their own pid (set by the reaper, so
 * only a server itself matches, never a kernel it started) and SERVER_MARK_ENV equal to the name.
 * A server of the Python sudospawner has no mark and is never touched; nor is one started without
 * a server name (an older hub or mediator). Each is stopped as kill.ts stops one: pinned with a
 * pidfd, checked, signalled; SIGTERM, then SIGKILL after a bound. Its reaper then ends the rest
 * of its tree, as after any stop.
 */
import { readdirSync, statSync } from "node:fs";
import { STAT_FIELD, readProcFile, statField } from "../../system/proc-stat.js";
import { MARK_ENV, SERVER_MARK_ENV } from "../env-policy.js";
import type { Logger } from "../logger.js";
import type { NativeAddon } from "../native.js";
import { killServer } from "./kill.js";
import type { Ownership } from "./ownership.js";

/** How long a server gets after SIGTERM, then after SIGKILL (JupyterHub's own term_timeout is 5 s). */
export const RECONCILE_TERM_MS = 5_000;
export const RECONCILE_KILL_MS = 5_000;
const WAIT_STEP_MS = 50;

/** Does the NUL-separated environ block mark `pid` as our server named `server`? (pure) */
export function environMarksServer(environ: Buffer, pid: number, server: string): boolean {
  const entries = environ.toString("utf8").split("\0");
  return entries.includes(`${MARK_ENV}=${pid}`) && entries.includes(`${SERVER_MARK_ENV}=${server}`);
}

/** One /proc entry judged for reconciliation. */
function serverOwnership(pid: number, server: string): Ownership {
  const environ = readProcFile(pid, "environ");
  if (environ === "gone") return "gone";
  return environ instanceof Buffer && environMarksServer(environ, pid, server) ? "ours" : "not-ours";
}

/** Live pids of the user `uid` marked as our server named `server`, ascending. */
export function markedServers(uid: number, server: string, procDir = "/proc"): number[] {
  const found: number[] = [];
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      // Only the user's own: cheaper than reading every environ, and explicit about whose.
      if (statSync(`${procDir}/${entry}`).uid !== uid) continue;
    } catch {
      continue; // gone meanwhile
    }
    if (serverOwnership(pid, server) === "ours" && !isZombie(pid)) found.push(pid);
  }
  return found.sort((a, b) => a - b);
}

function isZombie(pid: number): boolean {
  const stat = readProcFile(pid, "stat");
  return !(stat instanceof Buffer) || statField(stat.toString("latin1"), STAT_FIELD.state) === "Z";
}

/** Still our live server? A zombie, an ended process, or a pid reused by another counts as gone. */
function stillRunning(pid: number, server: string): boolean {
  return !isZombie(pid) && serverOwnership(pid, server) === "ours";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitGone(pids: readonly number[], server: string, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter((pid) => stillRunning(pid, server));
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(WAIT_STEP_MS);
    left = left.filter((pid) => stillRunning(pid, server));
  }
  return left;
}

export interface ReconcileDeps {
  addon: NativeAddon;
  logger: Logger;
  user: { name: string; uid: number };
  termMs?: number;
  killMs?: number;
}

function describeServer(server: string): string {
  return server === "" ? "default server" : `server ${JSON.stringify(server)}`;
}

/**
 * Stop every marked server of this user named `server`; resolves with the pids that were found
 * (each stopped, or logged as surviving SIGKILL).
 */
export async function stopMarkedServers(server: string, deps: ReconcileDeps): Promise<number[]> {
  const { addon, logger, user } = deps;
  const found = markedServers(user.uid, server);
  if (found.length === 0) {
    logger.debug(`no running ${describeServer(server)} of ${user.name} that no hub knows`);
    return [];
  }
  const signal = (pid: number, sig: number) => killServer(pid, sig, { addon, logger, ownership: (p) => serverOwnership(p, server) });
  for (const pid of found) {
    logger.warn(`stopping pid ${pid}, a ${describeServer(server)} of ${user.name} that no hub knows (an earlier hub started it and stopped before it saved its state)`);
    signal(pid, 15);
  }
  let left = await waitGone(found, server, deps.termMs ?? RECONCILE_TERM_MS);
  if (left.length > 0) {
    for (const pid of left) {
      logger.warn(`pid ${pid} is still there ${(deps.termMs ?? RECONCILE_TERM_MS) / 1000} s after SIGTERM: sending SIGKILL`);
      signal(pid, 9);
    }
    left = await waitGone(left, server, deps.killMs ?? RECONCILE_KILL_MS);
    for (const pid of left) logger.error(`pid ${pid} survived SIGKILL (stuck in the kernel?); starting the new server anyway`);
  }
  return found;
}
