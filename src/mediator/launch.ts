/**
 * What a spawn request launches, decided from the install and the root-owned policy only (pure).
 * The hub picks at most a profile name, lower limits, and arguments from the vocabulary
 * (vocabulary/server-args.ts); executables come from root.
 */
import { isAbsolute } from "node:path";
import { SudoSpawnerError } from "../errors.js";
import type { SpawnRequest, SubmitRequest } from "../protocol/index.js";
import type { Account } from "../system/account.js";
import { effectiveCaps, type CgroupValues } from "./cgroup/policy.js";
import { effectiveLimits, reaperOptions, serverLogPath, type Policy } from "./policy.js";
import { checkServerArgs, settingsFixedBy } from "./vocabulary/server-args.js";
import type { TraitTable } from "./vocabulary/traitlets-table.js";

/** What the site policy picks for one spawn request; spawn.ts's LaunchPlan adds env and cwd. */
export interface PolicyChoice {
  /** Absolute executable, or undefined to use the one next to the mediator. */
  executable: string | undefined;
  /** The profile's arguments, then the hub's. */
  args: string[];
  /** The settings the launch profile fixes, which the hub's environment may not set either. */
  fixed: ReadonlySet<string>;
  /** Indexes into args of the hub's options that set the root directory (checked as the user later). */
  rootDirOptions: { index: number; spelling: string }[];
  reaperOptions: string[];
  /** Where the server's output is also written, if the policy asks for it. */
  logFile: string | undefined;
  /** The server's cgroup caps when the policy has a "cgroup" section (then it runs in a scope), else undefined. */
  cgroupCaps: CgroupValues | undefined;
}

/** `traits`: the single-user server's traitlets table (vocabulary/traitlets-table.ts), for the options a site allows. */
export function chooseLaunch(request: SpawnRequest | SubmitRequest, policy: Policy, user: Pick<Account, "name" | "home">, traits: TraitTable): PolicyChoice {
  let executable = policy.singleuser;
  let prefixArgs: string[] = [];
  let siteLimits = policy.limits;
  let profileCgroup: CgroupValues | undefined;
  if (request.profile !== undefined) {
    const names = Object.keys(policy.profiles);
    const profile = Object.hasOwn(policy.profiles, request.profile) ? policy.profiles[request.profile] : undefined;
    if (!profile) {
      throw new SudoSpawnerError(
        "BAD_REQUEST",
        names.length === 0
          ? `launch profile ${JSON.stringify(request.profile)} requested, but the site policy defines no profiles`
          : `unknown launch profile ${JSON.stringify(request.profile)}; the site policy defines ${names.join(", ")}`,
      );
    }
    executable = profile.executable;
    prefixArgs = profile.args;
    siteLimits = { ...policy.limits, ...profile.limits };
    profileCgroup = profile.cgroup;
  }
  const logFile = policy.serverLog === undefined ? undefined : serverLogPath(policy.serverLog, user.name, user.home);
  if (logFile !== undefined && !isAbsolute(logFile)) {
    throw new SudoSpawnerError("POLICY", `the server log path ${logFile} is not absolute`);
  }
  const fixed = settingsFixedBy(prefixArgs, traits);
  const options = checkServerArgs(request.args, fixed, traits, policy.serverArgs, request.profile);
  const rootDirOptions = options.filter((option) => option.setting === "root_dir").map(({ index, spelling }) => ({ index: prefixArgs.length + index, spelling }));
  const limits = effectiveLimits(siteLimits, request.action === "spawn" ? request.limits : undefined);
  const cgroupCaps = policy.cgroup === undefined ? undefined : effectiveCaps(policy.cgroup, profileCgroup, request.action === "spawn" ? request.cgroup : undefined);
  return { executable, args: [...prefixArgs, ...request.args], fixed, rootDirOptions, reaperOptions: reaperOptions(limits, policy, logFile), logFile, cgroupCaps };
}
