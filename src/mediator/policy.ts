/**
 * The site policy in the root-owned /etc/ts-sudospawner/config.json: which executables may run
 * (optionally as named launch profiles), the environment policy, resource limits, umask, nice,
 * grace period, minimum uid and a per-user server log. Pure: validation of an already-parsed value.
 */
import { dirname, isAbsolute, join, normalize } from "node:path";
import { SudoSpawnerError } from "../errors.js";
import { expandPathTemplate } from "../install/path-template.js";
import { JOB_RESOURCE_NAMES, LIMIT_NAMES, PARTITION_NAME_PATTERN, PROFILE_NAME_PATTERN, type JobResourceName, type Limits, type ProfileSummary, type ResourceBounds } from "../protocol/index.js";
import { assertWithinMax, parseCgroupPolicy, parseCgroupValues, type CgroupPolicy, type CgroupValues } from "./cgroup/policy.js";
import type { EnvPolicy } from "./env-policy.js";
import { lowerEach } from "./lowering.js";
import type { AdoptPolicy } from "./kill/adoption.js";
import type { ServerArgsPolicy } from "./vocabulary/server-args.js";

import { POLICY_PATH } from "../install/layout.js";

export { POLICY_PATH };

export interface Profile {
  /** Shown to users in the hub's options form. */
  description: string;
  executable: string;
  /** Arguments placed before the hub's arguments. */
  args: string[];
  limits: Limits;
  /** Cgroup caps used instead of the "cgroup" section's default (each within its max). */
  cgroup?: CgroupValues;
}

export interface Policy {
  /** Replaces the executable next to the mediator. */
  singleuser?: string;
  profiles: Record<string, Profile>;
  env: EnvPolicy;
  limits: Limits;
  umask?: number;
  nice?: number;
  graceMs?: number;
  minUid?: number;
  /** Absolute path template; `{user}` and `{home}` are replaced. */
  serverLog?: string;
  /** The server's PATH after the executable's own directory (default DEFAULT_PATH of env-policy.ts). */
  path?: string;
  /** Which server arguments the hub may pass, beyond the vocabulary (vocabulary/server-args.ts). */
  serverArgs?: ServerArgsPolicy;
  /** What the server may do and see beyond its user's rights (validateSandbox). */
  sandbox?: SandboxPolicy;
  /** Until when servers of the Python sudospawner whose mediator is gone are adopted (kill/adoption.ts). */
  adopt?: AdoptPolicy;
  /** Slurm mode: servers as batch jobs (slurm/); off when absent. */
  slurm?: SlurmPolicy;
  /** Each server in a capped scope of its user's systemd manager (cgroup/); off when absent. */
  cgroup?: CgroupPolicy;
}

/** Slurm mode: which commands run, where the configuration is, and what a job may ask for. */
export interface SlurmPolicy {
  sbatch: string;
  squeue: string;
  scancel: string;
  /** Releases a submitted (held) job once the hub has its id; by default next to sbatch. */
  scontrol: string;
  /** Given to the commands as SLURM_CONF; Slurm's own default when absent. */
  conf?: string;
  /** Non-empty; the first is the default. */
  partitions: string[];
  /** Default and maximum of each job resource (gpus defaults to none). */
  bounds: Record<JobResourceName, ResourceBounds>;
  /** sbatch --output template ({home}, {user}, and Slurm's own %j); /dev/null when absent. */
  output?: string;
}

/** The server sandbox: no_new_privs, and through user + mount namespaces a private /tmp and read-only paths. */
export interface SandboxPolicy {
  /** prctl(PR_SET_NO_NEW_PRIVS) on the server: setuid programs such as sudo gain nothing. On by default. */
  noNewPrivileges: boolean;
  /** A fresh tmpfs on /tmp, seen by the server and its processes only. */
  privateTmp: boolean;
  /** Paths bind-mounted read-only (submounts included) for the server. */
  readOnlyPaths: string[];
  /** Between SIGTERM and SIGKILL for what is left of the server's tree once it exited; the reaper's 3 s if unset. */
  leftoverGraceMs?: number;
}

