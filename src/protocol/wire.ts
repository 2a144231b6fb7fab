/**
 * The wire protocol between a hub and the mediator: one JSON request on the mediator's stdin, one
 * JSON answer on its stdout. Types, bounds and names only (pure); the mediator validates requests
 * with request.ts, hubs read answers with answer.ts. docs/protocol.md is the prose of this file.
 */

/** The largest request the mediator reads. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** Signals are 0 (existence check) to SIGRTMAX; Linux's is 64. */
export const MAX_SIGNAL = 64;
/** The largest pid_t: kill(2) takes a 32-bit signed pid. */
export const MAX_PID = 2 ** 31 - 1;
/** Launch profile names, in requests and in the site policy. */
export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The longest PEM text of one TLS file in a spawn request. */
export const MAX_PEM_BYTES = 64 * 1024;
/** The longest grace a spawn request may name (and the site policy's own bound), in seconds. */
export const MAX_GRACE_SECONDS = 60;
/** Slurm job ids are positive 32-bit integers (never arrays or heterogeneous components here). */
export const MAX_JOB_ID = 2 ** 32 - 1;
/** Slurm partition names, in requests and in the site policy. */
export const PARTITION_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The mediator's refusal of a job that is not one of its servers for this user: "job N <this> USER; ...". */
export const NOT_OUR_JOB = "is not a server ts-sudospawner submitted for";
/**
 * How the mediator's SLURM_UNAVAILABLE error begins: slurmctld did not answer, an outage rather
 * than a refusal (the Python spawner's slurm_job.py has the same text; a unit test compares).
 */
export const SLURM_NOT_ANSWERING = "Slurm is not answering";
/** How the mediator's refusal of a Slurm action begins when the policy has no "slurm" section. */
export const SLURM_OFF = "Slurm mode is off";
/** A Slurm job state as squeue prints it (%T), or GONE when squeue no longer knows the job. */
export const JOB_STATE_PATTERN = /^[A-Z_]{1,32}$/;

/** The longest JupyterHub server name a spawn or submit may carry, in UTF-8 bytes. */
export const MAX_SERVER_NAME_BYTES = 255;

/** Resource limits a request may lower and a policy may set (RLIMIT_<NAME> of setrlimit(2)). */
export const LIMIT_NAMES = ["nofile", "nproc", "as", "data", "cpu", "core"] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];
export type Limits = Partial<Record<LimitName, number>>;

/**
 * The per-server cgroup caps a spawn may ask for (bytes, percent of one CPU, tasks): they can only
 * lower the site policy's "cgroup" values, and change nothing without that section.
 */
export const REQUEST_CGROUP_NAMES = ["MemoryMax", "CPUQuota", "TasksMax"] as const;
export type RequestCgroupName = (typeof REQUEST_CGROUP_NAMES)[number];
export type RequestCgroup = Partial<Record<RequestCgroupName, number>>;

/** The key, certificate and CA of JupyterHub's internal_ssl, as PEM text. */
export interface TlsFiles {
  key: string;
  cert: string;
  ca: string;
}

export interface SpawnRequest {
  action: "spawn";
  args: string[];
  env: Record<string, string>;
  /** Launch profile name, only meaningful with a root-owned policy file that defines profiles. */
  profile?: string;
  /** Lower resource limits the hub asks for (never above the site policy's). */
  limits?: Limits;
  /** Lower cgroup caps (MemoryMax bytes, CPUQuota percent of one CPU, TasksMax); never above the policy's. */
  cgroup?: RequestCgroup;
  /** internal_ssl material, written by the mediator into a directory of the user's own. */
  tls?: TlsFiles;
  /**
   * Seconds to wait for an early exit before answering; 0: answer as soon as the server was
   * exec'ed. Never longer than the site policy's graceSeconds (absent: that value).
   */
  graceSeconds?: number;
  /** The JupyterHub server name ("" for the default server): marked on the server (see Reconcile). */
  server?: string;
  /** Stop first this user's marked servers of the same name (needs `server`); see Reconcile. */
  reconcile?: boolean;
}

/**
 * Reconciliation at start: a spawn (or submit) with `"server": NAME, "reconcile": true` first
 * stops every live server (or cancels every job) of this user that carries our mark for NAME.
 * The hub asks this only in start(), when it has no state for NAME: any such server is one an
 * earlier hub started and never learned of (it was killed before saving the spawner's state).
 */
export type Reconcile = Pick<SpawnRequest, "server" | "reconcile">;

export interface KillRequest {
  action: "kill";
  pid: number;
  signal: number;
}

