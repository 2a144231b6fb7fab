/**
 * A submit that commits (effects): the watchdog (watchdog-script.ts) runs sbatch --hold in a
 * session of its own, so that a SIGKILL of the mediator, or of its process group, cannot leave a
 * job that no hub knows. The mediator commits only after its answer was written; the release then
 * happens after the answer, never before it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { SudoSpawnerError } from "../../errors.js";
import { COMMAND_TIMEOUT_MS, commandEnv, failed, type SlurmContext } from "./commands.js";
import { parseSubmitted, sbatchArgs, slurmUnavailable, type JobResources } from "./job.js";
import { COMMIT_WORD, parseReport, watchdogArgs } from "./watchdog-script.js";

const SHELL = "/bin/sh";

export interface HeldJob {
  job: number;
  /** The hub has the answer: the watchdog releases the job (after the mediator is gone). */
  commit(): Promise<void>;
  /** No answer carries the job: the watchdog cancels it; true once it did. */
  abandon(): Promise<boolean>;
}

function collect(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("error", () => resolve(text));
    stream.on("close", () => resolve(text));
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => resolve(null), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Submit the script held through the watchdog; the job id, and the watchdog's two ways on.
 * `server`: the JupyterHub server name for the job's mark.
 */
export async function submitHeld(ctx: SlurmContext, script: string, resources: JobResources, server?: string): Promise<HeldJob> {
  const { slurm, account } = ctx;
  const child = spawn(SHELL, watchdogArgs(slurm, sbatchArgs(resources, account, slurm, false, server)), {
    detached: true, // setsid: a kill of the mediator's process group does not reach it
    env: commandEnv(ctx),
    cwd: "/",
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  const stdin = child.stdin as Writable;
  const scriptPipe = child.stdio[3] as Writable;
  for (const stream of [stdin, scriptPipe]) stream.on("error", () => undefined); // the watchdog is gone: its exit says why
  child.on("error", () => undefined);
  scriptPipe.end(script);
  const abandon = async (): Promise<boolean> => {
    stdin.end();
    const code = await exited(child, COMMAND_TIMEOUT_MS);
    child.unref();
    return code === 0;
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), COMMAND_TIMEOUT_MS)));
  const outputs = Promise.all([collect(child.stdout as Readable), collect(child.stderr as Readable)]);
  const done = await Promise.race([outputs, deadline]);
  clearTimeout(timer);
  if (done === undefined) {
    // A job sbatch submits after this is cancelled: stdin ends without the commit.
    stdin.end();
    child.unref();
    throw slurmUnavailable(slurm.sbatch, `it did not finish within ${COMMAND_TIMEOUT_MS / 1000} s; a job it submits later is cancelled`, account.name);
  }
  const [stdout, stderr] = done;
  const report = parseReport(stdout);
  if (report === undefined) {
    await abandon();
    throw new SudoSpawnerError("SLURM", `the watchdog around ${slurm.sbatch} ended without a report: ${JSON.stringify(stderr.trim().slice(0, 300))}`);
  }
  if (report.status !== 0) {
    child.unref();
    throw failed(ctx, "sbatch", { status: report.status, stdout: report.stdout, stderr });
  }
  let job: number;
  try {
    job = parseSubmitted(report.stdout);
  } catch (error) {
    await abandon();
    throw error;
  }
  ctx.logger.info(`submitted the server of ${account.name} as Slurm job ${job} (partition ${resources.partition}, ${resources.minutes} min, ${resources.memoryMB} MB, ${resources.cpus} CPU), held until the hub has its id`);
  return {
    job,
    commit: () =>
      new Promise((resolve) => {
        const settle = (): void => {
          child.unref();
          resolve();
        };
        stdin.once("error", settle); // the watchdog is gone; nothing more to tell it
        stdin.end(`${COMMIT_WORD}\n`, settle);
      }),
    abandon,
  };
}
