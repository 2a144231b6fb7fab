/**
 * One mediator call: run `sudo -u USER -nH MEDIATOR --logging=LEVEL`, write the request, relay
 * stderr, read the one answer from stdout. The only module here with process side effects.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SudoSpawnerError, errnoCode, errorMessage } from "../errors.js";
import type { JsonObject, MediatorRequest } from "../protocol/index.js";
import { extractJsonObject, interpretOutcome, type CallOutcome } from "./answer.js";
import type { HubLogger } from "./logger.js";
import { relayStderr, type Relay } from "./stderr-relay.js";
import { describeCommand, type SudoCommand } from "./command-line.js";

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
  /** Sees every stderr line, for as long as the pipe stays open (the server shares it). */
  onStderrLine?: (line: string) => void;
  /** Called once the stderr pipe has closed: every process that shared it is gone, no line will come. */
  onStderrClosed?: () => void;
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
export function callMediator(command: SudoCommand, request: MediatorRequest, options: MediatorCallOptions): Promise<JsonObject> {
  if (options.signal?.aborted) {
    return Promise.reject(new SudoSpawnerError("ABORTED", `aborted before running the mediator for ${command.user}`, { cause: options.signal.reason }));
  }
  return new MediatorCall(command, request, options).run();
}

/** One call's life: start sudo, send the request, collect stdout, then settle once. */
class MediatorCall {
  private child: ChildProcess | undefined;
  private relay: Relay | undefined;
  private stdout = "";
  private stdoutBytes = 0;
  private stdoutEnded = false;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private settled = false;
  private abandoned = false;
  private deadline: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private resolve: (answer: JsonObject) => void = () => undefined;
  private reject: (error: SudoSpawnerError) => void = () => undefined;
  private readonly hubUser: string;

  constructor(
    private readonly command: SudoCommand,
    private readonly request: MediatorRequest,
    private readonly options: MediatorCallOptions,
  ) {
    this.hubUser = options.hubUser ?? currentUserName();
  }

  run(): Promise<JsonObject> {
    return new Promise<JsonObject>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.options.logger.debug(`running ${describeCommand(this.command)}: ${this.request.action}`);
      const child = this.startSudo();
      if (child === undefined) return;
      this.child = child;
      this.relay = child.stderr ? relayStderr(child.stderr, this.options.logger, `[${this.command.user}]`, this.options.onStderrLine) : undefined;
      void (this.relay?.closed ?? Promise.resolve()).then(() => this.options.onStderrClosed?.());
      this.watchDeadline();
      this.options.signal?.addEventListener("abort", this.onAbort, { once: true });
      this.collectStdout(child);
      this.sendRequest(child);
    });
  }

  private startSudo(): ChildProcess | undefined {
    let child: ChildProcess;
    try {
      child = spawn(this.command.file, this.command.args, { stdio: ["pipe", "pipe", "pipe"], env: this.options.env ?? process.env });
    } catch (error) {
      this.settle(spawnFailure(this.command, error));
      return undefined;
    }
    child.on("error", (error) => {
      // spawn failures (ENOENT...) arrive here; later errors (kill on a dead child) do not matter.
      if (child.pid === undefined) this.settle(spawnFailure(this.command, error));
    });
    child.on("exit", (code, signal) => {
      this.exit = { code, signal };
      void this.finish();
    });
    return child;
  }

  private watchDeadline(): void {
    const { command, options } = this;
    this.deadline = setTimeout(() => {
      this.abandon(
        new SudoSpawnerError(
          "TIMEOUT",
          `the mediator for ${command.user} did not answer within ${options.timeoutMs} ms (a slow name service or home directory, or a hung sudo); raise timeoutMs if this machine is just slow`,
        ),
      );
    }, options.timeoutMs);
  }

  private readonly onAbort = (): void => {
    this.abandon(new SudoSpawnerError("ABORTED", `the ${this.request.action} call for ${this.command.user} was aborted`, { cause: this.options.signal?.reason }));
  };

  private collectStdout(child: ChildProcess): void {
    if (!child.stdout) {
      this.stdoutEnded = true;
      return;
    }
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      this.stdout += chunk;
      this.stdoutBytes += Buffer.byteLength(chunk);
      if (this.stdoutBytes > MAX_STDOUT && !this.settled) {
        this.abandon(new SudoSpawnerError("MEDIATOR", `the mediator wrote more than ${MAX_STDOUT} bytes on stdout: is ${this.command.mediatorPath} really ts-sudospawner?`));
        child.stdout?.destroy();
      }
    });
    child.stdout.on("error", () => undefined);
    child.stdout.on("close", () => {
      this.stdoutEnded = true;
      void this.finish();
    });
  }

  private sendRequest(child: ChildProcess): void {
    // sudo may exit (refusing) before reading its stdin: ignore EPIPE there.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(`${JSON.stringify(this.request)}\n`);
  }

  /** Give up on the call: stop sudo (SIGTERM, later SIGKILL) and fail now. */
  private abandon(error: SudoSpawnerError): void {
    if (this.settled || this.child === undefined) return;
    const child = this.child;
    this.abandoned = true;
    this.options.logger.warn(`${error.message}; stopping ${describeCommand(this.command)} (pid ${child.pid ?? "?"})`);
    sendSignal(child, "SIGTERM");
    this.killTimer = setTimeout(() => sendSignal(child, "SIGKILL"), this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    this.killTimer.unref();
    this.settle(error);
  }

  /** Once sudo has exited and stdout has closed: the answer, or why there is none. */
  private async finish(): Promise<void> {
    if (!this.exit || !this.stdoutEnded) return;
    clearTimeout(this.killTimer);
    if (this.abandoned) {
      // Too late for the caller, but an answer may still report a server we must not leave running.
      const late = extractJsonObject(this.stdout);
      if (late.kind === "object" && late.value.ok === true) this.options.onAbandonedAnswer?.(late.value);
      return;
    }
    try {
      this.settle(undefined, interpretOutcome(this.outcome(), { command: this.command, hubUser: this.hubUser }));
    } catch {
      await this.explainFailure();
    }
  }

  /** sudo's message may still be in flight on stderr: give it a moment, then explain. */
  private async explainFailure(): Promise<void> {
    if (this.relay) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.relay.closed, new Promise((r) => (timer = setTimeout(r, STDERR_SETTLE_MS)))]);
      clearTimeout(timer); // a finished script must not linger for it
    }
    try {
      const ctx = { command: this.command, hubUser: this.hubUser, mediatorFound: mediatorFound(this.command.mediatorPath) };
      this.settle(undefined, interpretOutcome(this.outcome(), ctx));
    } catch (error) {
      this.settle(error instanceof SudoSpawnerError ? error : new SudoSpawnerError("INTERNAL", errorMessage(error)));
    }
  }

  private outcome(): CallOutcome {
    return { exitCode: this.exit?.code ?? null, signal: this.exit?.signal ?? null, stdout: this.stdout, stderr: this.relay?.captured() ?? "" };
  }

  private settle(error: SudoSpawnerError | undefined, answer?: JsonObject): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    this.options.signal?.removeEventListener("abort", this.onAbort);
    // The server keeps writing to the stderr pipe: relay it for as long as it lives, but do not let
    // the open pipe keep a script that is otherwise done from exiting.
    this.relay?.stopCapture();
    unrefPipe(this.child?.stderr);
    if (error) this.reject(error);
    else this.resolve(answer as JsonObject);
  }
}