export const EMPTY_POLICY: Policy = { profiles: {}, env: {}, limits: {} };

type Json = Record<string, unknown>;

function fail(where: string, message: string): never {
  throw new SudoSpawnerError("POLICY", `${POLICY_PATH}: ${where} ${message}`);
}

function object(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "must be an object");
  return value as Json;
}

function onlyKeys(value: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(where, `has unknown key ${JSON.stringify(key)} (allowed: ${allowed.join(", ")})`);
  }
}

function absolutePath(value: unknown, where: string): string {
  if (typeof value !== "string" || !isAbsolute(value) || value.includes("\0") || normalize(value) !== value) {
    fail(where, "must be a normalised absolute path");
  }
  return value;
}

function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(where, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function stringList(value: unknown, where: string, pattern?: RegExp): string[] {
  if (!Array.isArray(value)) fail(where, "must be an array of strings");
  return value.map((item: unknown, index) => {
    if (typeof item !== "string" || item.includes("\0") || (pattern && !pattern.test(item))) fail(`${where}[${index}]`, "is not a valid entry");
    return item;
  });
}

const MAX_DESCRIPTION = 200;

/** One line of plain text for the options form: no control characters (the hub shows it to users). */
function description(value: unknown, where: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== "string" || value.length > MAX_DESCRIPTION || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) {
    fail(where, `must be one line of text of at most ${MAX_DESCRIPTION} characters`);
  }
  return value;
}

export function validateLimits(value: unknown, where: string): Limits {
  const raw = object(value, where);
  onlyKeys(raw, LIMIT_NAMES, where);
  const limits: Limits = {};
  for (const name of LIMIT_NAMES) {
    if (raw[name] !== undefined) limits[name] = integer(raw[name], `${where}.${name}`, 0, Number.MAX_SAFE_INTEGER);
  }
  return limits;
}

const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

function validateEnv(value: unknown): EnvPolicy {
  const raw = object(value, '"env"');
  onlyKeys(raw, ["deny", "denyPatterns", "allow"], '"env"');
  const env: EnvPolicy = {};
  if (raw.deny !== undefined) env.deniedNames = stringList(raw.deny, '"env.deny"', /^[^=\0]+$/);
  if (raw.denyPatterns !== undefined) env.deniedPatterns = stringList(raw.denyPatterns, '"env.denyPatterns"', ENV_PATTERN);
  if (raw.allow !== undefined) {
    env.allowPatterns = stringList(raw.allow, '"env.allow"', ENV_PATTERN);
    // "*" would make the hub's whole environment pass again: the vocabulary is the allow-list.
    env.allowPatterns.forEach((pattern, index) => {
      if (pattern === "*") fail(`"env.allow"[${index}]`, 'must name variables or a prefix ("SITE_*"), not "*" (every name)');
    });
  }
  return env;
}

function validateProfiles(value: unknown): Record<string, Profile> {
  const raw = object(value, '"profiles"');
  const profiles: Record<string, Profile> = Object.create(null) as Record<string, Profile>;
  for (const [name, entry] of Object.entries(raw)) {
    const where = `"profiles.${name}"`;
    if (!PROFILE_NAME_PATTERN.test(name)) fail(where, "is not a valid profile name (letters, digits, '.', '_', '-')");
    const profile = object(entry, where);
    onlyKeys(profile, ["description", "executable", "args", "limits", "cgroup"], where);
    profiles[name] = {
      description: profile.description === undefined ? "" : description(profile.description, `${where}.description`),
      executable: absolutePath(profile.executable, `${where}.executable`),
      args: profile.args === undefined ? [] : stringList(profile.args, `${where}.args`),
      limits: profile.limits === undefined ? {} : validateLimits(profile.limits, `${where}.limits`),
    };
    if (profile.cgroup !== undefined) (profiles[name] as Profile).cgroup = parseCgroupValues(profile.cgroup, `profiles.${name}.cgroup`);
  }
  return profiles;
}

