/**
 * A systemd unit that runs the hub, read for the settings that decide whether servers survive a
 * hub restart and whether sudo can work at all (pure; files are read by the caller).
 *
 * - The servers are started by sudo from the hub, so they live in the hub service's cgroup. With
 *   the default `KillMode=control-group` (or `mixed`), `systemctl stop/restart jupyterhub` kills
 *   every one of them; only `KillMode=process` stops the hub alone.
 * - sudo is set-uid: with `NoNewPrivileges=yes` it cannot become anyone. For a service that runs as
 *   a user other than root, systemd also turns it on by itself when any of IMPLYING_NO_NEW_PRIVILEGES
 *   is set (systemd.exec(5), "NoNewPrivileges=").
 */

export interface UnitSource {
  file: string;
  text: string;
}

export interface UnitSetting {
  value: string;
  file: string;
  line: number;
}

/** Settings of the [Service] section, every assignment kept in order (drop-ins after the unit). */
export type ServiceSettings = Map<string, UnitSetting[]>;

/** Parse [Service] of a unit file and its drop-ins, in the order given. */
export function serviceSettings(sources: readonly UnitSource[]): ServiceSettings {
  const settings: ServiceSettings = new Map();
  for (const source of sources) {
    let section = "";
    const physical = source.text.split("\n");
    for (let i = 0; i < physical.length; i++) {
      const first = i + 1;
      let line = physical[i] as string;
      while (line.endsWith("\\") && i + 1 < physical.length) {
        i++;
        line = `${line.slice(0, -1)} ${physical[i] as string}`;
      }
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
      const header = /^\[(.+)\]$/.exec(trimmed);
      if (header) {
        section = header[1] as string;
        continue;
      }
      if (section !== "Service") continue;
      const eq = trimmed.indexOf("=");
      if (eq <= 0) continue;
      const key = trimmed.slice(0, eq).trim();
      const value = trimmed.slice(eq + 1).trim();
      const list = settings.get(key) ?? [];
      list.push({ value, file: source.file, line: first });
      settings.set(key, list);
    }
  }
  return settings;
}

/** The effective value of a single-valued setting: the last assignment. */
export function lastSetting(settings: ServiceSettings, key: string): UnitSetting | undefined {
  const list = settings.get(key);
  return list?.[list.length - 1];
}

/**
 * The assignments of a list-valued setting that still count: an empty assignment (`Key=`)
 * resets the list, as systemd does.
 */
export function listSetting(settings: ServiceSettings, key: string): UnitSetting[] {
  const list = settings.get(key) ?? [];
  const reset = list.map((entry) => entry.value).lastIndexOf("");
  return list.slice(reset + 1);
}

/** systemd's booleans. */
export function isTrue(value: string): boolean {
  return ["1", "yes", "y", "true", "t", "on"].includes(value.trim().toLowerCase());
}

/**
 * Settings that turn NoNewPrivileges on for a service not running as root (systemd.exec(5)):
 * booleans count when true, the others (lists) when set to anything.
 */
export const IMPLYING_NO_NEW_PRIVILEGES: Readonly<Record<string, "boolean" | "list">> = {
  SystemCallFilter: "list",
  SystemCallArchitectures: "list",
  RestrictAddressFamilies: "list",
  RestrictNamespaces: "list",
  PrivateDevices: "boolean",
  ProtectKernelTunables: "boolean",
  ProtectKernelModules: "boolean",
  ProtectKernelLogs: "boolean",
  ProtectClock: "boolean",
  MemoryDenyWriteExecute: "boolean",
  RestrictRealtime: "boolean",
  RestrictSUIDSGID: "boolean",
  LockPersonality: "boolean",
  DynamicUser: "boolean",
};

export interface UnitVerdict {
  user?: UnitSetting;
  killMode: { value: string; setting?: UnitSetting };
  /** Where NoNewPrivileges is on: the explicit setting, or the settings that imply it. */
  noNewPrivileges: UnitSetting[];
  noNewPrivilegesKeys: string[];
  supplementaryGroups: string[];
  workingDirectory?: UnitSetting;
}

export function judgeUnit(settings: ServiceSettings): UnitVerdict {
  const killMode = lastSetting(settings, "KillMode");
  const user = lastSetting(settings, "User");
  const verdict: UnitVerdict = {
    killMode: killMode === undefined ? { value: "control-group" } : { value: killMode.value, setting: killMode },
    noNewPrivileges: [],
    noNewPrivilegesKeys: [],
    supplementaryGroups: listSetting(settings, "SupplementaryGroups").flatMap((entry) => entry.value.split(/\s+/).filter(Boolean)),
  };
  if (user !== undefined) verdict.user = user;
  const workingDirectory = lastSetting(settings, "WorkingDirectory");
  if (workingDirectory !== undefined) verdict.workingDirectory = workingDirectory;
  const explicit = lastSetting(settings, "NoNewPrivileges");
  if (explicit !== undefined && isTrue(explicit.value)) {
    verdict.noNewPrivileges.push(explicit);
    verdict.noNewPrivilegesKeys.push("NoNewPrivileges");
  }
  const runsAsRoot = user === undefined || user.value === "root" || user.value === "0";
  if (!runsAsRoot) {
    for (const [key, kind] of Object.entries(IMPLYING_NO_NEW_PRIVILEGES)) {
      const setting = kind === "boolean" ? lastSetting(settings, key) : listSetting(settings, key).at(-1);
      if (setting === undefined) continue;
      const on = kind === "boolean" ? isTrue(setting.value) : setting.value !== "";
      if (on) {
        verdict.noNewPrivileges.push(setting);
        verdict.noNewPrivilegesKeys.push(key);
      }
    }
  }
  return verdict;
}

/** Whether the unit's User= names the hub (by name or uid). */
export function unitRunsAs(settings: ServiceSettings, hub: { name: string; uid: number }): boolean {
  const user = lastSetting(settings, "User")?.value;
  return user === hub.name || user === String(hub.uid);
}

/** Where systemd looks for system units, most specific first. */
export const UNIT_DIRECTORIES = ["/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];
