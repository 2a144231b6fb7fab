/**
 * Who the mediator runs as, and whether that account may own a single-user server.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { SudoSpawnerError } from "../errors.js";
import type { Identity } from "./env-policy.js";

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

export interface Account extends Identity {
  uid: number;
  gid: number;
}

/** The passwd entry of the user this process runs as (getpwuid_r via libuv). */
export function currentAccount(): Account {
  const info = userInfo();
  return {
    uid: info.uid,
    gid: info.gid,
    username: info.username,
    homedir: info.homedir,
    shell: info.shell ?? "/bin/sh",
  };
}

/** Refuse root and system accounts: a rule like `hub ALL=(ALL) NOPASSWD: mediator` must not let the hub act as them. */
export function assertSpawnableAccount(account: Pick<Account, "uid" | "username">, uidMin: number): void {
  if (account.uid === 0) {
    throw new SudoSpawnerError(
      "FORBIDDEN_USER",
      "refusing to act as root: single-user servers must run as ordinary users. Restrict the sudoers Runas list (run `ts-sudospawner sudoers --hub-user HUB --group GROUP`)",
    );
  }
  if (account.uid === NOBODY_UID || account.username === "nobody") {
    throw new SudoSpawnerError(
      "FORBIDDEN_USER",
      `refusing to act as ${account.username} (uid ${account.uid}), the unprivileged placeholder account. Restrict the sudoers Runas list to the users who may run notebook servers`,
    );
  }
  if (account.uid < uidMin) {
    throw new SudoSpawnerError(
      "FORBIDDEN_USER",
      `refusing to act as system account ${account.username} (uid ${account.uid} is below UID_MIN ${uidMin}). Restrict the sudoers Runas list to the users who may run notebook servers`,
    );
  }
}

/** A readable name for a uid in messages, marking the hub user that called sudo. */
export function describeUid(uid: number, sudoUid: number | undefined): string {
  const hub = uid === sudoUid ? " (the hub user that called sudo)" : "";
  return `uid ${uid}${hub}`;
}

export function sudoUid(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SUDO_UID;
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}
