/**
 * Validation of the one JSON request the hub writes on stdin. Pure: no I/O.
 * Anything not exactly of the documented shape is rejected with a message that names the problem.
 */
import { SudoSpawnerError } from "../errors.js";
import {
  ACTIONS,
  JOB_RESOURCE_NAMES,
  LIMIT_NAMES,
  MAX_GRACE_SECONDS,
  MAX_JOB_ID,
  MAX_PEM_BYTES,
  MAX_PID,
  MAX_REQUEST_BYTES,
  MAX_SERVER_NAME_BYTES,
  MAX_SIGNAL,
  PARTITION_NAME_PATTERN,
  PROFILE_NAME_PATTERN,
  REQUEST_CGROUP_NAMES,
  type JobRequest,
  type JobResourceName,
  type KillRequest,
  type MediatorRequest,
  type Reconcile,
  type SpawnRequest,
  type SubmitRequest,
  type TlsFiles,
} from "./wire.js";

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

/**
 * A request's map of named integers ("limits", "cgroup"): only `names`, each a safe integer of at
 * least `min`.
 */
function validateNamedIntegers<N extends string>(value: unknown, field: string, noun: string, names: readonly N[], min: 0 | 1): Partial<Record<N, number>> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`"${field}" must be an object, got ${describe(value)}`);
  }
  const result: Partial<Record<N, number>> = {};
  for (const [name, entry] of Object.entries(value)) {
    if (!(names as readonly string[]).includes(name)) {
      throw bad(`unknown ${noun} ${JSON.stringify(name)}; use ${names.join(", ")}`);
    }
    if (typeof entry !== "number" || !Number.isSafeInteger(entry) || entry < min) {
      throw bad(`${noun} ${name} must be a ${min === 0 ? "non-negative" : "positive"} integer, got ${describe(entry)}`);
    }
    result[name as N] = entry;
  }
  return result;
}

const TLS_KEYS = ["key", "cert", "ca"] as const;
/** One or more PEM blocks: printable ASCII lines between BEGIN and END markers. */
const PEM = /^(?:[\x20-\x7e]*\r?\n)*-----BEGIN [A-Z0-9 ]+-----\r?\n[\x20-\x7e\r\n]*-----END [A-Z0-9 ]+-----(?:\r?\n[\x20-\x7e\r\n]*)?$/;

function validateTls(value: unknown): TlsFiles {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`"tls" must be an object with "key", "cert" and "ca", got ${describe(value)}`);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(TLS_KEYS as readonly string[]).includes(key)) throw bad(`unknown key ${JSON.stringify(key)} in "tls" (allowed: ${TLS_KEYS.join(", ")})`);
  }
  const files = {} as TlsFiles;
  for (const key of TLS_KEYS) {
    const pem = raw[key];
    if (typeof pem !== "string") throw bad(`"tls.${key}" must be PEM text, got ${describe(pem)}`);
    if (Buffer.byteLength(pem) > MAX_PEM_BYTES) throw bad(`"tls.${key}" is larger than ${MAX_PEM_BYTES} bytes`);
    if (!PEM.test(pem)) throw bad(`"tls.${key}" is not PEM text (-----BEGIN ...----- to -----END ...-----, printable ASCII only)`);
    files[key] = pem;
  }
  return files;
}

/** args, env and profile: what spawn and submit share. */
function validateLaunch(request: Record<string, unknown>): Pick<SpawnRequest, "args" | "env" | "profile"> {
  const { args, env, profile } = request;
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
  const result: Pick<SpawnRequest, "args" | "env" | "profile"> = { args: validArgs, env: validEnv };
  if (profile !== undefined) {
    if (typeof profile !== "string" || !PROFILE_NAME_PATTERN.test(profile)) {
      throw bad(`"profile" must be a name of letters, digits, ".", "_" or "-", got ${describe(profile)}`);
    }
    result.profile = profile;
  }
  return result;
}

