/**
 * Who the mediator runs as, and whether that account may own a single-user server.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { SudoSpawnerError } from "../errors.js";
import type { Account } from "../system/account.js";

export const DEFAULT_UID_MIN = 1000;
/** The overflow uid ("nobody", "nfsnobody"): above UID_MIN, yet a system account. */
export const NOBODY_UID = 65534;
const LOGIN_DEFS = "/etc/login.defs";

/** UID_MIN from the text of /etc/login.defs (pure); the default where it is absent or malformed. */
export function parseUidMin(loginDefs: string): number {
  for (const line of loginDefs.split("\n")) {
    const match = /^\s*UID_MIN\s+(\d+)\s*(?:#.*)?$/.exec(line);
    if (match) return Number(match[1]);
  }
  return DEFAULT_UID_MIN;
}

export function readUidMin(file = LOGIN_DEFS): number {
  try {
    return parseUidMin(readFileSync(file, "utf8"));
  } catch {
    return DEFAULT_UID_MIN;
  }
}

/** The passwd entry of the user this process runs as (getpwuid_r via libuv). */
export function currentAccount(): Account {
  const info = userInfo();
  return {
    uid: info.uid,
    gid: info.gid,
    name: info.username,
    home: info.homedir,
    shell: info.shell ?? "/bin/sh",
  };
}

/** The lowest uid acted as: the policy's `minUid`, else UID_MIN of /etc/login.defs. */
export function spawnableUidMin(policy: { minUid?: number }): number {
  return policy.minUid ?? readUidMin();
}

/** Why an account may not own a server: root, the overflow placeholder, or a system account. */
export type NotSpawnable = "root" | "placeholder" | "system";

/** The one rule of which accounts are never acted as (pure); undefined for an ordinary user. */
export function notSpawnable(account: Pick<Account, "uid" | "name">, uidMin: number): NotSpawnable | undefined {
  if (account.uid === 0) return "root";
  if (account.uid === NOBODY_UID || account.name === "nobody") return "placeholder";
  if (account.uid < uidMin) return "system";
  return undefined;
}

/** Refuse root and system accounts: a rule like `hub ALL=(ALL) NOPASSWD: mediator` must not let the hub act as them. */
export function assertSpawnableAccount(account: Pick<Account, "uid" | "name">, uidMin: number): void {
  switch (notSpawnable(account, uidMin)) {
    case undefined:
      return;
    case "root":
      throw new SudoSpawnerError(
        "FORBIDDEN_USER",
        "refusing to act as root: single-user servers must run as ordinary users. Restrict the sudoers Runas list (run `ts-sudospawner sudoers --hub-user HUB --group GROUP`)",
      );
    case "placeholder":
      throw new SudoSpawnerError(
        "FORBIDDEN_USER",
        `refusing to act as ${account.name} (uid ${account.uid}), the unprivileged placeholder account. Restrict the sudoers Runas list to the users who may run notebook servers`,
      );
    case "system":
      throw new SudoSpawnerError(
        "FORBIDDEN_USER",
        `refusing to act as system account ${account.name} (uid ${account.uid} is below UID_MIN ${uidMin}). Restrict the sudoers Runas list to the users who may run notebook servers`,
      );
  }
}

/** Groups this process has that the user's own group list lacks (pure). */
export function foreignGroups(current: readonly number[], own: readonly number[]): number[] {
  return [...new Set(current)].filter((gid) => !own.includes(gid)).sort((a, b) => a - b);
}

/**
 * Refuse to start a server with groups that are not the user's: `sudo -P` keeps the caller's
 * (the hub's) supplementary groups, and sudo allows it by default. `groupList` is the addon's
 * getgrouplist(3): the user's groups by the system's account databases (NSS).
 */
export function assertOwnGroups(
  account: Pick<Account, "name" | "gid">,
  groupList: (name: string, gid: number) => number[] | number,
  current: readonly number[] = [...(process.getgroups?.() ?? []), process.getegid?.() ?? -1],
): void {
  const own = groupList(account.name, account.gid);
  if (typeof own === "number") throw new SudoSpawnerError("NOT_FOUND", `cannot list the groups of ${account.name} (getgrouplist: errno ${-own})`);
  const foreign = foreignGroups(current, own);
  if (foreign.length > 0) {
    throw new SudoSpawnerError(
      "FORBIDDEN_USER",
      `refusing to start a server with groups ${foreign.join(", ")}, which are not ${account.name}'s: sudo kept the caller's groups (sudo -P, or preserve_groups in sudoers). Let the hub call sudo without -P, and remove preserve_groups from the sudoers rules of the hub user`,
    );
  }
}

/** "uid N" for messages, marked when it is the hub user that called sudo. */
export function uidMarkingHub(uid: number, sudoUid: number | undefined): string {
  const hub = uid === sudoUid ? " (the hub user that called sudo)" : "";
  return `uid ${uid}${hub}`;
}

export function sudoUid(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SUDO_UID;
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}
