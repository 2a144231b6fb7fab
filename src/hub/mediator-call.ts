/**
 * One mediator call: run `sudo -u USER -nH MEDIATOR --logging=LEVEL`, write the request, relay
 * stderr, read the one answer from stdout. The only module here with process side effects.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SudoSpawnerError, errnoCode, errorMessage } from "../errors.js";
import { extractJsonObject, interpretOutcome, type CallOutcome, type JsonObject } from "./answer.js";
import type { HubLogger } from "./logger.js";
import { relayStderr, type Relay } from "./stderr-relay.js";
import { describeCommand, type SudoCommand } from "./sudo-command.js";

/** The mediator answers with one short line; anything far larger is not the mediator. */
export const MAX_STDOUT = 1024 * 1024;
/** After SIGTERM, how long sudo and the mediator get before SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 5000;
/** How long to wait for sudo's last stderr bytes when a call failed, so its message can be read. */
const STDERR_SETTLE_MS = 250;

export interface MediatorCallOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  logger: HubLogger;
  /** The user this process runs as (named in error messages about the sudoers rule). */
  hubUser?: string;
  /** Environment of the privilege tool; default this process's. sudo resets it for the mediator anyway. */
  env?: NodeJS.ProcessEnv;
  killGraceMs?: number;
  /**
   * Called when a call that was aborted or timed out still produced an ok answer (a server may
   * have been started after all). The spawner uses it to stop that server: nothing may be left
   * running after a cancelled start.
   */
  onAbandonedAnswer?: (answer: JsonObject) => void;
}

/** sudo's compiled-in secure_path on Debian, Ubuntu, RHEL and most others. */
export const DEFAULT_SECURE_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/**
 * Does the mediator exist where sudo will look? Only asked after a failure, to tell "not
 * installed" from "rule missing" (sudo -n reports both as "a password is required").
 * A path the hub user cannot stat counts as found: then only sudo can tell.
 */
export function mediatorFound(mediatorPath: string): boolean {
  const candidates = path.isAbsolute(mediatorPath) ? [mediatorPath] : DEFAULT_SECURE_PATH.map((dir) => path.join(dir, mediatorPath));
  return candidates.some((candidate) => {
    try {
      fs.statSync(candidate);
      return true;
    } catch (error) {
      return errnoCode(error) !== "ENOENT" && errnoCode(error) !== "ENOTDIR";
    }
  });
}

