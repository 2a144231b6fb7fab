/**
 * Validation of the one JSON request the hub writes on stdin. Pure: no I/O.
 * Anything not exactly of the documented shape is rejected with a message that names the problem.
 */
import { SudoSpawnerError } from "../errors.js";
import { LIMIT_NAMES, type LimitName, type Limits } from "./policy.js";

export const MAX_REQUEST_BYTES = 1024 * 1024;
export const MAX_SIGNAL = 64;
/** The largest pid_t: kill(2) takes a 32-bit signed pid. */
export const MAX_PID = 2 ** 31 - 1;

export interface SpawnRequest {
  action: "spawn";
  args: string[];
  env: Record<string, string>;
  /** Launch profile name, only meaningful with a root-owned policy file that defines profiles. */
  profile?: string;
  /** Lower resource limits the hub asks for (never above the site policy's). */
  limits?: Limits;
}

export interface KillRequest {
  action: "kill";
  pid: number;
  signal: number;
}

export type MediatorRequest = SpawnRequest | KillRequest;

function bad(message: string): SudoSpawnerError {
  return new SudoSpawnerError("BAD_REQUEST", message);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "number") return `the number ${value}`;
  return `a ${typeof value}`;
}

function checkKeys(request: Record<string, unknown>, required: readonly string[], optional: readonly string[] = []): void {
  for (const key of Object.keys(request)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw bad(`unknown key ${JSON.stringify(key)} in ${request.action} request`);
    }
  }
  for (const key of required) {
    if (!Object.hasOwn(request, key)) throw bad(`missing key ${JSON.stringify(key)} in ${request.action} request`);
  }
}

function checkNoNul(value: string, what: string): void {
  if (value.includes("\0")) throw bad(`${what} contains a NUL byte`);
}

const ENV_NAME = /^[^=\0]+$/;

function validateRequestLimits(value: unknown): Limits {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`"limits" must be an object, got ${describe(value)}`);
  }
  const limits: Limits = {};
  for (const [name, limit] of Object.entries(value)) {
    if (!(LIMIT_NAMES as readonly string[]).includes(name)) {
      throw bad(`unknown limit ${JSON.stringify(name)}; use ${LIMIT_NAMES.join(", ")}`);
    }
    if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0) {
      throw bad(`limit ${name} must be a non-negative integer, got ${describe(limit)}`);
    }
    limits[name as LimitName] = limit;
  }
  return limits;
}

function validateSpawn(request: Record<string, unknown>): SpawnRequest {
  checkKeys(request, ["action", "args", "env"], ["profile", "limits"]);
  const { args, env, profile, limits } = request;
  if (!Array.isArray(args)) throw bad(`"args" must be an array of strings, got ${describe(args)}`);
  const validArgs: string[] = args.map((arg: unknown, index) => {
    if (typeof arg !== "string") throw bad(`"args[${index}]" must be a string, got ${describe(arg)}`);
    checkNoNul(arg, `"args[${index}]"`);
    return arg;
  });
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw bad(`"env" must be an object of string values, got ${describe(env)}`);
  }
  const validEnv: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw bad(`environment variable name ${JSON.stringify(name)} is empty or contains "=" or a NUL byte`);
    if (typeof value !== "string") throw bad(`environment variable ${name} must be a string, got ${describe(value)}`);
    checkNoNul(value, `environment variable ${name}`);
    validEnv[name] = value;
  }
  const result: SpawnRequest = { action: "spawn", args: validArgs, env: validEnv };
  if (profile !== undefined) {
    if (typeof profile !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(profile)) {
      throw bad(`"profile" must be a name of letters, digits, ".", "_" or "-", got ${describe(profile)}`);
    }
    result.profile = profile;
  }
  if (limits !== undefined) result.limits = validateRequestLimits(limits);
  return result;
}

function validateKill(request: Record<string, unknown>): KillRequest {
  checkKeys(request, ["action", "pid", "signal"]);
  const { pid, signal } = request;
  // Never a process group (negative), never "every process" (-1), never init or our own group (0, 1).
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 1 || pid > MAX_PID) {
    throw bad(`"pid" must be an integer greater than 1 (and at most ${MAX_PID}), got ${describe(pid)}`);
  }
  if (typeof signal !== "number" || !Number.isInteger(signal) || signal < 0 || signal > MAX_SIGNAL) {
    throw bad(`"signal" must be an integer from 0 to ${MAX_SIGNAL}, got ${describe(signal)}`);
  }
  return { action: "kill", pid, signal };
}

/** Validate an already-parsed JSON value. */
export function validateRequest(value: unknown): MediatorRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`the request must be a JSON object, got ${describe(value)}`);
  }
  const request = value as Record<string, unknown>;
  const { action } = request;
  if (action === "spawn") return validateSpawn(request);
  if (action === "kill") return validateKill(request);
  throw bad(`"action" must be "spawn" or "kill", got ${describe(action)}`);
}

/** Parse and validate the raw bytes read from stdin. */
export function parseRequest(raw: Buffer): MediatorRequest {
  if (raw.length > MAX_REQUEST_BYTES) {
    throw new SudoSpawnerError("REQUEST_TOO_LARGE", `the request is larger than ${MAX_REQUEST_BYTES} bytes`);
  }
  const text = raw.toString("utf8");
  if (text.trim() === "") throw bad("expected one JSON object on stdin, got nothing");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw bad(`expected one JSON object on stdin: ${error instanceof Error ? error.message : String(error)}`);
  }
  return validateRequest(value);
}
