/**
 * `ts-sudospawner user-cap (--user NAME | --all-users) [caps] [--install | --remove]`: print the
 * slice drop-in of dropin.ts, or install it root-owned 0644 (written beside, then renamed: systemd
 * never reads half a file) and have systemd apply it, or remove it.
 */
import fs from "node:fs";
import path from "node:path";
import { SudoSpawnerError, errnoCode, errorMessage } from "../../errors.js";
import { spawnableUidMin } from "../../mediator/accounts.js";
import { loadPolicy } from "../../mediator/policy-file.js";
import { shellQuote } from "../../protocol/index.js";
import type { Account } from "../../system/account.js";
import { lookupAccount, runCommand, type CommandResult } from "../host/commands.js";
import type { AdminIO } from "../io.js";
import { installRootFile } from "../root-file.js";
import { validateAccountName } from "../sudoers/rule.js";
import { USER_DROPIN_PATTERN, dropinPath, dropinText, parseUserCaps, sliceUnit, userTarget, type UserCapProperty, type UserCapTarget } from "./dropin.js";

/** A fixed absolute path: root runs it, so nothing on PATH may stand in for it. */
export const SYSTEMCTL = "/usr/bin/systemctl";

export interface UserCapOptions {
  /** Exactly one of `user` and `allUsers`. */
  user?: string;
  allUsers: boolean;
  caps: Partial<Record<UserCapProperty, string>>;
  install: boolean;
  remove: boolean;
}

/** What the command asks of the host; tests give their own. */
export interface UserCapHost {
  lookupAccount(name: string): Account | undefined;
  /** The lowest uid the mediator acts as (the policy's minUid, else UID_MIN). */
  uidMin(): number;
  isRoot(): boolean;
  systemctl(args: readonly string[]): CommandResult;
}

export const realHost: UserCapHost = {
  lookupAccount,
  uidMin: () => {
    try {
      return spawnableUidMin(loadPolicy());
    } catch {
      return spawnableUidMin({}); // a broken policy refuses every spawn anyway; login.defs still says who is a system account
    }
  },
  isRoot: () => process.geteuid?.() === 0,
  systemctl: (args) => runCommand(SYSTEMCTL, args),
};

function targetOf(options: UserCapOptions, host: UserCapHost): UserCapTarget {
  if ((options.user === undefined) === !options.allUsers) {
    throw new SudoSpawnerError("USAGE", "name whose slice to cap: either --user NAME or --all-users");
  }
  if (options.user === undefined) return { kind: "all-users" };
  const name = validateAccountName(options.user, "user");
  const account = host.lookupAccount(name);
  if (account === undefined) {
    const next = options.remove
      ? `the drop-in of an account since deleted goes with rm ${USER_DROPIN_PATTERN} and systemctl daemon-reload`
      : "create the account or fix NSS first";
    throw new SudoSpawnerError("NOT_FOUND", `the user ${name} does not exist (getent passwd ${shellQuote(name)} finds nothing): ${next}`);
  }
  return userTarget(account, host.uidMin());
}

/** Removes the drop-in, and its directory when nothing else is in it; false when there was none. */
function remove(file: string): boolean {
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw new SudoSpawnerError("FILE_WRITE", `could not remove ${file}: ${errorMessage(error)}`);
  }
  try {
    fs.rmdirSync(path.dirname(file));
  } catch {
    // an admin's own drop-ins are still there: keep them
  }
  return true;
}

/**
 * daemon-reload makes systemd reread the unit files and apply a loaded slice's new cgroup
 * settings to its cgroup at once (seen on Debian 12's systemd 252 in the VM tier): no
 * `set-property`, whose drop-ins in system.control would outrank ours and outlive a --remove.
 */
function reload(host: UserCapHost, io: AdminIO, done: string): number {
  const result = host.systemctl(["daemon-reload"]);
  if (result.status === 0) return 0;
  const why = result.failure ?? (result.stderr.trim() || `exit status ${String(result.status)}`);
  io.err(`${done}, but \`${SYSTEMCTL} daemon-reload\` failed (${why}): run it once systemd is up; until then systemd keeps the old values\n`);
  return 1;
}

export function runUserCap(options: UserCapOptions, io: AdminIO, host: UserCapHost = realHost): number {
  if (options.install && options.remove) throw new SudoSpawnerError("USAGE", "--install and --remove exclude each other: give one");
  const given = Object.keys(options.caps).length > 0;
  if (options.remove && given) throw new SudoSpawnerError("USAGE", "--remove takes the whole drop-in away and takes no caps: leave them out");
  const values = options.remove ? undefined : parseUserCaps(options.caps);
  const target = targetOf(options, host);
  const file = dropinPath(target);
  if ((options.install || options.remove) && !host.isRoot()) {
    throw new SudoSpawnerError("USAGE", `${options.install ? "--install" : "--remove"} changes ${file}: run it as root`);
  }
  const whose = target.kind === "user" ? `${target.name}'s ${sliceUnit(target)}` : "every user's slice";
  if (values === undefined) {
    if (!remove(file)) {
      io.err(`nothing to remove: ${file} is not there\n`);
      return 0;
    }
    const status = reload(host, io, `removed ${file}`);
    if (status === 0) io.err(`removed ${file}: ${whose} is no longer capped by ts-sudospawner (systemd reloaded)\n`);
    return status;
  }
  const text = dropinText(target, values);
  if (!options.install) {
    io.out(text);
    io.err(`${file}: run again as root with --install to write it there and apply it\n`);
    return 0;
  }
  installRootFile(file, text, io);
  const status = reload(host, io, `installed ${file}`);
  if (status === 0) io.err(`installed ${file}: systemd applies it to ${whose} now (running slices included) and at every start\n`);
  return status;
}
