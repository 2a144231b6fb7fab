/**
 * A process tree read from /proc, for tests that stop or kill one process of a mediator's tree at a
 * chosen point (the Slurm watchdog, its sbatch): command lines, children, parents, idleness.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import { WATCHDOG_NAME } from "../../src/mediator/slurm/watchdog-script.js";
import { waitFor, type MediatorRun } from "./system.js";

/** The command line, NUL-separated; "" for a process that is gone (or a zombie). */
export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

/** The direct children of `pid` (node spawns from its main thread, whose tid is the pid). */
export function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `pid` and every process below it. */
export function descendants(pid: number): number[] {
  return [pid, ...children(pid).flatMap(descendants)];
}

/** The state letter of /proc/PID/stat (R, S, T, Z, ...), "" for a process that is gone. */
export function state(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return "";
  }
}

export function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** Send a signal to a process that may be gone already. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

/**
 * Wait until `pid`'s main thread sleeps in epoll_wait at 10 samples in a row (waitFor samples every
 * 50 ms): node has done all it could (a pending write or shutdown would wake it at once).
 */
export async function waitIdle(pid: number): Promise<void> {
  let samples = 0;
  const idle = (): boolean => {
    let wchan: string;
    try {
      wchan = fs.readFileSync(`/proc/${pid}/wchan`, "utf8");
    } catch {
      throw new Error(`process ${pid} ended while the test waited for it to idle`);
    }
    samples = wchan === "do_epoll_wait" ? samples + 1 : 0;
    return samples >= 10;
  };
  await waitFor(idle, 30_000, `process ${pid} to wait in epoll_wait`);
}

export interface SubmitTree {
  mediator: number;
  watchdog: number;
  sbatch: number;
}

/**
 * Follow a submit through sudo (`sudoPid`: the hub's `sudo -u HUB sudo -u USER MEDIATOR`) and
 * SIGSTOP its sbatch the moment it shows under the watchdog: sbatch has not answered then, so the
 * mediator has no job id yet. `prefix` is the install's, on the mediator's command line.
 * Undefined when sbatch was missed: it ended before it was seen or stopped.
 */
export async function stopSbatchOfSubmit(sudoPid: number, prefix: string, ended: () => boolean): Promise<SubmitTree | undefined> {
  let mediator: number | undefined;
  let watchdog: number | undefined;
  while (!ended()) {
    // sudo (ours) -> sudo -u USER -> the mediator -> the watchdog (sh) -> sh $(...) -> sbatch
    mediator ??= children(sudoPid).flatMap(children).find((pid) => cmdline(pid).includes(`${prefix}/`));
    if (mediator !== undefined) watchdog ??= children(mediator).find((pid) => cmdline(pid).includes(WATCHDOG_NAME));
    const sbatch = watchdog === undefined ? undefined : descendants(watchdog).find((pid) => cmdline(pid).startsWith("/usr/bin/sbatch\0"));
    if (mediator !== undefined && watchdog !== undefined && sbatch !== undefined) {
      signal(sbatch, "SIGSTOP");
      // sbatch may have ended between the look and the signal: then it answered, too late.
      await waitFor(() => state(sbatch) !== "R", 10_000, `sbatch (${sbatch}) to stop`);
      return state(sbatch) === "T" ? { mediator, watchdog, sbatch } : undefined;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return undefined;
}

export interface StoppedSubmit {
  child: ChildProcess;
  result: Promise<MediatorRun>;
  tree: SubmitTree;
  /** Submits whose sbatch ended before the test caught it (a loaded machine), tried again. */
  misses: number;
}

/**
 * A submit (`start`: through sudo, the outer sudo's child process and its run) whose sbatch is
 * stopped before it answered. sbatch runs for milliseconds; a test that misses it (descheduled
 * meanwhile) cleans up with `afterMiss` and tries again, up to `tries` submits.
 */
export async function submitStoppedAtSbatch(
  start: () => Promise<{ child: ChildProcess; result: Promise<MediatorRun> }>,
  prefix: string,
  afterMiss: () => Promise<void>,
  tries = 5,
): Promise<StoppedSubmit> {
  for (let misses = 0; misses < tries; misses++) {
    const { child, result } = await start();
    const tree = await stopSbatchOfSubmit(child.pid as number, prefix, () => child.exitCode !== null);
    if (tree !== undefined) return { child, result, tree, misses };
    await result;
    await afterMiss();
  }
  throw new Error(`sbatch ended before the test could stop it in ${tries} submits in a row`);
}
