/**
 * The per-user cap of `ts-sudospawner user-cap` (pure): a drop-in for systemd's user-UID.slice,
 * the cgroup that holds everything one user runs (all their servers, kernels, ssh logins), or for
 * `user-.slice.d`, which systemd applies to every user-UID.slice. The policy's "cgroup" section caps
 * each server on its own; this bounds their sum. Values go through the policy's own parser
 * (mediator/cgroup/policy.ts), so "4G", "200%", 512 and "infinity" mean the same in both places.
 */
import { SudoSpawnerError } from "../../errors.js";
import { notSpawnable } from "../../mediator/accounts.js";
import { formatValue, parseCgroupValue } from "../../mediator/cgroup/policy.js";
import type { Account } from "../../system/account.js";

/** The properties a user's slice gets, in the order they are written; a closed set. */
export const USER_CAP_PROPERTIES = ["MemoryMax", "MemoryHigh", "CPUQuota", "TasksMax"] as const;
export type UserCapProperty = (typeof USER_CAP_PROPERTIES)[number];
export type UserCapValues = Partial<Record<UserCapProperty, number>>;

/** Each property's command-line option. */
export const USER_CAP_OPTIONS: Readonly<Record<UserCapProperty, string>> = {
  MemoryMax: "--memory-max",
  MemoryHigh: "--memory-high",
  CPUQuota: "--cpu-quota",
  TasksMax: "--tasks-max",
};

/** One user's slice, or every user's (systemd's `user-.slice.d` prefix drop-in). */
export type UserCapTarget = { kind: "user"; name: string; uid: number } | { kind: "all-users" };

export const DROPIN_NAME = "50-ts-sudospawner.conf";
/** The admin's unit directory: it outlives reboots and package upgrades, and /run's copies override it. */
const SYSTEM_UNIT_DIR = "/etc/systemd/system";

export function sliceUnit(target: UserCapTarget): string {
  return target.kind === "user" ? `user-${target.uid}.slice` : "user-.slice";
}

export function dropinPath(target: UserCapTarget): string {
  return `${SYSTEM_UNIT_DIR}/${sliceUnit(target)}.d/${DROPIN_NAME}`;
}

/** One user's path as messages name it, with UID for the number. */
export const USER_DROPIN_PATTERN = `${SYSTEM_UNIT_DIR}/user-UID.slice.d/${DROPIN_NAME}`;

/**
 * An option's text as the policy file would hold it: digits alone as a JSON number, anything else
 * as a JSON string. A command line has no types; this is what lets `--tasks-max 2048` mean the
 * policy's `"TasksMax": 2048` while `--cpu-quota 200` is refused as `"CPUQuota": 200` is.
 */
function asPolicyValue(text: string): string | number {
  return /^[0-9]+$/.test(text) ? Number(text) : text;
}

/** The caps given on the command line, as numbers; a USAGE error names the option and what it must be. */
export function parseUserCaps(given: Partial<Record<UserCapProperty, string>>): UserCapValues {
  const values: UserCapValues = {};
  for (const name of USER_CAP_PROPERTIES) {
    const text = given[name];
    if (text === undefined) continue;
    values[name] = parseCgroupValue(name, asPolicyValue(text), (mustBe) => {
      throw new SudoSpawnerError("USAGE", `${USER_CAP_OPTIONS[name]} ${JSON.stringify(text)}: ${mustBe}`);
    });
  }
  if (Object.keys(values).length === 0) {
    throw new SudoSpawnerError(
      "USAGE",
      "no cap given: a drop-in without one would change nothing. Give at least one of --memory-max (e.g. 8G), --memory-high, --cpu-quota (e.g. 400%) or --tasks-max (e.g. 2048); --remove takes the drop-in away",
    );
  }
  return values;
}

/** One user's slice, refusing the accounts the mediator never acts as (accounts.ts's one rule). */
export function userTarget(account: Pick<Account, "name" | "uid">, uidMin: number): UserCapTarget {
  const who = `${account.name} (uid ${account.uid})`;
  const why = "user-cap is for the users who get servers, and the mediator never acts as it";
  switch (notSpawnable(account, uidMin)) {
    case undefined:
      return { kind: "user", name: account.name, uid: account.uid };
    case "root":
      throw new SudoSpawnerError("FORBIDDEN_USER", `refusing to cap ${who}: root's processes are not a user's, and ${why}`);
    case "placeholder":
      throw new SudoSpawnerError("FORBIDDEN_USER", `refusing to cap ${who}, the unprivileged placeholder account: ${why}`);
    case "system":
      throw new SudoSpawnerError("FORBIDDEN_USER", `refusing to cap system account ${who}, below UID_MIN ${uidMin}: ${why}`);
  }
}

/** The drop-in's text: a header saying who wrote it, then `[Slice]` with the caps in systemd's syntax. */
export function dropinText(target: UserCapTarget, values: UserCapValues): string {
  const whose = target.kind === "user" ? `uid ${target.uid}'s user-${target.uid}.slice` : "every user's slice (user-UID.slice)";
  const lines = [
    "# Written by `ts-sudospawner user-cap`: a cap on the sum of all that runs in",
    `# ${whose}: every server, kernel and login together.`,
    '# Each server\'s own caps are the site policy\'s "cgroup" section. Undo: `user-cap --remove`.',
    "[Slice]",
  ];
  for (const name of USER_CAP_PROPERTIES) {
    const value = values[name];
    if (value !== undefined) lines.push(`${name}=${formatValue(name, value)}`);
  }
  return `${lines.join("\n")}\n`;
}