export function currentUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "?"}`;
  }
}

function spawnFailure(command: SudoCommand, error: unknown): SudoSpawnerError {
  const code = errnoCode(error);
  if (code === "ENOENT") {
    return new SudoSpawnerError(
      "SUDO",
      `${command.tool} is not installed or not on PATH (${JSON.stringify(command.file)}): install it (e.g. apt-get install ${command.tool}) or set the sudo option to its absolute path`,
      { cause: error },
    );
  }
  if (code === "EACCES") {
    return new SudoSpawnerError("SUDO", `${command.file} is not executable by this user: check its permissions`, { cause: error });
  }
  return new SudoSpawnerError("SUDO", `could not run ${describeCommand(command)}: ${errorMessage(error)}`, { cause: error });
}

/** Child pipes are net.Sockets at runtime; an unref'd one still delivers data but does not hold the process. */
function unrefPipe(stream: unknown): void {
  if (typeof stream === "object" && stream !== null && "unref" in stream && typeof stream.unref === "function") stream.unref();
}

function sendSignal(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

/**
 * Run one mediator call and resolve to its ok:true answer. Rejects with SudoSpawnerError:
 * SUDO / MEDIATOR (see answer.ts), TIMEOUT, ABORTED. On timeout or abort the in-flight sudo gets
 * SIGTERM (sudo relays it to the mediator, which stops anything it started), then SIGKILL.
 */
export function callMediator(command: SudoCommand, request: JsonObject, options: MediatorCallOptions): Promise<JsonObject> {
  const { logger } = options;
  const hubUser = options.hubUser ?? currentUserName();
  if (options.signal?.aborted) {
    return Promise.reject(new SudoSpawnerError("ABORTED", `aborted before running the mediator for ${command.user}`, { cause: options.signal.reason }));
  }
  logger.debug(`running ${describeCommand(command)}: ${String(request.action)}`);
  return new Promise<JsonObject>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command.file, command.args, { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
    } catch (error) {
      reject(spawnFailure(command, error));
      return;
    }
    let settled = false;
    let abandoned = false;
    let stdout = "";
    let stdoutEnded = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const relay: Relay | undefined = child.stderr ? relayStderr(child.stderr, logger, `[${command.user}]`) : undefined;

    const cleanup = () => {
      clearTimeout(timeout);
      options.signal?.removeEventListener("abort", onAbort);
      // The server keeps writing to this pipe: relay it for as long as it lives, but do not let
      // the open pipe keep a script that is otherwise done from exiting.
      relay?.stopCapture();
      unrefPipe(child.stderr);
    };
    const settle = (error: SudoSpawnerError | undefined, answer?: JsonObject) => {
      if (settled) return;
      settled = true;
      cleanup();
      if (error) reject(error);
      else resolve(answer as JsonObject);
    };

    const abandon = (error: SudoSpawnerError) => {
      if (settled) return;
      abandoned = true;
      logger.warn(`${error.message}; stopping ${describeCommand(command)} (pid ${child.pid ?? "?"})`);
      sendSignal(child, "SIGTERM");
      killTimer = setTimeout(() => sendSignal(child, "SIGKILL"), options.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
      killTimer.unref();
      settle(error);
    };

    const timeout = setTimeout(() => {
      abandon(
        new SudoSpawnerError(
          "TIMEOUT",
          `the mediator for ${command.user} did not answer within ${options.timeoutMs} ms (a slow name service or home directory, or a hung sudo); raise timeoutMs if this machine is just slow`,
        ),
      );
    }, options.timeoutMs);
    const onAbort = () => {
      abandon(new SudoSpawnerError("ABORTED", `the ${String(request.action)} call for ${command.user} was aborted`, { cause: options.signal?.reason }));
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = async () => {
      if (!exit || !stdoutEnded) return;
      clearTimeout(killTimer);
      if (abandoned) {
        // Too late for the caller, but an answer may still report a server we must not leave running.
        const late = extractJsonObject(stdout);
        if (late.kind === "object" && late.value.ok === true) options.onAbandonedAnswer?.(late.value);
        return;
      }
      let outcome: CallOutcome = { exitCode: exit.code, signal: exit.signal, stdout, stderr: relay?.captured() ?? "" };
      try {
        settle(undefined, interpretOutcome(outcome, { command, hubUser }));
      } catch {
        // Failed: sudo's message may still be in flight on stderr; give it a moment, then explain.
        if (relay) await Promise.race([relay.closed, new Promise((r) => setTimeout(r, STDERR_SETTLE_MS))]);
        outcome = { ...outcome, stderr: relay?.captured() ?? "" };
        try {
          settle(undefined, interpretOutcome(outcome, { command, hubUser, mediatorFound: mediatorFound(command.mediatorPath) }));
        } catch (error) {
          settle(error instanceof SudoSpawnerError ? error : new SudoSpawnerError("INTERNAL", errorMessage(error)));
        }
      }
    };

    child.on("error", (error) => {
      // spawn failures (ENOENT...) arrive here; later errors (kill on a dead child) do not matter.
      if (child.pid === undefined) settle(spawnFailure(command, error));
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      void finish();
    });
    if (child.stdout) {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => {
        stdout += chunk;
        if (stdout.length > MAX_STDOUT && !settled) {
          abandon(new SudoSpawnerError("MEDIATOR", `the mediator wrote more than ${MAX_STDOUT} bytes on stdout: is ${command.mediatorPath} really ts-sudospawner?`));
          child.stdout?.destroy();
        }
      });
      child.stdout.on("error", () => undefined);
      child.stdout.on("close", () => {
        stdoutEnded = true;
        void finish();
      });
    } else {
      stdoutEnded = true;
    }
    // sudo may exit (refusing) before reading its stdin: ignore EPIPE there.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(`${JSON.stringify(request)}\n`);
  });
}
