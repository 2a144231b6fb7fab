/**
 * /proc/PID/stat, the one place its layout is known (pure parsing plus one read). The command
 * name is in parentheses and may itself contain spaces and ") ", so fields are counted after the
 * LAST ")".
 */
import { readFileSync } from "node:fs";
import { errnoCode } from "../errors.js";

/** Fields as proc(5) numbers them. */
export const STAT_FIELD = { state: 3, ppid: 4, session: 6, startTime: 22 } as const;

/** Field `n` (1-based, as in proc(5)) of the text of /proc/PID/stat; undefined when absent. */
export function statField(stat: string, n: number): string | undefined {
  const close = stat.lastIndexOf(")");
  if (close === -1 || n < 3) return undefined;
  const value = stat.slice(close + 1).trim().split(/\s+/)[n - 3];
  return value === "" ? undefined : value;
}

/** Field `n` as a number; undefined when absent or not an integer. */
export function statNumber(stat: string, n: number): number | undefined {
  const value = statField(stat, n);
  return value !== undefined && /^-?\d+$/.test(value) ? Number(value) : undefined;
}

export type ProcRead = Buffer | "gone" | "unreadable";

/** A /proc file of a process: its bytes, "gone" when the process is, "unreadable" otherwise (hidepid, EACCES). */
export function readProcFile(pid: number | "self", name: string): ProcRead {
  try {
    return readFileSync(`/proc/${pid}/${name}`);
  } catch (error) {
    const code = errnoCode(error);
    return code === "ENOENT" || code === "ESRCH" ? "gone" : "unreadable";
  }
}

/** A process's start time (field 22, clock ticks since boot); undefined when it is gone or /proc is unreadable. */
export function processStartTicks(pid: number): number | undefined {
  const stat = readProcFile(pid, "stat");
  return stat instanceof Buffer ? statNumber(stat.toString("latin1"), STAT_FIELD.startTime) : undefined;
}