function searchPath(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "" || value.split(":").some((dir) => !isAbsolute(dir) || normalize(dir) !== dir || dir.includes("\0"))) {
    fail(where, 'must be absolute, normalised directories separated by ":", e.g. "/opt/conda/bin:/usr/local/bin:/usr/bin:/bin"');
  }
  return value;
}

const OPTION_PATTERN = /^--?[A-Za-z0-9_*][A-Za-z0-9_.*-]*$/;

function validateServerArgs(value: unknown): ServerArgsPolicy {
  const raw = object(value, '"serverArgs"');
  onlyKeys(raw, ["allow", "deny"], '"serverArgs"');
  const result: ServerArgsPolicy = {};
  if (raw.allow !== undefined) result.allow = stringList(raw.allow, '"serverArgs.allow"', OPTION_PATTERN);
  if (raw.deny !== undefined) result.deny = stringList(raw.deny, '"serverArgs.deny"', OPTION_PATTERN);
  return result;
}

const MAX_READ_ONLY_PATHS = 64;

function validateSandbox(value: unknown): SandboxPolicy {
  const raw = object(value, '"sandbox"');
  onlyKeys(raw, ["noNewPrivileges", "privateTmp", "readOnlyPaths", "leftoverGraceSeconds"], '"sandbox"');
  const flag = (key: string, fallback: boolean): boolean => {
    if (raw[key] === undefined) return fallback;
    if (typeof raw[key] !== "boolean") fail(`"sandbox.${key}"`, "must be true or false");
    return raw[key];
  };
  const sandbox: SandboxPolicy = { noNewPrivileges: flag("noNewPrivileges", true), privateTmp: flag("privateTmp", false), readOnlyPaths: [] };
  if (raw.readOnlyPaths !== undefined) {
    const where = '"sandbox.readOnlyPaths"';
    if (!Array.isArray(raw.readOnlyPaths) || raw.readOnlyPaths.length > MAX_READ_ONLY_PATHS) fail(where, `must be an array of at most ${MAX_READ_ONLY_PATHS} paths`);
    sandbox.readOnlyPaths = raw.readOnlyPaths.map((item: unknown, index) => {
      const path = absolutePath(item, `${where}[${index}]`);
      if (path === "/") fail(`${where}[${index}]`, 'must not be "/": name the directories, e.g. "/usr", "/etc", "/opt"');
      return path;
    });
  }
  if (raw.leftoverGraceSeconds !== undefined) {
    const grace = raw.leftoverGraceSeconds;
    if (typeof grace !== "number" || !Number.isFinite(grace) || grace < 0 || grace > 60) fail('"sandbox.leftoverGraceSeconds"', "must be a number from 0 to 60");
    sandbox.leftoverGraceMs = Math.round(grace * 1000);
  }
  return sandbox;
}

/** `"adopt": {"until": "2026-12-31T00:00:00Z", "executables": [...]}`: a date-time with a zone. */
function validateAdopt(value: unknown): AdoptPolicy {
  const raw = object(value, '"adopt"');
  onlyKeys(raw, ["until", "executables"], '"adopt"');
  const until = raw.until;
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
  if (typeof until !== "string" || !zoned.test(until) || Number.isNaN(Date.parse(until))) {
    fail('"adopt.until"', 'must be a date and time with a zone, e.g. "2026-12-31T00:00:00Z"');
  }
  const executables = raw.executables === undefined ? [] : stringList(raw.executables, '"adopt.executables"');
  executables.forEach((file, index) => absolutePath(file, `"adopt.executables"[${index}]`));
  return { until, untilMs: Date.parse(until), executables };
}

