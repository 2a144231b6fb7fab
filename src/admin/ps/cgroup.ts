/**
 * A server's cgroup v2 use: which cgroup /proc/PID/cgroup names, and what its memory.current and
 * cpu.stat say. Pure parsing, plus one reader. Only a pure cgroup v2 mount at /sys/fs/cgroup counts:
 * on a cgroup v1 (or hybrid) host the unified line "0::/" names no controller, so nothing is read.
 */
import fs from "node:fs";
import { readTextIfPresent } from "../host/commands.js";

/** statfs(2) f_type of cgroup2 (CGROUP2_SUPER_MAGIC, linux/magic.h). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const CGROUP_ROOT = "/sys/fs/cgroup";

export interface CgroupUse {
  /** The cgroup's path below the cgroup v2 root, e.g. "/user.slice/user-1001.slice/...". */
  path: string;
  memoryBytes: number | undefined;
  cpuUsec: number | undefined;
}

/** The cgroup v2 path from /proc/PID/cgroup text: its "0::PATH" line; undefined without one (pure). */
export function unifiedCgroupPath(procCgroup: string): string | undefined {
  for (const line of procCgroup.split("\n")) {
    if (!line.startsWith("0::")) continue;
    const path = line.slice(3);
    // The kernel writes a canonical absolute path; anything else is not read, never followed.
    if (!path.startsWith("/") || path.split("/").some((part) => part === ".." || part === ".")) return undefined;
    return path;
  }
  return undefined;
}

/** memory.current: one decimal number of bytes (pure). */
export function parseMemoryCurrent(text: string): number | undefined {
  const value = text.trim();
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/** usage_usec of cpu.stat: the cgroup's CPU time in microseconds (pure). */
export function parseCpuUsageUsec(cpuStat: string): number | undefined {
  const match = /^usage_usec (\d+)$/m.exec(cpuStat);
  return match ? Number(match[1]) : undefined;
}

/** Whether `root` is a cgroup v2 mount (false on a cgroup v1 host, whose /sys/fs/cgroup is a tmpfs). */
export function isCgroup2Mount(root = CGROUP_ROOT): boolean {
  try {
    return fs.statfsSync(root).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** The cgroup use of `pid`, or undefined when the host has no cgroup v2 or the process is gone. */
export function readCgroupUse(pid: number, root = CGROUP_ROOT, cgroup2 = isCgroup2Mount(root)): CgroupUse | undefined {
  if (!cgroup2) return undefined;
  const text = readTextIfPresent(`/proc/${pid}/cgroup`);
  const path = text === undefined ? undefined : unifiedCgroupPath(text);
  if (path === undefined) return undefined;
  const dir = `${root}${path === "/" ? "" : path}`;
  const memory = readTextIfPresent(`${dir}/memory.current`);
  const cpu = readTextIfPresent(`${dir}/cpu.stat`);
  return {
    path,
    memoryBytes: memory === undefined ? undefined : parseMemoryCurrent(memory),
    cpuUsec: cpu === undefined ? undefined : parseCpuUsageUsec(cpu),
  };
}
