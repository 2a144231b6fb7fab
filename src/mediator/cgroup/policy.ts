/**
 * The site policy's "cgroup" section (pure): each server's caps in systemd's own property names
 * and syntax, a closed set, normalised to numbers at load so that nothing from the file reaches
 * systemd-run as text. The hub may only lower MemoryMax, CPUQuota and TasksMax (lowerCaps).
 */
import { SudoSpawnerError } from "../../errors.js";
import { REQUEST_CGROUP_NAMES, type RequestCgroup } from "../../protocol/index.js";
import { POLICY_PATH } from "../../install/layout.js";
import { lowerEach } from "../lowering.js";

export const CGROUP_PROPERTY_NAMES = ["MemoryMax", "MemoryHigh", "MemorySwapMax", "CPUQuota", "CPUWeight", "TasksMax"] as const;
export type CgroupPropertyName = (typeof CGROUP_PROPERTY_NAMES)[number];
/** Bytes, percent of one CPU, a weight, tasks; Infinity is systemd's "infinity". */
export type CgroupValues = Partial<Record<CgroupPropertyName, number>>;

export const OOM_POLICIES = ["continue", "stop", "kill"] as const;
export type OomPolicy = (typeof OOM_POLICIES)[number];

export interface CgroupPolicy {
  /** What a server gets when neither its profile nor the hub says otherwise. */
  default: CgroupValues;
  /** What no default, profile or request may exceed. */
  max: CgroupValues;
  /** "continue": a process beyond MemoryMax dies, the server lives on (Jupyter shows "kernel died"). */
  oomPolicy: OomPolicy;
}

function fail(where: string, message: string): never {
  throw new SudoSpawnerError("POLICY", `${POLICY_PATH}: ${where} ${message}`);
}

/** How a value parser says no: the words after the value's name ("must be ..."); the caller adds where. */
export type RejectValue = (mustBe: string) => never;

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Bytes: an integer, "N" with an optional K/M/G/T suffix (base 1024), or "infinity". */
function bytes(value: unknown, reject: RejectValue, min: number): number {
  if (value === "infinity") return Infinity;
  let result: number | undefined;
  if (typeof value === "number") result = value;
  else if (typeof value === "string") {
    const match = /^([0-9]{1,16})([KMGT]?)$/.exec(value);
    if (match) result = Number(match[1]) * (UNITS[match[2] ?? ""] ?? 1);
  }
  if (result === undefined || !Number.isSafeInteger(result) || result < min) {
    reject(`must be bytes of at least ${min}: an integer, a number with K, M, G or T (base 1024) such as "4G", or "infinity"`);
  }
  return result;
}

/** The most CPUQuota systemd takes is far beyond any machine; this bound only keeps numbers sane. */
const MAX_CPU_PERCENT = 100 * 4096;

function cpuQuota(value: unknown, reject: RejectValue): number {
  const match = typeof value === "string" ? /^([0-9]{1,7})%$/.exec(value) : null;
  const percent = match ? Number(match[1]) : NaN;
  if (!(percent >= 1 && percent <= MAX_CPU_PERCENT)) reject(`must be a percentage of one CPU from "1%" to "${MAX_CPU_PERCENT}%", e.g. "200%" for two CPUs`);
  return percent;
}

function cpuWeight(value: unknown, reject: RejectValue): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > 10000) reject("must be an integer from 1 to 10000");
  return value;
}

function tasksMax(value: unknown, reject: RejectValue): number {
  if (value === "infinity") return Infinity;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) reject('must be a positive integer or "infinity"');
  return value;
}

/**
 * One property's value in systemd's syntax as a number (pure): the one reader of that syntax, for
 * the policy file and for `ts-sudospawner user-cap`'s options alike.
 */
export function parseCgroupValue(name: CgroupPropertyName, value: unknown, reject: RejectValue): number {
  switch (name) {
    case "MemoryMax":
    case "MemoryHigh":
      return bytes(value, reject, 1);
    case "MemorySwapMax":
      return bytes(value, reject, 0); // 0: no swap at all
    case "CPUQuota":
      return cpuQuota(value, reject);
    case "CPUWeight":
      return cpuWeight(value, reject);
    case "TasksMax":
      return tasksMax(value, reject);
  }
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "must be an object");
  return value as Record<string, unknown>;
}

/** `{"MemoryMax": "4G", "CPUQuota": "200%", ...}` at `where` (e.g. "cgroup.default"). */
export function parseCgroupValues(value: unknown, where: string): CgroupValues {
  const raw = object(value, `"${where}"`);
  const values: CgroupValues = {};
  for (const [key, entry] of Object.entries(raw)) {
    if (!(CGROUP_PROPERTY_NAMES as readonly string[]).includes(key)) {
      fail(`"${where}"`, `has unknown key ${JSON.stringify(key)} (allowed: ${CGROUP_PROPERTY_NAMES.join(", ")})`);
    }
    const name = key as CgroupPropertyName;
    values[name] = parseCgroupValue(name, entry, (mustBe) => fail(`"${where}.${name}"`, mustBe));
  }
  return values;
}

/** Every value of `values` within `max`, or a POLICY error naming the key. */
export function assertWithinMax(values: CgroupValues, max: CgroupValues, where: string): void {
  for (const name of CGROUP_PROPERTY_NAMES) {
    const value = values[name];
    const bound = max[name];
    if (value !== undefined && bound !== undefined && value > bound) {
      fail(`"${where}.${name}"`, `(${formatValue(name, value)}) is above "cgroup.max.${name}" (${formatValue(name, bound)})`);
    }
  }
}

/** `"cgroup": {"default": {...}, "max": {...}, "OOMPolicy": "continue"}`. */
export function parseCgroupPolicy(value: unknown): CgroupPolicy {
  const raw = object(value, '"cgroup"');
  for (const key of Object.keys(raw)) {
    if (!["default", "max", "OOMPolicy"].includes(key)) fail('"cgroup"', `has unknown key ${JSON.stringify(key)} (allowed: default, max, OOMPolicy)`);
  }
  const max = raw.max === undefined ? {} : parseCgroupValues(raw.max, "cgroup.max");
  const fallback = raw.default === undefined ? {} : parseCgroupValues(raw.default, "cgroup.default");
  assertWithinMax(fallback, max, "cgroup.default");
  let oomPolicy: OomPolicy = "continue";
  if (raw.OOMPolicy !== undefined) {
    if (!(OOM_POLICIES as readonly unknown[]).includes(raw.OOMPolicy)) fail('"cgroup.OOMPolicy"', `must be one of ${OOM_POLICIES.join(", ")}`);
    oomPolicy = raw.OOMPolicy as OomPolicy;
  }
  return { default: fallback, max, oomPolicy };
}

/** A property's value as systemd-run takes it (pure): bytes and counts as integers, CPUQuota as "N%". */
export function formatValue(name: CgroupPropertyName, value: number): string {
  if (value === Infinity) return "infinity";
  return name === "CPUQuota" ? `${value}%` : String(value);
}

/**
 * One server's caps (pure): the profile's values in place of the default's (a key the profile
 * leaves out keeps the default, then the max), each then lowered by what the hub asked.
 */
export function effectiveCaps(policy: CgroupPolicy, profile: CgroupValues | undefined, requested: RequestCgroup | undefined): CgroupValues {
  const caps: CgroupValues = {};
  for (const name of CGROUP_PROPERTY_NAMES) {
    const base = profile?.[name] ?? policy.default[name] ?? policy.max[name];
    if (base !== undefined) caps[name] = base;
  }
  return lowerEach(caps, requested, REQUEST_CGROUP_NAMES);
}
