/**
 * Pid-reuse safety: the hub may remember a pid that now belongs to another process of the same
 * user. A kill is only sent to a process this mediator started: one whose environment carries the
 * mark the reaper set to its own pid. Descendants inherit the mark with their server's pid, not
 * their own, so they never match. Only where the environment cannot be read at all does the
 * parent decide: our reaper (a subreaper, so orphaned kernels also have it as parent) must be
 * the parent and the process must lead its own session, as the server does.
 */
import { readlinkSync } from "node:fs";
import { SudoSpawnerError } from "../../errors.js";
import { STAT_FIELD, readProcFile, statNumber } from "../../system/proc-stat.js";
import type { Adoption } from "./adoption.js";
import { MARK_ENV } from "../env-policy.js";

export type Ownership = "ours" | "not-ours" | "gone";

/** Does the NUL-separated environ block mark `pid` as ours? (pure) */
export function environMarksPid(environ: Buffer, pid: number): boolean {
  const wanted = `${MARK_ENV}=${pid}`;
  return environ.toString("latin1").split("\0").includes(wanted);
}

/** Parent pid and session from /proc/PID/stat text (pure). */
export function statFields(stat: string): { ppid: number; session: number } | undefined {
  const ppid = statNumber(stat, STAT_FIELD.ppid);
  const session = statNumber(stat, STAT_FIELD.session);
  return ppid !== undefined && session !== undefined ? { ppid, session } : undefined;
}

export function assertProcReadable(): void {
  if (readProcFile("self", "stat") instanceof Buffer) return;
  throw new SudoSpawnerError(
    "PROC_UNREADABLE",
    "cannot tell whether the pid is a server this mediator started: /proc is not readable. Mount /proc (without hidepid hiding a user's own processes) and retry",
  );
}

/**
 * Ours by the mark (or, where the environment is unreadable, by our reaper as parent); failing
 * that, a server of the Python sudospawner that `adopted` recognises (adoption.ts, live migration).
 */
export function ownership(pid: number, reaperRealPath: () => string, adopted?: Adoption): Ownership {
  const verdict = markedOwnership(pid, reaperRealPath);
  return verdict === "not-ours" && adopted?.(pid) === true ? "ours" : verdict;
}

function markedOwnership(pid: number, reaperRealPath: () => string): Ownership {
  const environ = readProcFile(pid, "environ");
  if (environ === "gone") return "gone";
  if (environ instanceof Buffer) return environMarksPid(environ, pid) ? "ours" : "not-ours";
  const stat = readProcFile(pid, "stat");
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
