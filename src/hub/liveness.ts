/**
 * Is a process alive, seen from the hub user? `kill(pid, 0)` without sudo: the server belongs to
 * another user, so EPERM is the normal answer for a live server and only ESRCH means gone.
 */
import os from "node:os";
import { SudoSpawnerError, errnoCode } from "../errors.js";
import { MAX_SIGNAL } from "../protocol/index.js";
import { STAT_FIELD, processStartTicks, readProcFile, statField } from "../system/proc-stat.js";

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "EPERM") return !isZombie(pid);
    if (code === "ESRCH") return false;
    throw new SudoSpawnerError("INTERNAL", `kill(${pid}, 0) failed unexpectedly: ${code ?? String(error)}`, { cause: error });
  }
}

/**
 * A server seen from the hub: "reused" when a live process has the pid but started at another time
 * than the one stored at start (the server is gone, its pid given to someone else). Without a
 * stored start time, or with /proc unreadable (hidepid), only kill(pid, 0) can answer.
 */
export function serverLiveness(pid: number, startTicks: number | undefined): "alive" | "gone" | "reused" {
  if (!processAlive(pid)) return "gone";
  if (startTicks === undefined) return "alive";
  const now = processStartTicks(pid);
  return now === undefined || now === startTicks ? "alive" : "reused";
}

/**
 * A zombie has exited; kill(pid, 0) still succeeds until its parent reaps it, which never happens
 * where PID 1 does not reap orphans. Treating it as alive would keep a dead server "running"
 * forever. Unreadable /proc (hidepid) means we cannot tell: then it counts as alive.
 */
function isZombie(pid: number): boolean {
  const stat = readProcFile(pid, "stat");
  return stat instanceof Buffer && statField(stat.toString("latin1"), STAT_FIELD.state) === "Z";
}

/** A signal name ("SIGTERM", "TERM") or number as the number the mediator expects. */
export function signalNumber(signal: NodeJS.Signals | string | number): number {
  if (typeof signal === "number") {
    if (!Number.isInteger(signal) || signal < 0 || signal > MAX_SIGNAL) throw new SudoSpawnerError("USAGE", `invalid signal number ${signal}: use 0..${MAX_SIGNAL}`);
    return signal;
  }
  const name = signal.toUpperCase().startsWith("SIG") ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  const number = (os.constants.signals as Record<string, number | undefined>)[name];
  if (number === undefined) throw new SudoSpawnerError("USAGE", `unknown signal ${JSON.stringify(signal)}`);
  return number;
}

/** Resolve after `ms`, or reject with ABORTED as soon as `signal` aborts; `what` names the wait in that error. */
export function sleep(ms: number, signal?: AbortSignal, what = "a wait"): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => new SudoSpawnerError("ABORTED", `${what} was aborted`, { cause: signal?.reason });
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Wait until `pid` is gone; true if it went within `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, options: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const interval = options.intervalMs ?? 100;
  for (;;) {
    if (!processAlive(pid)) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(interval, left), options.signal, `the wait for pid ${pid} to exit`);
  }
}
