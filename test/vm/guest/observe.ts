/**
 * What the guest scripts read about processes (/proc, cgroupfs) and how they report, for scripts
 * written after driver.ts (which keeps its own copies while it is being edited in parallel).
 */
import fs from "node:fs";
import { GUEST } from "./names.js";

export type Report = (check: string, facts: Record<string, unknown>) => void;

/** One JSON line per report on the second serial port (the host parses them after power-off). */
export function openReport(file: string = GUEST.results): Report {
  const out = fs.openSync(file, "w");
  return (check, facts) => fs.writeSync(out, `${JSON.stringify({ check, ...facts })}\n`);
}

export function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** The fields of /proc/PID/stat after the command name (state first), or undefined when gone. */
function statFields(pid: number): string[] | undefined {
  const stat = read(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Alive and not a zombie (a zombie keeps its /proc entry). */
export function alive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== "Z";
}

export function parentOf(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

/** The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup). */
export function cgroupOf(pid: number): string | undefined {
  return read(`/proc/${pid}/cgroup`)
    ?.split("\n")
    .find((line) => line.startsWith("0::"))
    ?.slice(3);
}

/** The live (not zombie) processes of a uid, with their cgroups. */
export function processesOf(uid: number): { pid: number; cgroup: string | undefined }[] {
  return fs
    .readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => new RegExp(`^Uid:\\t${uid}\\t`, "m").test(read(`/proc/${pid}/status`) ?? "") && alive(pid))
    .map((pid) => ({ pid, cgroup: cgroupOf(pid) }));
}