/** Which launch profiles the site policy offers (for the hub's options form). */
export interface ProfilesRequest {
  action: "profiles";
}

/** Slurm resources a submit asks for; each within the site policy's bounds (docs/policy.md#slurm). */
export const JOB_RESOURCE_NAMES = ["minutes", "memoryMB", "cpus", "gpus"] as const;
export type JobResourceName = (typeof JOB_RESOURCE_NAMES)[number];
export type JobRequest = { partition?: string } & Partial<Record<JobResourceName, number>>;

/** Slurm mode: the server as a batch job; `submit-test` runs `sbatch --test-only` on the same job. */
export interface SubmitRequest {
  action: "submit" | "submit-test";
  args: string[];
  env: Record<string, string>;
  profile?: string;
  job?: JobRequest;
  server?: string;
  reconcile?: boolean;
}

export interface QueryRequest {
  action: "query";
  job: number;
}

export interface CancelRequest {
  action: "cancel";
  job: number;
}

/** What Slurm mode offers the hub's options form. */
export interface SlurmOptionsRequest {
  action: "slurm-options";
}

export type MediatorRequest = SpawnRequest | KillRequest | ProfilesRequest | SubmitRequest | QueryRequest | CancelRequest | SlurmOptionsRequest;
export const ACTIONS = ["spawn", "kill", "profiles", "submit", "submit-test", "query", "cancel", "slurm-options"] as const satisfies ReadonlyArray<MediatorRequest["action"]>;

export interface ProfileSummary {
  name: string;
  description: string;
}

export interface ResourceBounds {
  default: number;
  max: number;
}

export interface SlurmOptions {
  partitions: string[];
  minutes: ResourceBounds;
  memoryMB: ResourceBounds;
  cpus: ResourceBounds;
  gpus: ResourceBounds;
}

export interface JobStatus {
  state: string;
  reason: string | null;
  node: string | null;
}

/** `stopped`: only with `reconcile`, the pids of the servers stopped first (possibly none). */
export type SpawnAnswer = { ok: true; pid: number; stopped?: number[] };
/**
 * Why a kill left a live process alone: `orphaned-python-server` (no mark of ours, a JupyterHub
 * token in its environment, and no Python sudospawner fork above it: a server the Python
 * sudospawner started whose fork is gone, which only the policy's "adopt" lets us stop), or
 * `other` (anything else: a reused pid, a kernel of a server, a process of another tool).
 */
export const UNOWNED_REASONS = ["orphaned-python-server", "other"] as const;
export type UnownedReason = (typeof UNOWNED_REASONS)[number];
/** Only "orphaned-python-server" is sent; "other" leaves the answer as it always was. */
export type KillAnswer = { ok: true; alive: boolean; unowned?: "orphaned-python-server" };
export type ProfilesAnswer = { ok: true; profiles: ProfileSummary[] };
/** `stopped`: only with `reconcile`, the jobs cancelled first (possibly none). */
export type SubmitAnswer = { ok: true; job: number; stopped?: number[] };
export type SubmitTestAnswer = { ok: true; estimate: string };
export type QueryAnswer = { ok: true } & JobStatus;
export type CancelAnswer = { ok: true; cancelled: boolean };
export type SlurmOptionsAnswer = { ok: true } & SlurmOptions;
export type ErrorAnswer = { ok: false; error: string };
export type Answer = SpawnAnswer | KillAnswer | ProfilesAnswer | SubmitAnswer | SubmitTestAnswer | QueryAnswer | CancelAnswer | SlurmOptionsAnswer | ErrorAnswer;

/** An answer as any JSON object, before it is read (hub side). */
export type JsonObject = Record<string, unknown>;

/** A spawn request (the hub client, `check --spawn`, the tests and the bench build them here). */
export function spawnRequest(args: readonly string[], env: Readonly<Record<string, string>>, extra: Partial<Pick<SpawnRequest, "profile" | "limits" | "cgroup" | "tls" | "graceSeconds" | "server" | "reconcile">> = {}): SpawnRequest {
  return { action: "spawn", args: [...args], env: { ...env }, ...extra };
}

export function killRequest(pid: number, signal: number): KillRequest {
  return { action: "kill", pid, signal };
}

/** A Slurm submit (or `submit-test`) request. */
export function submitRequest(args: readonly string[], env: Readonly<Record<string, string>>, extra: Partial<Pick<SubmitRequest, "profile" | "job" | "server" | "reconcile">> = {}, action: SubmitRequest["action"] = "submit"): SubmitRequest {
  return { action, args: [...args], env: { ...env }, ...extra };
}
