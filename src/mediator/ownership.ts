/**
 * Pid-reuse safety: the hub may remember a pid that now belongs to another process of the same
 * user. A kill is only sent to a process this mediator started: one whose environment carries the
 * mark the reaper set to its own pid. Descendants inherit the mark with their server's pid, not
 * their own, so they never match. Only where the environment cannot be read at all does the
 * parent decide: our reaper (a subreaper, so orphaned kernels also have it as parent) must be
 * the parent and the process must lead its own session, as the server does.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { SudoSpawnerError, errnoCode } from "../errors.js";
import { MARK_ENV } from "./env-policy.js";

export type Ownership = "ours" | "not-ours" | "gone";

/** Does the NUL-separated environ block mark `pid` as ours? (pure) */
export function environMarksPid(environ: Buffer, pid: number): boolean {
  const wanted = `${MARK_ENV}=${pid}`;
  return environ.toString("latin1").split("\0").includes(wanted);
}

/** Parent pid and session from /proc/PID/stat text (pure); the command name may contain spaces and ")". */
export function statFields(stat: string): { ppid: number; session: number } | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  const session = Number(fields[3]);
  return Number.isSafeInteger(ppid) && Number.isSafeInteger(session) && fields.length > 3 ? { ppid, session } : undefined;
}

function readProc(file: string): Buffer | "gone" | "unreadable" {
  try {
    return readFileSync(file);
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

export function ownership(pid: number, reaperRealPath: () => string): Ownership {
  const environ = readProc(`/proc/${pid}/environ`);
  if (environ === "gone") return "gone";
  if (environ instanceof Buffer) return environMarksPid(environ, pid) ? "ours" : "not-ours";
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === "gone") return "gone";
  if (!(stat instanceof Buffer)) return "not-ours";
  const fields = statFields(stat.toString("latin1"));
  if (fields === undefined || fields.ppid <= 1 || fields.session !== pid) return "not-ours";
  try {
    return readlinkSync(`/proc/${fields.ppid}/exe`) === reaperRealPath() ? "ours" : "not-ours";
  } catch {
    return "not-ours";
  }
}
