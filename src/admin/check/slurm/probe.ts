/**
 * The Slurm rows of `ts-sudospawner check`, effects: ask the mediator as the user through the hub's
 * rule (`slurm-options`, then `submit-test` for each partition), and run `munge -n` as the user
 * into `unmunge`. The rows are judged in check/slurm/rows.ts. When Slurm mode is off (the policy has
 * no `slurm` section) there is one row saying so, and nothing else runs.
 */
import fs from "node:fs";
import path from "node:path";
import { POLICY_PATH } from "../../../install/layout.js";
import { JOB_RESOURCE_NAMES, submitRequest, type JobRequest, type SlurmOptions } from "../../../protocol/index.js";
import type { CheckRow } from "../report.js";
import { authInfoSocket, judgeMunge, judgeSlurmMode, judgeSubmitTest, policySlurmConf, type MungeFacts, type MungeSocket, type SubmitTestProbe } from "./rows.js";
import { failureContext, type CheckSubject } from "../subject.js";
import { readTextIfPresent, runCommand } from "../../host/commands.js";
import { hubEnvironment } from "../hub-environment.js";
import { askMediator } from "../mediator-ask.js";

/** Where Slurm's commands look without SLURM_CONF (Debian's and RHEL's builds). */
export const SLURM_DEFAULT_CONF = "/etc/slurm/slurm.conf";
/** A port for the test job's JUPYTERHUB_SERVICE_URL: --test-only starts nothing, so nothing binds it. */
const PLACEHOLDER_PORT = 8888;

/** An executable `name` in a directory of PATH (the PATH this check runs with: sudo's secure_path as root). */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (!dir.startsWith("/")) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The socket munge must use: slurm.conf's AuthInfo=socket=, from the policy's conf or Slurm's default one. */
function mungeSocket(): MungeSocket {
  const conf = policySlurmConf(readTextIfPresent(POLICY_PATH) ?? "") ?? SLURM_DEFAULT_CONF;
  const text = readTextIfPresent(conf);
  if (text === undefined) return { from: `${conf} could not be read` };
  const socket = authInfoSocket(text);
  return socket === undefined ? { from: `${conf} names none in AuthInfo` } : { path: socket, from: `AuthInfo in ${conf}` };
}

function mungeFacts(s: CheckSubject): MungeFacts {
  const munge = onPath("munge");
  const unmunge = onPath("unmunge");
  if (munge === undefined || unmunge === undefined) {
    return { kind: "missing", missing: [...(munge === undefined ? ["munge"] : []), ...(unmunge === undefined ? ["unmunge"] : [])] };
  }
  if (!s.asRoot) return { kind: "not-root" };
  const socket = mungeSocket();
  const socketArgs = socket.path === undefined ? [] : ["--socket", socket.path];
  // The credential is made as the user (that is what Slurm's commands do) and decoded as root.
  const encode = runCommand("runuser", ["-u", s.user.name, "--", munge, "-n", ...socketArgs], { timeoutMs: 15_000 });
  if (encode.status !== 0 || encode.stdout.trim() === "") return { kind: "ran", socket, encode };
  const decode = runCommand(unmunge, socketArgs, { input: encode.stdout, timeoutMs: 15_000 });
  return { kind: "ran", socket, encode, decode };
}

/** Every maximum of the policy at once, when any differs from its default. */
function maximaJob(options: SlurmOptions, partition: string): JobRequest | undefined {
  if (JOB_RESOURCE_NAMES.every((name) => options[name].max === options[name].default)) return undefined;
  const job: JobRequest = { partition };
  for (const name of JOB_RESOURCE_NAMES) job[name] = options[name].max;
  return job;
}

function submitTests(s: CheckSubject, options: SlurmOptions): SubmitTestProbe[] {
  const env = hubEnvironment(s.user.name, PLACEHOLDER_PORT);
  const probes: SubmitTestProbe[] = [];
  for (const partition of options.partitions) {
    probes.push({ partition, ask: "defaults", reply: askMediator(s, submitRequest([], env, { job: { partition } }, "submit-test")) });
    const maxima = maximaJob(options, partition);
    if (maxima !== undefined) probes.push({ partition, ask: "maxima", reply: askMediator(s, submitRequest([], env, { job: maxima }, "submit-test")) });
  }
  return probes;
}

/** The Slurm rows; `progress` shows what runs next (the caller numbers it). */
export function checkSlurm(s: CheckSubject, progress: (activity: string) => void): CheckRow[] {
  const mode = judgeSlurmMode(s.user.name, askMediator(s, { action: "slurm-options" }), failureContext(s));
  const { options } = mode;
  if (options === undefined) return [mode.row];
  progress(`munge -n as ${s.user.name}, decoded by unmunge`);
  const munge = judgeMunge(s.user, mungeFacts(s));
  progress(`sbatch --test-only as ${s.user.name} through the mediator (partition${options.partitions.length > 1 ? "s" : ""} ${options.partitions.join(", ")})`);
  const submitTest = judgeSubmitTest(s.user.name, submitTests(s, options), failureContext(s));
  return [mode.row, munge, submitTest];
}
