/**
 * Mediator mode: read one request, act on it as the current user, answer with one JSON object.
 * Every failure becomes {"ok":false,"error":...} on stdout, the same message on stderr, exit 1.
 */
import { Stats, realpathSync, statSync } from "node:fs";
import { basename } from "node:path";
import { SudoSpawnerError, errorMessage, isSudoSpawnerError } from "../errors.js";
import { assertTrustedExecutable, findSingleUser } from "../install/executable.js";
import { resolveInstall, type InstallLayout, type Invocation } from "../install/layout.js";
import { realFs } from "../install/path-trust.js";
import { MAX_REQUEST_BYTES, escapeControls, parseRequest, type Answer, type MediatorRequest, type SpawnRequest, type SubmitRequest } from "../protocol/index.js";
import type { Account } from "../system/account.js";
import { writeAllSync } from "../system/write-all.js";
import { VERSION } from "../version.js";
import { adoptionFor } from "./kill/adoption.js";
import { assertOwnGroups, assertSpawnableAccount, currentAccount, spawnableUidMin, sudoUid, uidMarkingHub } from "./accounts.js";
import { parseMediatorArgs, type MediatorArgs } from "./args.js";
import { applyEnvPolicy, dropWarnings, serverPath, toEnvList } from "./env-policy.js";
import { modeText } from "./help.js";
import { killServer } from "./kill/kill.js";
import type { ScopeExec } from "./cgroup/placement.js";
import { chooseLaunch, type PolicyChoice } from "./launch.js";
import { createLogger, type Logger } from "./logger.js";
import { loadAddon, type NativeAddon } from "./native.js";
import { assertProcReadable, ownership } from "./kill/ownership.js";
import { stopMarkedServers } from "./kill/reconcile.js";
import { profileSummaries, type Policy } from "./policy.js";
import { loadPolicy } from "./policy-file.js";
import { effectiveGraceMs, spawnServer, type StartedServer } from "./spawn/spawn.js";
import type { SlurmContext } from "./slurm/commands.js";
import type { HeldJob } from "./slurm/watchdog.js";
import { jobScript, resolveJob, slurmDisabled, slurmOptions } from "./slurm/job.js";
import { readRequestBytes } from "./stdin.js";
import { TLS_ENV, removeAfterOptions, removeTlsFiles, writeTlsFiles, type WrittenTls } from "./spawn/tls-files.js";
import { keepOwnerAccess } from "./umask.js";
import { settleRootDirs } from "./vocabulary/root-dir.js";

/** How this mediator was started: its own file and the path sudo ran. */
export type MediatorContext = Invocation;

/** Write the one answer; false when the hub has closed stdout. */
export function writeAnswer(answer: Answer): boolean {
  try {
    writeAllSync(1, `${JSON.stringify(answer)}\n`);
    return true;
  } catch {
    return false;
  }
}

function writeStderr(text: string): void {
  try {
    writeAllSync(2, text);
  } catch {
    // stderr closed: nothing more to say
  }
}

/**
 * The answer to write, and what stays provisional until it is out: a spawn's server (its reaper
 * waits for the commit) or a submit's held job (its watchdog waits for the release).
 */
interface Outcome {
  answer: Answer;
  started?: StartedServer;
  held?: HeldJob;
}

/** Who may own what runs for the user: root and `owners`; a refusal names the hub user as such. */
interface Trust {
  trustedUids: ReadonlySet<number>;
  describe: (uid: number) => string;
}

function trustOf(owners: readonly number[]): Trust {
  const hubUid = sudoUid();
  return { trustedUids: new Set([0, ...owners]), describe: (uid) => uidMarkingHub(uid, hubUid) };
}

function homeDirectory(account: Account): string {
  let stats: Stats;
  try {
    stats = statSync(account.home);
  } catch {
    throw new SudoSpawnerError(
      "NOT_FOUND",
      `home directory ${account.home} of ${account.name} does not exist; create it (as root: \`mkhomedir_helper ${account.name}\`) or fix the passwd entry`,
    );
  }
  if (!stats.isDirectory()) throw new SudoSpawnerError("NOT_FOUND", `home ${account.home} of ${account.name} is not a directory`);
  return account.home;
}

/** What spawn and submit share: the executable, its arguments and environment, all checked. */
interface ServerLaunch {
  launch: PolicyChoice;
  addon: NativeAddon;
  executable: string;
  env: Record<string, string>;
  cwd: string;
}

