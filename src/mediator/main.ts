/**
 * Mediator mode: read one request, act on it as the current user, answer with one JSON object.
 * Every failure becomes {"ok":false,"error":...} on stdout, the same message on stderr, exit 1.
 */
import { Stats, realpathSync, statSync } from "node:fs";
import { SudoSpawnerError, errorMessage, isSudoSpawnerError } from "../errors.js";
import { VERSION } from "../version.js";
import { assertSpawnableAccount, currentAccount, describeUid, readUidMin, sudoUid, type Account } from "./accounts.js";
import { parseMediatorArgs, type MediatorArgs } from "./args.js";
import { applyEnvPolicy, toEnvList } from "./env-policy.js";
import { assertTrustedExecutable, findSingleUser, installDirectory } from "./executable.js";
import { HELP_TEXT } from "./help.js";
import { killServer } from "./kill.js";
import { chooseLaunch } from "./launch.js";
import { createLogger, type Logger } from "./logger.js";
import { findPackageRoot, loadAddon, nativePaths, type NativeAddon } from "./native.js";
import { assertProcReadable, ownership } from "./ownership.js";
import type { Policy } from "./policy.js";
import { loadPolicy } from "./policy-file.js";
import { MAX_REQUEST_BYTES, parseRequest, type SpawnRequest } from "./request.js";
import { DEFAULT_GRACE_MS, spawnServer } from "./spawn.js";
import { readRequestBytes } from "./stdin.js";
import { writeAllSync } from "./write-all.js";

export interface MediatorContext {
  /** This mediator's own file (the CLI bundle). */
  selfPath: string;
  /** The path it was started by (process.argv[1]): the sudoers path under sudo. */
  invokedPath: string | undefined;
}

export type Answer = { ok: true; pid: number } | { ok: true; alive: boolean } | { ok: false; error: string };

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

interface Installed {
  addon: NativeAddon;
  reaperPath: string;
  trustedUids: ReadonlySet<number>;
  describe: (uid: number) => string;
}

function loadInstalled(ctx: MediatorContext, account: Account): Installed {
  const paths = nativePaths(findPackageRoot(ctx.selfPath));
  const hubUid = sudoUid();
  const trustedUids = new Set([0, account.uid]);
  const describe = (uid: number) => describeUid(uid, hubUid);
  // The reaper runs the server, so it gets the same scrutiny as the server itself.
  const reaperPath = assertTrustedExecutable(paths.reaper, trustedUids, describe, "the reaper");
  return { addon: loadAddon(paths.addon), reaperPath, trustedUids, describe };
}

function homeDirectory(account: Account): string {
  let stats: Stats;
  try {
    stats = statSync(account.homedir);
  } catch {
    throw new SudoSpawnerError(
      "NOT_FOUND",
      `home directory ${account.homedir} of ${account.username} does not exist; create it (as root: \`mkhomedir_helper ${account.username}\`) or fix the passwd entry`,
    );
  }
  if (!stats.isDirectory()) throw new SudoSpawnerError("NOT_FOUND", `home ${account.homedir} of ${account.username} is not a directory`);
  return account.homedir;
}

async function spawnAction(request: SpawnRequest, ctx: MediatorContext, account: Account, policy: Policy, logger: Logger, interrupted: AbortSignal): Promise<Answer> {
  const launch = chooseLaunch(request, policy, account);
  const installed = loadInstalled(ctx, account);
  const executable = launch.executable ?? findSingleUser(installDirectory(ctx.invokedPath, ctx.selfPath));
  assertTrustedExecutable(executable, installed.trustedUids, installed.describe, "the single-user server");
  const cwd = homeDirectory(account);
  const decision = applyEnvPolicy(request.env, account, policy.env);
  for (const { name, reason } of decision.dropped) logger.warn(`dropped environment variable ${name}: ${reason}`);
  if (launch.logFile) logger.info(`server output is also written to ${launch.logFile}`);
  const pid = await spawnServer(
    { executable, args: launch.args, env: toEnvList(decision.env), cwd, reaperOptions: launch.reaperOptions },
    { addon: installed.addon, reaperPath: installed.reaperPath, logger, graceMs: policy.graceMs ?? DEFAULT_GRACE_MS, interrupted },
  );
  logger.info(`single-user server for ${account.username} running as pid ${pid}`);
  return { ok: true, pid };
}

function killAction(pid: number, signal: number, ctx: MediatorContext, logger: Logger): Answer {
  // A kill runs nothing, so the reaper needs no audit here: only its real path, and that only
  // where a process's environment cannot be read.
  const paths = nativePaths(findPackageRoot(ctx.selfPath));
  const addon = loadAddon(paths.addon);
  assertProcReadable();
  const reaperRealPath = () => realpathSync(paths.reaper);
  const alive = killServer(pid, signal, { addon, logger, ownership: (p) => ownership(p, reaperRealPath) });
  return { ok: true, alive };
}

async function handle(ctx: MediatorContext, logger: Logger, interrupts: Interrupts): Promise<Answer> {
  const raw = await readRequestBytes(MAX_REQUEST_BYTES);
  const request = parseRequest(raw);
  const policy = loadPolicy();
  const account = currentAccount();
  assertSpawnableAccount(account, policy.minUid ?? readUidMin());
  logger.debug(`mediator ${VERSION} acting as ${account.username} (uid ${account.uid}): ${request.action}`);
  if (request.action === "spawn") {
    // From here on a signal must not end us outright: a started server would be left behind.
    interrupts.deferred = true;
    return spawnAction(request, ctx, account, policy, logger, interrupts.controller.signal);
  }
  return killAction(request.pid, request.signal, ctx, logger);
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
  if (args.mode === "help") {
    writeAllSync(1, HELP_TEXT);
    return 0;
  }
  if (args.mode === "version") {
    writeAllSync(1, `${VERSION}\n`);
    return 0;
  }
  const logger = createLogger(args.logLevel, args.logFormat);
  const interrupts = installInterrupts(logger);
  try {
    const answer = await handle(ctx, logger, interrupts);
    if (!writeAnswer(answer)) {
      logger.error("the hub closed stdout before the answer could be written");
      if ("pid" in answer) {
        // Nobody will know this server's pid: stop it rather than leave it running unmanaged.
        loadAddon(nativePaths(findPackageRoot(ctx.selfPath)).addon).kill(answer.pid, 15);
        logger.error(`stopped server pid ${answer.pid} because its pid could not be reported`);
      }
      return 1;
    }
    return 0;
  } catch (error) {
    const message = failureMessage(error);
    logger.error(message);
    writeAnswer({ ok: false, error: message });
    return 1;
  }
}
