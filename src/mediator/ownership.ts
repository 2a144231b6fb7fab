/**
 * Pid-reuse safety: the hub may remember a pid that now belongs to another process of the same
 * user. A kill is only sent to a process this mediator started: one whose environment carries the
 * mark the reaper set to its own pid, or whose parent is our reaper.
 */
import fs from "node:fs";
import { SudoSpawnerError, errnoCode } from "../errors.js";
import { MARK_ENV } from "./spawn.js";

export type Ownership = "ours" | "not-ours" | "gone";

/** Does the NUL-separated environ block mark `pid` as ours? (pure) */
export function environMarksPid(environ: Buffer, pid: number): boolean {
  const wanted = `${MARK_ENV}=${pid}`;
  return environ.toString("latin1").split("\0").includes(wanted);
}

/** The parent pid from /proc/PID/stat text (pure); the command name may contain spaces and ")". */
export function parentPid(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isSafeInteger(ppid) ? ppid : undefined;
}

function readProc(file: string): Buffer | "gone" | "unreadable" {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    const code = errnoCode(error);
    return code === "ENOENT" || code === "ESRCH" ? "gone" : "unreadable";
  }
}

export function assertProcReadable(): void {
  if (readProc("/proc/self/stat") instanceof Buffer) return;
  throw new SudoSpawnerError(
    "KILL_FAILED",
    "cannot tell whether the pid is a server this mediator started: /proc is not readable. Mount /proc (without hidepid hiding a user's own processes) and retry",
  );
}

export function ownership(pid: number, reaperRealPath: string): Ownership {
  const environ = readProc(`/proc/${pid}/environ`);
  if (environ === "gone") return "gone";
  if (environ instanceof Buffer && environMarksPid(environ, pid)) return "ours";
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === "gone") return "gone";
  if (!(stat instanceof Buffer)) return "not-ours";
  const ppid = parentPid(stat.toString("latin1"));
  if (ppid === undefined || ppid <= 1) return "not-ours";
  try {
    return fs.readlinkSync(`/proc/${ppid}/exe`) === reaperRealPath ? "ours" : "not-ours";
  } catch {
    return "not-ours";
  }
}
