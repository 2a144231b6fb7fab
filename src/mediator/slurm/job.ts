/**
 * Slurm mode, pure parts: the job's resources within the site policy's bounds, the job script, the
 * sbatch command line, and reading what sbatch and squeue print. No I/O; commands.ts runs the commands.
 */
import { SudoSpawnerError } from "../../errors.js";
import { JOB_RESOURCE_NAMES, JOB_STATE_PATTERN, MAX_JOB_ID, NOT_OUR_JOB, SLURM_NOT_ANSWERING, SLURM_OFF, escapeControls, shellQuote, type JobRequest, type JobResourceName, type JobStatus, type SlurmOptions } from "../../protocol/index.js";
import { POLICY_PATH, serverLogPath, type SlurmPolicy } from "../policy.js";

/** The job's mark: query and cancel act only on a job of this user that carries it. */
export const JOB_MARK = "ts-sudospawner";
/** A submit that names its JupyterHub server adds the name, URI-encoded (no space, "|" or control). */
const SERVER_MARK_PREFIX = `${JOB_MARK} server=`;

/** The job's comment (pure): JOB_MARK, with the server name when the submit carries one. */
export function jobMarkFor(server: string | undefined): string {
  return server === undefined ? JOB_MARK : `${SERVER_MARK_PREFIX}${encodeURIComponent(server)}`;
}

/** Is a comment one of our marks (with or without a server name)? */
export function isJobMark(comment: string): boolean {
  if (comment === JOB_MARK) return true;
  if (!comment.startsWith(SERVER_MARK_PREFIX)) return false;
  try {
    return jobMarkFor(decodeURIComponent(comment.slice(SERVER_MARK_PREFIX.length))) === comment;
  } catch {
    return false;
  }
}
export const JOB_NAME = "jupyterhub-singleuser";
/** squeue's fields, the comment last: it is the only one a user may fill with any text. */
export const SQUEUE_FORMAT = "%i|%U|%T|%r|%B|%k";

export type JobResources = { partition: string } & Record<JobResourceName, number>;

/** Why a request for Slurm mode is refused when the policy does not turn it on. */
export function slurmDisabled(): SudoSpawnerError {
  return new SudoSpawnerError("DISABLED", `${SLURM_OFF}: the site policy ${POLICY_PATH} has no "slurm" section (see docs/policy.md#slurm)`);
}

/** What the hub's options form may offer (the slurm-options answer). */
export function slurmOptions(slurm: SlurmPolicy): SlurmOptions {
  return { partitions: [...slurm.partitions], ...slurm.bounds };
}

/** The request's resources, defaults filled in from the policy; anything beyond it is refused. */
export function resolveJob(requested: JobRequest | undefined, slurm: SlurmPolicy): JobResources {
  const partition = requested?.partition ?? (slurm.partitions[0] as string);
  if (!slurm.partitions.includes(partition)) {
    throw new SudoSpawnerError("BAD_REQUEST", `partition ${JSON.stringify(partition)} is not offered by the site policy (slurm.partitions in ${POLICY_PATH}: ${slurm.partitions.join(", ")})`);
  }
  const resources = { partition } as JobResources;
  for (const name of JOB_RESOURCE_NAMES) {
    const bounds = slurm.bounds[name];
    const value = requested?.[name] ?? bounds.default;
    if (value > bounds.max) {
      throw new SudoSpawnerError("BAD_REQUEST", `job.${name} ${value} is above the site policy's maximum ${bounds.max} (slurm.${name}.max in ${POLICY_PATH})`);
    }
    if (value < 1 && name !== "gpus") throw new SudoSpawnerError("BAD_REQUEST", `job.${name} must be at least 1, got ${value}`);
    resources[name] = value;
  }
  return resources;
}

/** A name a POSIX shell can export; anything else cannot be written into the script safely. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface JobScript {
  text: string;
  /** Variables whose names a shell cannot export, left out of the script (logged as warnings). */
  skipped: string[];
}

/**
 * The job script: only quoted words from the install, the policy and the checked request. Each
 * value and argument is one single-quoted word, so no hub text becomes a command.
 */
export function jobScript(executable: string, args: readonly string[], env: Readonly<Record<string, string>>): JobScript {
  const lines = ["#!/bin/sh", "# A JupyterHub single-user server, submitted by ts-sudospawner."];
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (SHELL_NAME.test(name)) lines.push(`export ${name}=${shellWord(value)}`);
    else skipped.push(name);
  }
  lines.push(`exec ${[executable, ...args].map(shellWord).join(" ")}`);
  return { text: `${lines.join("\n")}\n`, skipped };
}

/** Always single-quoted (shellQuote leaves plain words bare; a script gains nothing from that). */
function shellWord(word: string): string {
  const quoted = shellQuote(word);
  return quoted.startsWith("'") ? quoted : `'${quoted}'`;
}

