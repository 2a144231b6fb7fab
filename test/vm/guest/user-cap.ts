/**
 * The per-user cap in the guest (run by driver.ts as root): the installed tool's `user-cap
 * --install` for a lingering user, whose user-UID.slice is active, then `--remove`, with what
 * cgroupfs shows for that slice before, in between and after. The tool runs only `systemctl
 * daemon-reload`, so the values seen in between are what a reload alone applies to a running slice.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { GUEST } from "./names.js";
import { read } from "./observe.js";

export const USER_CAP = { memoryMax: "300M", tasksMax: "100", memoryMaxBytes: String(300 * 1024 * 1024) } as const;

function tool(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(GUEST.mediator, ["user-cap", "--user", GUEST.user, ...args], { encoding: "utf8", env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", LANG: "C.UTF-8" } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.trim() };
}

/** Trimmed, and null when absent: the report keeps the key. */
function readTrimmed(file: string): string | null {
  return read(file)?.trim() ?? null;
}

export async function userCapFacts(): Promise<Record<string, unknown>> {
  const uid = spawnSync("id", ["-u", GUEST.user], { encoding: "utf8" }).stdout.trim();
  const slice = `/sys/fs/cgroup/user.slice/user-${uid}.slice`;
  const file = `/etc/systemd/system/user-${uid}.slice.d/50-ts-sudospawner.conf`;
  const limits = () => ({ memoryMax: readTrimmed(`${slice}/memory.max`), pidsMax: readTrimmed(`${slice}/pids.max`) });
  const sliceActive = spawnSync("systemctl", ["is-active", `user-${uid}.slice`], { encoding: "utf8" }).stdout.trim();
  const before = limits();
  const install = tool(["--memory-max", USER_CAP.memoryMax, "--tasks-max", USER_CAP.tasksMax, "--install"]);
  const stat = fs.existsSync(file) ? fs.statSync(file) : undefined;
  const installed = { ...limits(), file: stat === undefined ? null : { uid: stat.uid, gid: stat.gid, mode: (stat.mode & 0o7777).toString(8), text: readTrimmed(file) } };
  const remove = tool(["--remove"]);
  const removed = { ...limits(), fileExists: fs.existsSync(file), dirExists: fs.existsSync(`/etc/systemd/system/user-${uid}.slice.d`) };
  return { uid, sliceActive, before, install, installed, remove, removed };
}