/** C0 and C1 controls and DEL: a server name goes into log lines and a Slurm comment. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** "server" and "reconcile", what spawn and submit share; "reconcile" needs the name it is about. */
function validateReconcile(request: Record<string, unknown>, env: Readonly<Record<string, string>>): Reconcile {
  const { server, reconcile } = request;
  const result: Reconcile = {};
  if (server !== undefined) {
    if (typeof server !== "string" || CONTROL.test(server) || Buffer.byteLength(server) > MAX_SERVER_NAME_BYTES) {
      throw bad(`"server" must be a JupyterHub server name ("" for the default server) of at most ${MAX_SERVER_NAME_BYTES} bytes without control characters, got ${describe(server)}`);
    }
    // The field is what counts; JupyterHub also sends the name for the server itself, and a hub
    // that says two different names has a bug we should not mark servers with.
    const named = env.JUPYTERHUB_SERVER_NAME;
    if (named !== undefined && named !== server) {
      throw bad(`"server" ${describe(server)} differs from the environment's JUPYTERHUB_SERVER_NAME ${describe(named)}`);
    }
    result.server = server;
  }
  if (reconcile !== undefined) {
    if (typeof reconcile !== "boolean") throw bad(`"reconcile" must be true or false, got ${describe(reconcile)}`);
    if (reconcile && server === undefined) throw bad(`"reconcile" needs "server": the servers it stops are those of that name`);
    result.reconcile = reconcile;
  }
  return result;
}

function validateSpawn(request: Record<string, unknown>): SpawnRequest {
  checkKeys(request, ["action", "args", "env"], ["profile", "limits", "cgroup", "tls", "graceSeconds", "server", "reconcile"]);
  const { limits, cgroup, tls, graceSeconds } = request;
  const launch = validateLaunch(request);
  const result: SpawnRequest = { action: "spawn", ...launch, ...validateReconcile(request, launch.env) };
  if (limits !== undefined) result.limits = validateNamedIntegers(limits, "limits", "limit", LIMIT_NAMES, 0);
  // A cap of 0 or a fraction has no meaning the hub could intend: positive integers only.
  if (cgroup !== undefined) result.cgroup = validateNamedIntegers(cgroup, "cgroup", "cgroup cap", REQUEST_CGROUP_NAMES, 1);
  if (tls !== undefined) result.tls = validateTls(tls);
  if (graceSeconds !== undefined) {
    if (typeof graceSeconds !== "number" || !Number.isFinite(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
      throw bad(`"graceSeconds" must be a number of seconds from 0 to ${MAX_GRACE_SECONDS}, got ${describe(graceSeconds)}`);
    }
    result.graceSeconds = graceSeconds;
  }
  return result;
}

/** Job resources are counts (minutes, MB, CPUs, GPUs): bounded here only by shape, by the policy later. */
function validateJob(value: unknown): JobRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`"job" must be an object, got ${describe(value)}`);
  }
  const job: JobRequest = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === "partition") {
      if (typeof item !== "string" || !PARTITION_NAME_PATTERN.test(item)) throw bad(`"job.partition" must be a partition name of letters, digits, ".", "_" or "-", got ${describe(item)}`);
      job.partition = item;
    } else if ((JOB_RESOURCE_NAMES as readonly string[]).includes(key)) {
      if (typeof item !== "number" || !Number.isSafeInteger(item) || item < 0 || item > MAX_JOB_ID) {
        throw bad(`"job.${key}" must be a non-negative integer, got ${describe(item)}`);
      }
      job[key as JobResourceName] = item;
    } else {
      throw bad(`unknown key ${JSON.stringify(key)} in "job" (allowed: partition, ${JOB_RESOURCE_NAMES.join(", ")})`);
    }
  }
  return job;
}

function validateSubmit(request: Record<string, unknown>, action: SubmitRequest["action"]): SubmitRequest {
  // No "limits" or "tls": Slurm's own limits apply, and internal_ssl is not offered in Slurm mode.
  checkKeys(request, ["action", "args", "env"], ["profile", "job", "server", "reconcile"]);
  const launch = validateLaunch(request);
  const result: SubmitRequest = { action, ...launch, ...validateReconcile(request, launch.env) };
  if (request.job !== undefined) result.job = validateJob(request.job);
  return result;
}

function validateJobId(request: Record<string, unknown>): number {
  checkKeys(request, ["action", "job"]);
  const { job } = request;
  if (typeof job !== "number" || !Number.isSafeInteger(job) || job < 1 || job > MAX_JOB_ID) {
    throw bad(`"job" must be a Slurm job id (an integer from 1 to ${MAX_JOB_ID}), got ${describe(job)}`);
  }
  return job;
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
  if (action === "profiles" || action === "slurm-options") {
    checkKeys(request, ["action"]);
    return { action };
  }
  if (action === "submit" || action === "submit-test") return validateSubmit(request, action);
  if (action === "query" || action === "cancel") return { action, job: validateJobId(request) };
  throw bad(`"action" must be one of ${ACTIONS.map((a) => JSON.stringify(a)).join(", ")}, got ${describe(action)}`);
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