async function prepareServer(request: SpawnRequest | SubmitRequest, layout: InstallLayout, account: Account, policy: Policy, logger: Logger, trust: Trust): Promise<ServerLaunch> {
  // Imported here: the traitlets table is parsed for a spawn or submit, never for a kill or --help.
  const { TRAITLETS } = await import("./vocabulary/traitlets-table.js");
  const launch = chooseLaunch(request, policy, account, TRAITLETS);
  const addon = loadAddon(layout.addon);
  const executable = launch.executable ?? findSingleUser(layout.binDir());
  const realExecutable = assertTrustedExecutable(executable, trust.trustedUids, trust.describe, "the single-user server");
  const cwd = homeDirectory(account);
  const decision = applyEnvPolicy(request.env, account, policy.env, { fixed: launch.fixed, tls: request.action === "spawn" && request.tls !== undefined, server: request.server });
  decision.env.PATH = serverPath(realExecutable, policy.path);
  for (const line of dropWarnings(decision.dropped)) logger.warn(line);
  settleRootDirs({ args: launch.args, options: launch.rootDirOptions, env: decision.env }, account, realFs, trust.describe);
  assertOwnGroups(account, addon.groupList);
  return { launch, addon, executable, env: decision.env, cwd };
}

async function spawnAction(request: SpawnRequest, layout: InstallLayout, account: Account, policy: Policy, logger: Logger, interrupted: AbortSignal): Promise<Outcome> {
  const trust = trustOf([account.uid]);
  // The reaper runs the server, so it gets the same scrutiny as the server itself.
  const reaperPath = assertTrustedExecutable(layout.reaper, trust.trustedUids, trust.describe, "the reaper");
  const { launch, addon, executable, env, cwd } = await prepareServer(request, layout, account, policy, logger, trust);
  let scope: ScopeExec | undefined;
  if (policy.cgroup !== undefined && launch.cgroupCaps !== undefined) {
    // A check like the others: a refused placement stops no older server and writes no TLS file.
    // Imported on use, as Slurm mode: node:child_process (for loginctl) would cost every kill its load.
    scope = await (await import("./cgroup/placement.js")).prepareScope(policy.cgroup, launch.cgroupCaps, account, logger, layout.packageRoot);
  } else if (request.cgroup !== undefined) {
    logger.warn('the hub asked for cgroup caps, but the site policy has no "cgroup" section: no cgroup cap applies to this server');
  }
  // After every check (a refused spawn stops nothing), before the new server exists.
  const stopped = request.reconcile === true ? await stopMarkedServers(request.server ?? "", { addon, logger, user: account }) : undefined;
  if (interrupted.aborted) throw new SudoSpawnerError("ABORTED", `interrupted by ${String(interrupted.reason)} before the server was started`);
  let tls: WrittenTls | undefined;
  if (request.tls) {
    tls = writeTlsFiles(account, env.JUPYTERHUB_SERVICE_PREFIX, request.tls);
    Object.assign(env, tls.env);
    for (const dir of tls.removedEarlier) logger.info(`removed the TLS files an earlier start of this server left behind (${dir})`);
    logger.info(`internal_ssl: key and certificates written for the server (${env[TLS_ENV.cert]}); they are removed when it stops`);
  }
  if (launch.logFile) logger.info(`server output is also written to ${launch.logFile}`);
  // The reaper removes the TLS files once the server's tree has ended (spawn/tls-files.ts says why there).
  const reaperOptions = [...launch.reaperOptions, ...(tls === undefined ? [] : removeAfterOptions(tls))];
  let started: StartedServer;
  try {
    started = await spawnServer(
      { executable, args: launch.args, env: toEnvList(env), cwd, reaperOptions },
      { addon, reaperPath, logger, graceMs: effectiveGraceMs(policy.graceMs, request.graceSeconds), interrupted, user: account, describeUid: trust.describe, ...(scope === undefined ? {} : { scope }) },
    );
  } catch (error) {
    if (tls !== undefined) removeTlsFiles(tls.dir);
    throw error;
  }
  logger.info(`single-user server for ${account.name} running as pid ${started.pid}`);
  const answer: Answer = stopped === undefined ? { ok: true, pid: started.pid } : { ok: true, pid: started.pid, stopped };
  return { answer, started };
}

