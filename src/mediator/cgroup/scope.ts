/**
 * The systemd-run command line that starts the reaper in a transient scope of the user's own
 * systemd manager (pure). systemd-run --scope asks the manager for the scope, moves itself into
 * it and exec's the reaper in place: same pid, same fds (the status and commit pipes), so the
 * reaper, the server and all they start are in the scope, and the mediator's handshake is as before.
 */
import { CGROUP_PROPERTY_NAMES, formatValue, type CgroupValues, type OomPolicy } from "./policy.js";

/** Fixed, audited like the reaper; never taken from PATH or the hub. */
export const SYSTEMD_RUN = "/usr/bin/systemd-run";
export const LOGINCTL = "/usr/bin/loginctl";

/** The user's manager listens here; systemd-run --user finds it through XDG_RUNTIME_DIR alone. */
export function runtimeDir(uid: number): string {
  return `/run/user/${uid}`;
}

export function managerSocket(uid: number): string {
  return `${runtimeDir(uid)}/systemd/private`;
}

/**
 * systemd-run's environment (pure): the server's, with the user's runtime dir, where systemd-run
 * finds the user's manager. What else systemd-run reads (DBUS_*, SYSTEMD_*, XDG_*) is never in the
 * server's environment: the vocabulary admits none of it under any policy (NEVER_PREFIXES).
 */
export function scopeEnv(serverEnv: readonly string[], uid: number): string[] {
  return [...serverEnv.filter((entry) => !entry.startsWith("XDG_RUNTIME_DIR=")), `XDG_RUNTIME_DIR=${runtimeDir(uid)}`];
}

/**
 * The scope's name: ours at a glance (`systemctl --user list-units 'ts-sudospawner-*'`), the uid,
 * and a random part so two starts never collide. `random` is hex from the caller.
 */
export function scopeUnitName(uid: number, random: string): string {
  if (!/^[0-9a-f]{1,32}$/.test(random)) throw new Error(`scope name: not a hex string: ${random}`);
  return `ts-sudospawner-${uid}-${random}.scope`;
}

/** The caps as `-p Name=value` pairs, in a fixed order, OOMPolicy last. */
export function propertyArgs(caps: CgroupValues, oomPolicy: OomPolicy): string[] {
  const args: string[] = [];
  for (const name of CGROUP_PROPERTY_NAMES) {
    const value = caps[name];
    if (value !== undefined) args.push("-p", `${name}=${formatValue(name, value)}`);
  }
  args.push("-p", `OOMPolicy=${oomPolicy}`);
  return args;
}

/** systemd-run's argv (argv[0] included) around the reaper's: `reaperArgv[0]` is replaced by its path. */
export function scopeArgv(options: { unit: string; caps: CgroupValues; oomPolicy: OomPolicy; reaperPath: string; reaperArgv: readonly string[] }): string[] {
  return [
    "systemd-run",
    "--user",
    "--scope",
    "--quiet",
    "--collect",
    `--unit=${options.unit}`,
    ...propertyArgs(options.caps, options.oomPolicy),
    "--",
    options.reaperPath,
    ...options.reaperArgv.slice(1),
  ];
}

/** Where the package ships the SELinux module for cgroup mode (docs/admin-guide.md, section 8). */
export const CGROUP_SELINUX_MODULE = "examples/selinux/ts-sudospawner-cgroup.cil";

/** That module in an installed package (pure). */
export function cgroupSelinuxModule(packageRoot: string): string {
  return `${packageRoot.replace(/\/+$/, "")}/${CGROUP_SELINUX_MODULE}`;
}

/**
 * The error when systemd-run exits before the exec: the user's manager refused the scope (pure).
 * systemd-run's own reason went to stderr, which the hub logs; under SELinux enforcing the usual
 * one, "Access denied", is the manager's own policy check of the hub's domain, which leaves
 * nothing in the audit log, so the fix is named here.
 */
export function scopeRefusedMessage(unit: string, selinuxEnforcing: boolean, moduleFile: string): string {
  const base = `systemd-run could not start the server's scope ${unit} (its message is in the hub's log just above); nothing was started`;
  if (!selinuxEnforcing) return base;
  return `${base}. SELinux is enforcing: if that message is "Access denied", the user's systemd manager refused the hub's domain. Fix, as root: \`semodule -i ${moduleFile}\` (docs/admin-guide.md, section 8)`;
}