/** sbatch's options; the script comes on stdin. */
export function sbatchArgs(resources: JobResources, account: { name: string; home: string }, slurm: Pick<SlurmPolicy, "output">, testOnly: boolean, server?: string): string[] {
  const output = slurm.output === undefined ? "/dev/null" : serverLogPath(slurm.output, account.name, account.home);
  const args = [
    // A real submit is held until the hub has its id (watchdog-script.ts releases it).
    ...(testOnly ? ["--test-only"] : ["--parsable", "--hold"]),
    // The job starts from the user's own environment on the node plus the script's exports: nothing of sbatch's.
    "--export=NONE",
    "--no-requeue",
    `--job-name=${JOB_NAME}`,
    `--comment=${jobMarkFor(server)}`,
    `--chdir=${account.home}`,
    `--output=${output}`,
    `--partition=${resources.partition}`,
    `--time=${resources.minutes}`,
    `--mem=${resources.memoryMB}M`,
    `--cpus-per-task=${resources.cpus}`,
  ];
  if (resources.gpus > 0) args.push(`--gres=gpu:${resources.gpus}`);
  return args;
}

function unexpected(command: string, text: string): SudoSpawnerError {
  return new SudoSpawnerError("SLURM", `${command} printed something unexpected: ${JSON.stringify(escapeControls(text.trim()).slice(0, 300))}`);
}

/** `sbatch --parsable` prints `JOBID` or `JOBID;CLUSTER`. */
export function parseSubmitted(stdout: string): number {
  const match = /^(\d+)(?:;[^\n]*)?\n?$/.exec(stdout);
  const job = match ? Number(match[1]) : Number.NaN;
  if (!Number.isSafeInteger(job) || job < 1 || job > MAX_JOB_ID) throw unexpected("sbatch --parsable", stdout);
  return job;
}

/** `sbatch --test-only` reports on stderr: "sbatch: Job N to start at ... on nodes X in partition P". */
export function parseEstimate(stderr: string): string {
  const line = stderr.split("\n").map((text) => text.trim()).filter((text) => /^sbatch: Job \d+ to start at /.test(text)).at(-1);
  if (line === undefined) throw unexpected("sbatch --test-only", stderr);
  return escapeControls(line.slice("sbatch: ".length));
}

export interface QueuedJob extends JobStatus {
  job: number;
  uid: number;
  comment: string;
}

/** One line of squeue in SQUEUE_FORMAT. */
export function parseSqueueLine(line: string): QueuedJob {
  const fields = line.split("|");
  if (fields.length < 6) throw unexpected("squeue", line);
  const [job, uid, state, reason, batchHost] = fields.slice(0, 5) as [string, string, string, string, string];
  const comment = fields.slice(5).join("|");
  if (!/^\d+$/.test(job) || !/^\d+$/.test(uid) || !JOB_STATE_PATTERN.test(state)) throw unexpected("squeue", line);
  const waiting = state === "PENDING" && reason !== "" && reason !== "None";
  const node = /^[A-Za-z0-9._-]{1,255}$/.test(batchHost) && batchHost !== "n/a" ? batchHost : null;
  return { job: Number(job), uid: Number(uid), comment, state, reason: waiting ? escapeControls(reason) : null, node: state === "PENDING" ? null : node };
}

/** squeue's output for one job id: the job, or undefined when squeue does not know it (any more). */
export function findJob(stdout: string, job: number): QueuedJob | undefined {
  const lines = stdout.split("\n").filter((line) => line.trim() !== "");
  return lines.map(parseSqueueLine).find((entry) => entry.job === job);
}

/** The job, if it is a server this mediator submitted for this user; anything else is refused. */
export function assertOurJob(entry: QueuedJob, uid: number, user: string): QueuedJob {
  if (entry.uid !== uid || !isJobMark(entry.comment)) {
    throw new SudoSpawnerError("NOT_OURS", `job ${entry.job} ${NOT_OUR_JOB} ${user}; leaving it alone`);
  }
  return entry;
}

/**
 * Reconciliation at start (pure): the jobs in squeue's output of user `uid` that still run or wait
 * and carry our mark for exactly this server name, ascending.
 */
export function markedJobs(stdout: string, uid: number, server: string): number[] {
  const mark = jobMarkFor(server);
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(parseSqueueLine)
    .filter((entry) => entry.uid === uid && entry.comment === mark && !isFinished(entry.state))
    .map((entry) => entry.job)
    .sort((a, b) => a - b);
}

/** States after which the job no longer runs (scancel has nothing to do). */
export function isFinished(state: string): boolean {
  return !["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"].includes(state);
}

/** What Slurm's clients print when slurmctld does not answer (down, unreachable, too slow). */
export const OUTAGE_TEXTS = ["Unable to contact slurm controller", "Socket timed out", "Connection refused", "Zero Bytes were transmitted or received"] as const;

/** Whether a Slurm client's output says the controller did not answer (rather than refused). */
export function isOutage(said: string): boolean {
  const lower = said.toLowerCase();
  return OUTAGE_TEXTS.some((text) => lower.includes(text.toLowerCase()));
}

/** An outage, worded as one: what failed, and the commands that show when Slurm is back. */
export function slurmUnavailable(command: string, said: string, user: string): SudoSpawnerError {
  return new SudoSpawnerError(
    "SLURM_UNAVAILABLE",
    `${SLURM_NOT_ANSWERING}: ${command} could not reach the controller (${said}); this is an outage, not a refusal: ` +
      `run \`scontrol ping\` and \`squeue -u ${user}\` as ${user} (and \`sinfo\` for the nodes) to see when slurmctld answers again`,
  );
}