/** `{"default": N, "max": N}` under the key `key` (e.g. slurm.cpus). */
function resourceBounds(value: unknown, key: string): ResourceBounds {
  const raw = object(value, `"${key}"`);
  onlyKeys(raw, ["default", "max"], `"${key}"`);
  const max = integer(raw.max, `"${key}.max"`, 0, 2 ** 32 - 1);
  const fallback = integer(raw.default, `"${key}.default"`, 0, max);
  return { default: fallback, max };
}

/** A log path template: absolute (or under {home}), no "..", no NUL. */
function pathTemplate(value: unknown, where: string, example: string): string {
  const absolute = typeof value === "string" && (value.startsWith("/") || value.startsWith("{home}/"));
  if (!absolute || value.includes("\0") || value.split("/").includes("..")) fail(where, `must be an absolute path template without "..", e.g. "${example}"`);
  return value;
}

const SLURM_KEYS = ["sbatch", "squeue", "scancel", "scontrol", "conf", "partitions", "output", ...JOB_RESOURCE_NAMES];

function validateSlurm(value: unknown): SlurmPolicy {
  const raw = object(value, '"slurm"');
  onlyKeys(raw, SLURM_KEYS, '"slurm"');
  const partitions = stringList(raw.partitions, '"slurm.partitions"', PARTITION_NAME_PATTERN);
  if (partitions.length === 0) fail('"slurm.partitions"', "must name at least one partition (the first is the default)");
  const bounds = {} as Record<JobResourceName, ResourceBounds>;
  for (const name of JOB_RESOURCE_NAMES) {
    if (raw[name] === undefined) {
      if (name !== "gpus") fail(`"slurm.${name}"`, 'is required: {"default": N, "max": N}');
      bounds[name] = { default: 0, max: 0 };
    } else {
      bounds[name] = resourceBounds(raw[name], `slurm.${name}`);
    }
  }
  for (const name of ["minutes", "memoryMB", "cpus"] as const) {
    if (bounds[name].default < 1) fail(`"slurm.${name}.default"`, "must be at least 1");
  }
  const sbatch = absolutePath(raw.sbatch, '"slurm.sbatch"');
  const slurm: SlurmPolicy = {
    sbatch,
    squeue: absolutePath(raw.squeue, '"slurm.squeue"'),
    scancel: absolutePath(raw.scancel, '"slurm.scancel"'),
    // Slurm installs its client commands side by side: a site that names sbatch has scontrol there.
    scontrol: raw.scontrol === undefined ? join(dirname(sbatch), "scontrol") : absolutePath(raw.scontrol, '"slurm.scontrol"'),
    partitions,
    bounds,
  };
  if (raw.conf !== undefined) slurm.conf = absolutePath(raw.conf, '"slurm.conf"');
  if (raw.output !== undefined) slurm.output = pathTemplate(raw.output, '"slurm.output"', "{home}/.jupyterhub-slurm-%j.log");
  return slurm;
}

const TOP_KEYS = ["singleuser", "profiles", "env", "limits", "umask", "nice", "graceSeconds", "minUid", "serverLog", "path", "serverArgs", "sandbox", "adopt", "slurm", "cgroup"];