/**
 * Slurm mode: the policy's sbatch, squeue and scancel, audited as the server's executable is, but
 * root-owned only: they are the site's, one path for every user, never a user's own copy.
 */
function slurmContext(account: Account, policy: Policy, logger: Logger): SlurmContext {
  const { slurm } = policy;
  if (slurm === undefined) throw slurmDisabled();
  const { trustedUids, describe } = trustOf([]);
  for (const file of [slurm.sbatch, slurm.squeue, slurm.scancel, slurm.scontrol, "/bin/sh"]) assertTrustedExecutable(file, trustedUids, describe, `Slurm's ${basename(file)}`);
  return { slurm, account, logger };
}

async function submitAction(request: SubmitRequest, layout: InstallLayout, account: Account, policy: Policy, logger: Logger, interrupted: AbortSignal): Promise<Outcome> {
  const ctx = slurmContext(account, policy, logger);
  const resources = resolveJob(request.job, ctx.slurm);
  // The job runs no reaper: only the server's executable is audited.
  const { launch, executable, env } = await prepareServer(request, layout, account, policy, logger, trustOf([account.uid]));
  const script = jobScript(executable, launch.args, env);
  for (const name of script.skipped) logger.warn(`environment variable ${JSON.stringify(escapeControls(name))} cannot be exported by a job script: dropped`);
  if (request.action === "submit-test") return { answer: { ok: true, estimate: (await import("./slurm/commands.js")).testJob(ctx, script.text, resources) } };
  const stopped = request.reconcile === true ? (await import("./slurm/commands.js")).cancelMarkedJobs(ctx, request.server ?? "") : undefined;
  if (interrupted.aborted) throw new SudoSpawnerError("ABORTED", `interrupted by ${String(interrupted.reason)} before the job was submitted`);
  const held = await (await import("./slurm/watchdog.js")).submitHeld(ctx, script.text, resources, request.server);
  // A signal that arrived while sbatch ran: nobody would learn this job's id.
  if (interrupted.aborted) {
    const cancelled = await held.abandon();
    throw new SudoSpawnerError("ABORTED", `interrupted by ${String(interrupted.reason)} while submitting; Slurm job ${held.job} ${cancelled ? "was cancelled" : "is cancelled by the watchdog"}`);
  }
  const answer: Answer = stopped === undefined ? { ok: true, job: held.job } : { ok: true, job: held.job, stopped };
  return { answer, held };
}

function killAction(pid: number, signal: number, layout: InstallLayout, policy: Policy, logger: Logger): Answer {
  // A kill runs nothing, so the reaper needs no audit here: only its real path, and that only
  // where a process's environment cannot be read.
  const addon = loadAddon(layout.addon);
  assertProcReadable();
  const reaperRealPath = () => realpathSync(layout.reaper);
  // Servers the Python sudospawner started carry no mark: kill/adoption.ts decides (live migration).
  const adopted = adoptionFor({ binDir: layout.binDir, policy, logger });
  const report: { unowned?: "orphaned-python-server" } = {};
  const alive = killServer(pid, signal, { addon, logger, ownership: (p) => ownership(p, reaperRealPath, adopted), unowned: adopted.unowned, report });
  return report.unowned === undefined ? { ok: true, alive } : { ok: true, alive, unowned: report.unowned };
}

async function handle(layout: InstallLayout, logger: Logger, interrupts: Interrupts): Promise<Outcome> {
  const raw = await readRequestBytes(loadAddon(layout.addon), MAX_REQUEST_BYTES);
  const request = parseRequest(raw);
  const policy = loadPolicy();
  const account = currentAccount();
  assertSpawnableAccount(account, spawnableUidMin(policy));
  logger.debug(`mediator ${VERSION} acting as ${account.name} (uid ${account.uid}): ${request.action}`);
  if (request.action === "spawn" || isSubmit(request)) keepOwnerAccess();
  if (request.action === "spawn") {
    // From here on a signal must not end us outright: a started server would be left behind.
    interrupts.deferred = true;
    return spawnAction(request, layout, account, policy, logger, interrupts.controller.signal);
  }
  if (isSubmit(request)) {
    interrupts.deferred = true;
    return submitAction(request, layout, account, policy, logger, interrupts.controller.signal);
  }
  return { answer: await answerOf(request, layout, account, policy, logger, interrupts) };
}

