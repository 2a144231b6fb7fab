/**
 * Slurm mode, effects (imported on use: node:child_process costs every kill a few ms to load): runs
 * the policy's sbatch, squeue and scancel as the user (the mediator
 * already is the user) with an environment built here, never the one sudo passed: no SBATCH_*,
 * SQUEUE_* or SLURM_* variable of the hub's can add options or pick another cluster.
 */
import { spawnSync } from "node:child_process";
import { SudoSpawnerError } from "../../errors.js";
import { escapeControls, type JobStatus } from "../../protocol/index.js";
import type { Account } from "../../system/account.js";
import type { Logger } from "../logger.js";
import type { SlurmPolicy } from "../policy.js";
import { assertOurJob, findJob, isFinished, isOutage, markedJobs, parseEstimate, sbatchArgs, slurmUnavailable, SQUEUE_FORMAT, type JobResources } from "./job.js";

export const COMMAND_TIMEOUT_MS = 30_000;

export interface SlurmContext {
  slurm: SlurmPolicy;
  account: Account;
  logger: Logger;
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function commandEnv(ctx: SlurmContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: "/usr/bin:/bin", HOME: ctx.account.home, USER: ctx.account.name, LOGNAME: ctx.account.name, LC_ALL: "C" };
  if (ctx.slurm.conf !== undefined) env.SLURM_CONF = ctx.slurm.conf;
  return env;
}

function run(ctx: SlurmContext, file: string, args: string[], input = ""): CommandResult {
  const result = spawnSync(file, args, { input, env: commandEnv(ctx), cwd: "/", encoding: "utf8", timeout: COMMAND_TIMEOUT_MS, killSignal: "SIGKILL", maxBuffer: 1024 * 1024 });
  if (result.error) {
    if ((result.error as NodeJS.ErrnoException).code === "ETIMEDOUT") throw slurmUnavailable(file, `it did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`, ctx.account.name);
    throw new SudoSpawnerError("SLURM", `${file} could not be run: ${result.error.message}`);
  }
  return { status: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

/** A command's failure: an outage when the controller did not answer, else Slurm's refusal. */
export function failed(ctx: SlurmContext, command: string, result: CommandResult): SudoSpawnerError {
  const said = escapeControls((result.stderr || result.stdout).trim()).slice(0, 500);
  if (isOutage(said)) return slurmUnavailable(command, said, ctx.account.name);
  return new SudoSpawnerError("SLURM", `${command} failed with status ${result.status}: ${said || "(no output)"}`);
}

function sbatch(ctx: SlurmContext, script: string, resources: JobResources, testOnly: boolean): CommandResult {
  const result = run(ctx, ctx.slurm.sbatch, sbatchArgs(resources, ctx.account, ctx.slurm, testOnly), script);
  if (result.status !== 0) throw failed(ctx, "sbatch", result);
  return result;
}

/** `sbatch --test-only` of the script: nothing is queued; sbatch's estimate. */
export function testJob(ctx: SlurmContext, script: string, resources: JobResources): string {
  return parseEstimate(sbatch(ctx, script, resources, true).stderr);
}

/** The job's status; GONE when squeue no longer knows it. Another user's job, or one without the mark, is refused. */
export function queryJob(ctx: SlurmContext, job: number): JobStatus {
  const result = run(ctx, ctx.slurm.squeue, ["--noheader", `--jobs=${job}`, "--states=all", `--format=${SQUEUE_FORMAT}`]);
  // squeue exits 1 with "Invalid job id specified" for a job it has forgotten.
  if (result.status !== 0 && !/Invalid job id specified/.test(result.stderr)) throw failed(ctx, "squeue", result);
  const entry = result.status === 0 ? findJob(result.stdout, job) : undefined;
  if (entry === undefined) return { state: "GONE", reason: null, node: null };
  const { state, reason, node } = assertOurJob(entry, ctx.account.uid, ctx.account.name);
  return { state, reason, node };
}

/** Cancel one of our jobs; false when it had already ended. */
export function cancelJob(ctx: SlurmContext, job: number): boolean {
  const status = queryJob(ctx, job);
  if (isFinished(status.state)) return false;
  const result = run(ctx, ctx.slurm.scancel, [String(job)]);
  if (result.status !== 0) {
    // It may have ended between the query and scancel ("already completing or completed").
    if (isFinished(queryJob(ctx, job).state)) return false;
    throw failed(ctx, "scancel", result);
  }
  ctx.logger.info(`cancelled Slurm job ${job} of ${ctx.account.name} (was ${status.state})`);
  return true;
}

/**
 * Reconciliation at start: cancel this user's jobs that carry our mark for `server` (the hub has no
 * state for that server, so no hub knows them); the ids found, each cancelled or already ended.
 */
export function cancelMarkedJobs(ctx: SlurmContext, server: string): number[] {
  const result = run(ctx, ctx.slurm.squeue, ["--noheader", `--user=${ctx.account.uid}`, `--format=${SQUEUE_FORMAT}`]);
  if (result.status !== 0) throw failed(ctx, "squeue", result);
  const jobs = markedJobs(result.stdout, ctx.account.uid, server);
  const name = server === "" ? "default server" : `server ${JSON.stringify(server)}`;
  for (const job of jobs) {
    ctx.logger.warn(`cancelling Slurm job ${job}, a ${name} of ${ctx.account.name} that no hub knows (an earlier hub submitted it and stopped before it saved its state)`);
    cancelJob(ctx, job);
  }
  return jobs;
}
