/**
 * The servers the mediator started on this host, found in /proc as root. Which process is a server
 * is the mediator's own rule (environMarksPid, mediator/kill/ownership.ts: the reaper's mark equal
 * to the process's own pid), not a copy of it; the server name is the value the mediator set in
 * SERVER_MARK_ENV. Slurm jobs run elsewhere under slurmstepd and are not listed.
 */
import fs from "node:fs";
import { environMarksPid } from "../../mediator/kill/ownership.js";
import { SERVER_MARK_ENV } from "../../mediator/env-policy.js";
import { STAT_FIELD, readProcFile, statField, statNumber } from "../../system/proc-stat.js";
import { runCommand } from "../host/commands.js";
import { readCgroupUse, isCgroup2Mount, type CgroupUse } from "./cgroup.js";

export interface MarkedServer {
  pid: number;
  uid: number;
  user: string;
  /** The JupyterHub server name ("" for the default server); undefined when started without one. */
  server: string | undefined;
  /** Clock ticks since boot (field 22 of /proc/PID/stat): with the pid, names this one process. */
  startTicks: number;
  /** ISO 8601, UTC. */
  started: string;
  cgroup: CgroupUse | undefined;
}

/** The value of SERVER_MARK_ENV in a NUL-separated environ block (pure). */
export function serverNameIn(environ: Buffer): string | undefined {
  const prefix = `${SERVER_MARK_ENV}=`;
  const entry = environ
    .toString("utf8")
    .split("\0")
    .find((line) => line.startsWith(prefix));
  return entry === undefined ? undefined : entry.slice(prefix.length);
}

/** The boot time in seconds since the epoch, from /proc/stat's "btime" line (pure). */
export function bootTime(procStat: string): number | undefined {
  const match = /^btime (\d+)$/m.exec(procStat);
  return match ? Number(match[1]) : undefined;
}

/** A process's start as ISO 8601 from its start ticks, the boot time and the clock's ticks per second (pure). */
export function startedIso(startTicks: number, btimeSeconds: number, ticksPerSecond: number): string {
  return new Date(Math.round((btimeSeconds + startTicks / ticksPerSecond) * 1000)).toISOString();
}

/** sysconf(_SC_CLK_TCK), which Node does not expose; 100 on every Linux build that matters. */
function ticksPerSecond(): number {
  const result = runCommand("getconf", ["CLK_TCK"]);
  const value = Number(result.stdout.trim());
  return result.status === 0 && Number.isInteger(value) && value > 0 ? value : 100;
}

function userNames(): (uid: number) => string {
  const cache = new Map<number, string>();
  return (uid) => {
    let name = cache.get(uid);
    if (name === undefined) {
      const result = runCommand("getent", ["passwd", String(uid)]);
      name = (result.status === 0 ? result.stdout.split(":")[0] : undefined) || `uid ${uid}`;
      cache.set(uid, name);
    }
    return name;
  };
}

/** Start ticks of a live, non-zombie process; undefined when it is gone or a zombie. */
export function liveStartTicks(pid: number): number | undefined {
  const stat = readProcFile(pid, "stat");
  if (!(stat instanceof Buffer)) return undefined;
  const text = stat.toString("latin1");
  if (statField(text, STAT_FIELD.state) === "Z") return undefined;
  return statNumber(text, STAT_FIELD.startTime);
}

/** Every live marked server on this host, by pid (reads every process's environment: root only). */
export function findMarkedServers(): MarkedServer[] {
  const nameOf = userNames();
  const btime = bootTime(fs.readFileSync("/proc/stat", "utf8")) ?? 0;
  const hz = ticksPerSecond();
  const cgroup2 = isCgroup2Mount();
  const found: MarkedServer[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const environ = readProcFile(pid, "environ");
    if (!(environ instanceof Buffer) || !environMarksPid(environ, pid)) continue;
    const startTicks = liveStartTicks(pid);
    let uid: number;
    try {
      uid = fs.statSync(`/proc/${entry}`).uid;
    } catch {
      continue; // gone meanwhile
    }
    if (startTicks === undefined) continue;
    found.push({
      pid,
      uid,
      user: nameOf(uid),
      server: serverNameIn(environ),
      startTicks,
      started: startedIso(startTicks, btime, hz),
      cgroup: readCgroupUse(pid, undefined, cgroup2),
    });
  }
  return found.sort((a, b) => a.user.localeCompare(b.user) || a.pid - b.pid);
}
