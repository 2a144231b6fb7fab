/**
 * What the VM's guest scripts share (inside the guest, as root): the report lines on the second
 * serial port, running programs, waiting, and reading /proc and cgroupfs.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { readTextIfPresent } from "../../../src/admin/host/commands.js";
import { GUEST } from "./names.js";

export type Report = (check: string, facts: Record<string, unknown>) => void;
export type Check = (name: string, observe: () => Promise<Record<string, unknown>> | Record<string, unknown>) => Promise<void>;

/** One JSON line per report on the second serial port (the host parses them after power-off). */
export function openReport(file: string = GUEST.results): Report {
  const out = fs.openSync(file, "w");
  return (check, facts) => fs.writeSync(out, `${JSON.stringify({ check, ...facts })}\n`);
}

/** A named check: its facts, or its error, as one report (a failing check never stops the next). */
export function checksFor(report: Report): Check {
  return async (name, observe) => {
    try {
      report(name, await observe());
    } catch (error) {
      const cause = error instanceof Error && error.cause !== undefined ? `\ncaused by: ${String((error.cause as Error).stack ?? error.cause)}` : "";
      report(name, { error: `${error instanceof Error ? (error.stack ?? error.message) : String(error)}${cause}` });
    }
  };
}

export function run(file: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(file, args, { encoding: "utf8", env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", LANG: "C.UTF-8" } });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

/** `ts-sudospawner check --json` for `user` as root, as an admin runs it: its exit status and rows, or what it printed when that was no JSON. */
export function checkAsAdmin(user: string, extra: readonly string[] = []): Record<string, unknown> {
  const result = run(GUEST.mediator, ["check", "--hub-user", GUEST.hub, "--user", user, ...extra, "--json"]);
  try {
    return { status: result.status, rows: (JSON.parse(result.stdout) as { rows: unknown[] }).rows };
  } catch {
    return { status: result.status, unparsed: result.stdout, stderr: result.stderr };
  }
}

export function ok(file: string, args: readonly string[]): string {
  const result = run(file, args);
  if (result.status !== 0) throw new Error(`${file} ${args.join(" ")}: status ${result.status}: ${result.stderr}`);
  return result.stdout;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` gives a value; TCG is slow, so the guards are generous (they only catch a hang). */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** The system error code under a failed fetch (undici puts it on the cause): ECONNREFUSED, ECONNRESET... */
export function fetchErrorCode(error: unknown): string | undefined {
  return (error as { cause?: { code?: string } }).cause?.code;
}

/**
 * fetch, once more when the first try met a keep-alive socket the peer had already closed: the
 * driver's synchronous steps (spawnSync) block the event loop past the peer's 5 s keep-alive (the
 * proxy's, a server's), so the close is only seen when the socket is reused. Every request sent
 * through it may be sent twice.
 */
export async function fetchRetryingStale(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const code = fetchErrorCode(error);
    if (code !== "UND_ERR_SOCKET" && code !== "ECONNRESET") throw error;
    await sleep(200);
    return fetch(url, init);
  }
}

/** A file's text, or undefined when it is absent or unreadable: the admin tools' own reader. */
export const read = readTextIfPresent;

/** A process's SELinux context, or undefined when it is gone. */
export function contextOf(pid: number | "self"): string | undefined {
  return read(`/proc/${pid}/attr/current`)?.replaceAll("\0", "").trim();
}

/**
 * What user-space object managers logged to the journal rather than to audit: a user's systemd
 * manager checks its callers against the policy too, but without CAP_AUDIT_WRITE its denials go to
 * its log only. The kernel's and audit's own records are left out (dmesg and ausearch have them).
 */
function journalDenials(): string[] {
  const out: string[] = [];
  for (const line of run("journalctl", ["-b", "-o", "json", "--no-pager"]).stdout.split("\n")) {
    if (!line.includes("avc:")) continue;
    try {
      const entry = JSON.parse(line) as { MESSAGE?: unknown; _TRANSPORT?: unknown };
      if (typeof entry.MESSAGE === "string" && entry._TRANSPORT !== "kernel" && entry._TRANSPORT !== "audit") out.push(entry.MESSAGE);
    } catch {
      // not one entry: skip
    }
  }
  return out;
}

/**
 * Every SELinux denial of this boot, as raw audit lines: the kernel log's (before auditd ran),
 * auditd's (`ausearch -m avc`) and the journal's from user-space object managers. One event may
 * repeat a record; each record is kept once.
 */
export function selinuxDenials(): string[] {
  const kernel = run("dmesg", []).stdout.split("\n");
  const audit = run("ausearch", ["--raw", "-m", "AVC,USER_AVC,SELINUX_ERR", "-ts", "boot"]).stdout.split("\n");
  const records = new Map<string, string>();
  for (const line of [...kernel, ...audit, ...journalDenials()]) {
    if (!/avc:\s+denied|SELINUX_ERR|type=1401/.test(line)) continue;
    const serial = /audit\((\d+\.\d+:\d+)\)/.exec(line)?.[1] ?? "";
    const avc = line.indexOf("avc:");
    const key = `${serial} ${avc === -1 ? line : line.slice(avc)}`;
    if (!records.has(key)) records.set(key, line.trim());
  }
  return [...records.values()];
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

export function ownerOf(pid: number): string {
  return ok("stat", ["-c", "%U", `/proc/${pid}`]);
}

export function uidOf(user: string): number {
  return Number(ok("id", ["-u", user]));
}

export function unitProperty(unit: string, property: string): string {
  return ok("systemctl", ["show", "--value", "-p", property, unit]);
}

/** The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup). */
export function cgroupOf(pid: number): string | undefined {
  return read(`/proc/${pid}/cgroup`)
    ?.split("\n")
    .find((line) => line.startsWith("0::"))
    ?.slice(3);
}

/** Where a process's cgroup is, and the caps cgroupfs shows there. */
export function cgroupFacts(pid: number): Record<string, unknown> {
  const cgroup = cgroupOf(pid);
  if (cgroup === undefined) throw new Error(`pid ${pid} has no cgroup (gone?)`);
  const dir = `/sys/fs/cgroup${cgroup}`;
  return { cgroup, memoryMax: read(`${dir}/memory.max`)?.trim(), cpuMax: read(`${dir}/cpu.max`)?.trim(), pidsMax: read(`${dir}/pids.max`)?.trim() };
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