function isSubmit(request: MediatorRequest): request is SubmitRequest {
  return request.action === "submit" || request.action === "submit-test";
}

/** Every action but spawn and submit: the answer is all there is. */
async function answerOf(request: Exclude<MediatorRequest, SpawnRequest | SubmitRequest>, layout: InstallLayout, account: Account, policy: Policy, logger: Logger, interrupts: Interrupts): Promise<Answer> {
  switch (request.action) {
    case "kill":
      return killAction(request.pid, request.signal, layout, policy, logger);
    case "profiles":
      return { ok: true, profiles: profileSummaries(policy) };
    case "query": {
      const ctx = slurmContext(account, policy, logger);
      return { ok: true, ...(await import("./slurm/commands.js")).queryJob(ctx, request.job) };
    }
    case "cancel": {
      const ctx = slurmContext(account, policy, logger);
      return { ok: true, cancelled: (await import("./slurm/commands.js")).cancelJob(ctx, request.job) };
    }
    case "slurm-options":
      if (policy.slurm === undefined) throw slurmDisabled();
      return { ok: true, ...slurmOptions(policy.slurm) };
  }
}

/**
 * SIGTERM, SIGINT, SIGHUP: sudo relays them when the hub gives up on a call (its timeout, or
 * JupyterHub >= 5.1 cancelling start()). Before a spawn begins, and for kill, the mediator answers
 * and stops; during a spawn the spawn is interrupted, so that it stops the server it started.
 */
interface Interrupts {
  controller: AbortController;
  deferred: boolean;
}

const INTERRUPT_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

function installInterrupts(logger: Logger): Interrupts {
  const interrupts: Interrupts = { controller: new AbortController(), deferred: false };
  for (const name of INTERRUPT_SIGNALS) {
    process.on(name, () => {
      if (interrupts.deferred) {
        if (!interrupts.controller.signal.aborted) logger.warn(`${name} received while starting the server: stopping it`);
        interrupts.controller.abort(name);
        return;
      }
      const message = `interrupted by ${name}`;
      logger.error(message);
      writeAnswer({ ok: false, error: message });
      process.exit(1);
    });
  }
  return interrupts;
}

function failureMessage(error: unknown): string {
  if (isSudoSpawnerError(error)) return error.message;
  // A bug: still one JSON answer and no stack trace on the hub's stdout.
  return `internal error: ${errorMessage(error)}`;
}

/** Run mediator mode; resolves to the exit status. */
export async function runMediator(argv: readonly string[], ctx: MediatorContext): Promise<number> {
  let args: MediatorArgs;
  try {
    args = parseMediatorArgs(argv);
  } catch (error) {
    const message = failureMessage(error);
    writeStderr(`ts-sudospawner: ${message}\n`);
    writeAnswer({ ok: false, error: message });
    return 2;
  }
  const text = modeText(args.mode);
  if (text !== undefined) {
    writeAllSync(1, text);
    return 0;
  }
  const logger = createLogger(args.logLevel, args.logFormat);
  const interrupts = installInterrupts(logger);
  let layout: InstallLayout | undefined;
  try {
    layout = resolveInstall(ctx);
    const { answer, started, held } = await handle(layout, logger, interrupts);
    if (!writeAnswer(answer)) {
      logger.error("the hub closed stdout before the answer could be written");
      if (started !== undefined) {
        // Nobody will know this server's pid: the reaper stops its whole tree at the unconfirmed close.
        started.commit.abandon();
        logger.error(`stopped server pid ${started.pid} because its pid could not be reported`);
      }
      if (held !== undefined) {
        const cancelled = await held.abandon();
        logger.error(`Slurm job ${held.job} ${cancelled ? "was cancelled" : "is cancelled by the watchdog"} because its id could not be reported`);
      }
      return 1;
    }
    // Right after the answer, never before: a mediator killed in between leaves a pid the hub knows.
    if (started !== undefined && !started.commit.confirm()) {
      logger.warn(`the reaper of server pid ${started.pid} was gone before the commit; the server ended with it`);
    }
    await held?.commit();
    return 0;
  } catch (error) {
    const message = failureMessage(error);
    logger.error(message);
    writeAnswer({ ok: false, error: message });
    return 1;
  }
}