export function validatePolicy(value: unknown): Policy {
  const raw = object(value, "the policy");
  onlyKeys(raw, TOP_KEYS, "the policy");
  const policy: Policy = {
    profiles: raw.profiles === undefined ? {} : validateProfiles(raw.profiles),
    env: raw.env === undefined ? {} : validateEnv(raw.env),
    limits: raw.limits === undefined ? {} : validateLimits(raw.limits, '"limits"'),
  };
  if (raw.singleuser !== undefined) policy.singleuser = absolutePath(raw.singleuser, '"singleuser"');
  if (raw.umask !== undefined) {
    if (typeof raw.umask !== "string" || !/^0?[0-7]{3}$/.test(raw.umask)) fail('"umask"', 'must be an octal string like "0077"');
    policy.umask = Number.parseInt(raw.umask, 8);
  }
  if (raw.nice !== undefined) policy.nice = integer(raw.nice, '"nice"', 0, 19);
  if (raw.graceSeconds !== undefined) {
    const grace = raw.graceSeconds;
    if (typeof grace !== "number" || !Number.isFinite(grace) || grace < 0 || grace > 60) fail('"graceSeconds"', "must be a number from 0 to 60");
    policy.graceMs = Math.round(grace * 1000);
  }
  if (raw.path !== undefined) policy.path = searchPath(raw.path, '"path"');
  if (raw.serverArgs !== undefined) policy.serverArgs = validateServerArgs(raw.serverArgs);
  if (raw.sandbox !== undefined) policy.sandbox = validateSandbox(raw.sandbox);
  if (raw.adopt !== undefined) policy.adopt = validateAdopt(raw.adopt);
  if (raw.slurm !== undefined) policy.slurm = validateSlurm(raw.slurm);
  if (raw.cgroup !== undefined) policy.cgroup = parseCgroupPolicy(raw.cgroup);
  for (const [name, profile] of Object.entries(policy.profiles)) {
    if (profile.cgroup === undefined) continue;
    if (policy.cgroup === undefined) fail(`"profiles.${name}.cgroup"`, 'needs the top-level "cgroup" section (its "max" bounds every profile)');
    assertWithinMax(profile.cgroup, policy.cgroup.max, `profiles.${name}.cgroup`);
  }
  if (raw.minUid !== undefined) policy.minUid = integer(raw.minUid, '"minUid"', 1, 2 ** 31 - 1);
  if (raw.serverLog !== undefined) policy.serverLog = pathTemplate(raw.serverLog, '"serverLog"', "{home}/.jupyterhub-singleuser.log");
  return policy;
}

/** What the hub's options form may show: each profile's name and description, in policy order. */
export function profileSummaries(policy: Pick<Policy, "profiles">): ProfileSummary[] {
  return Object.entries(policy.profiles).map(([name, profile]) => ({ name, description: profile.description }));
}

/** Effective limits: the lower of the site's and the hub's request for each (pure). */
export function effectiveLimits(site: Limits, requested: Limits | undefined): Limits {
  return lowerEach(site, requested, LIMIT_NAMES);
}

/**
 * The reaper options of the sandbox (pure). The reaper sets no_new_privs unless told
 * --allow-new-privs, so a policy without a sandbox needs none.
 */
export function sandboxOptions(sandbox: SandboxPolicy | undefined): string[] {
  const options: string[] = [];
  if (sandbox === undefined) return options;
  if (!sandbox.noNewPrivileges) options.push("--allow-new-privs");
  if (sandbox.privateTmp) options.push("--private-tmp");
  for (const path of sandbox.readOnlyPaths) options.push("--read-only", path);
  if (sandbox.leftoverGraceMs !== undefined) options.push("--leftover-grace-ms", String(sandbox.leftoverGraceMs));
  return options;
}

/** The reaper options that apply limits, umask, nice, the log file and the sandbox (pure). */
export function reaperOptions(limits: Limits, policy: Pick<Policy, "umask" | "nice" | "sandbox">, logFile: string | undefined): string[] {
  const options: string[] = [];
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (value !== undefined) options.push("--rlimit", `${name.toUpperCase()}=${value}:${value}`);
  }
  if (policy.umask !== undefined) options.push("--umask", policy.umask.toString(8).padStart(4, "0"));
  if (policy.nice !== undefined) options.push("--nice", String(policy.nice));
  if (logFile !== undefined) options.push("--log-file", logFile);
  options.push(...sandboxOptions(policy.sandbox));
  return options;
}

/** Expand `{user}` and `{home}` in a path template (the server log, the Slurm job's output) (pure). */
export function serverLogPath(template: string, user: string, home: string): string {
  return expandPathTemplate(template, user, home);
}
