/**
 * The hub-side client: start, poll, signal and stop one user's single-user server through the
 * ts-sudospawner mediator, from a hub that runs as an unprivileged user.
 *
 *   const spawner = new SudoSpawner({ user: "alice", mediatorPath: "/opt/ts-sudospawner/bin/ts-sudospawner" });
 *   const { pid } = await spawner.start({ args: ["--port=8890"], env: { JUPYTERHUB_API_TOKEN: "..." } });
 *   await spawner.poll();   // null while running
 *   await spawner.stop();   // SIGINT, SIGTERM, SIGKILL with JupyterHub's waits
 */
import { SudoSpawnerError, errorMessage } from "../errors.js";
import { answerStopped, killAnswerAlive, killRequest, parseExitLine, spawnAnswerPid, spawnRequest, type JsonObject, type MediatorRequest } from "../protocol/index.js";
import { processStartTicks } from "../system/proc-stat.js";
import { processAlive, serverLiveness, signalNumber, sleep, waitForExit } from "./liveness.js";
import { stderrLogger, type HubLogger } from "./logger.js";
import { callMediator } from "./mediator-call.js";
import { buildSudoCommand, type SudoCommand } from "./command-line.js";

export const DEFAULT_TIMEOUT_MS = 30_000;
/** How long poll() and stop() wait for the reaper's exit line of a server that is gone but whose stderr is still open. */
export const EXIT_LINE_WAIT_MS = 500;
/** JupyterHub's LocalProcessSpawner defaults: interrupt_timeout, term_timeout, kill_timeout. */
export const DEFAULT_STOP = { interruptMs: 10_000, termMs: 5_000, killMs: 5_000 } as const;

export interface SudoSpawnerOptions {
  /** The system user the server runs as. */
  user: string;
  /** The installed mediator, exactly as the sudoers rule names it (or a name on sudo's secure_path). */
  mediatorPath: string;
  /** "sudo" (default), "doas", "dzdo", or an absolute path to one of them. */
  sudo?: string;
  /** Options after `-u USER`; default ["-nH"] (["-n"] for doas). Keep -n: a prompt would hang the hub. */
  sudoArgs?: readonly string[];
  /** The mediator's --logging level (debug, info, warning, error, critical, none); default "INFO". */
  logLevel?: string;
  /** Limit for each mediator call; default 30 s. */
  timeoutMs?: number;
  /** Receives this client's messages and the relayed mediator/server stderr; default: stderr. */
  logger?: HubLogger;
  /** Environment for the privilege tool itself; default this process's. */
  sudoEnv?: NodeJS.ProcessEnv;
  /**
   * The server's name in the hub ("" for a user's default server). Given, every start() marks the
   * server with it and first stops this user's marked servers of the same name that no hub knows
   * (a start only happens when the hub holds no state for the name: see docs/hub.md). Absent: no
   * mark and no reconciliation, as before (a hub that runs servers it does not name).
   */
  serverName?: string;
}

export interface StartOptions {
  /** Arguments for the single-user server (the executable itself is fixed by the mediator's install). */
  args?: readonly string[];
  /** The server's environment (loader/interpreter injection variables are dropped by the mediator). */
  env?: Readonly<Record<string, string>>;
  /** Aborting kills the in-flight sudo; a server that started anyway is stopped. */
  signal?: AbortSignal;
  /**
   * Seconds the mediator waits for an early exit before answering (0: at the exec); never more
   * than the site policy's graceSeconds. Absent: the policy's (1 s by default).
   */
  graceSeconds?: number;
}

export interface StopOptions {
  /** Wait after SIGINT; 0 skips SIGINT (stop now). Default 10 s. */
  interruptMs?: number;
  /** Wait after SIGTERM; default 5 s. */
  termMs?: number;
  /** Wait after SIGKILL before giving up; default 5 s. */
  killMs?: number;
  signal?: AbortSignal;
}

export interface SudoSpawnerState {
  pid?: number;
  /** The server's start time (/proc/PID/stat field 22), so that a reused pid is not taken for it. */
  startTicks?: number;
}

/** What one spawn's stderr has said of how servers ended, while it may say more. */
interface ExitLines {
  /** Exit statuses from the reaper's lines (code, or -signal), by pid. */
  exits: Map<number, number>;
  /** Whether the pipe is still open, so the line may still come (false after a restart: no pipe at all). */
  open: boolean;
}

/** The server this client started or loaded. */
interface Tracked {
  pid: number;
  startTicks: number | undefined;
  lines: ExitLines;
}

/** The warning for servers a reconciling start stopped (pure). */
export function describeStopped(pids: readonly number[], user: string, serverName: string): string {
  const what = pids.length === 1 ? "server" : "servers";
  const which = serverName === "" ? "" : ` named ${JSON.stringify(serverName)}`;
  return `stopped ${pids.length} ${what}${which} of ${user} (pid ${pids.join(", ")}) left by an earlier hub that stopped before it saved the server's state`;
}

export class SudoSpawner {
  readonly user: string;
  private readonly command: SudoCommand;
  private readonly timeoutMs: number;
  private readonly logger: HubLogger;
  private readonly sudoEnv: NodeJS.ProcessEnv | undefined;
  private readonly serverName: string | undefined;
  private server: Tracked | undefined;
  /** How the last server ended, once poll() or stop() saw it: kept until the next start. */
  private lastExit: number | undefined;
  private starting = false;

  constructor(options: SudoSpawnerOptions) {
    // Validated now, so a misconfiguration fails at construction rather than at the first start.
    this.command = buildSudoCommand(options);
    this.user = options.user;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new SudoSpawnerError("USAGE", `timeoutMs must be positive, got ${options.timeoutMs}`);
    this.logger = options.logger ?? stderrLogger(`ts-sudospawner ${options.user}`);
    this.sudoEnv = options.sudoEnv;
    this.serverName = options.serverName;
  }

  /** The running server's pid, if one is known. */
  get pid(): number | undefined {
    return this.server?.pid;
  }

  /** The argv this client runs for every call, e.g. for a sudoers check. */
  get commandLine(): readonly string[] {
    return [this.command.file, ...this.command.args];
  }

  /** One mediator call; a spawn's `lines` collect the reaper's exit lines for as long as its stderr is open. */
  private call(request: MediatorRequest, signal: AbortSignal | undefined, extra: { onAbandonedAnswer?: (answer: JsonObject) => void; lines?: ExitLines } = {}): Promise<JsonObject> {
    const { lines } = extra;
    return callMediator(this.command, request, {
      timeoutMs: this.timeoutMs,
      signal,
      logger: this.logger,
      env: this.sudoEnv,
      onAbandonedAnswer: extra.onAbandonedAnswer,
      onStderrLine: (line) => {
        const exit = parseExitLine(line);
        if (exit && lines) lines.exits.set(exit.pid, exit.status);
      },
      onStderrClosed: () => {
        if (lines) lines.open = false;
      },
    });
  }

  /** Start the server; resolves once the mediator reports it running (after its grace, 1 s unless `graceSeconds` asks less). */
  async start(options: StartOptions = {}): Promise<{ pid: number }> {
    // Checked and claimed before the first await: two overlapping starts would start two servers and track one.
    if (this.starting) throw new SudoSpawnerError("ALREADY_RUNNING", `a start for ${this.user} is already in progress: wait for it, or stop() afterwards`);
    const running = this.server;
    if (running !== undefined && serverLiveness(running.pid, running.startTicks) === "alive") {
      throw new SudoSpawnerError("ALREADY_RUNNING", `a server for ${this.user} is already running as pid ${running.pid}: stop() it first`);
    }
    this.starting = true;
    try {
      return await this.spawn(options);
    } finally {
      this.starting = false;
    }
  }

  private async spawn(options: StartOptions): Promise<{ pid: number }> {
    const extra: Parameters<typeof spawnRequest>[2] = options.graceSeconds === undefined ? {} : { graceSeconds: options.graceSeconds };
    // Folded into the spawn: reconciliation costs no extra sudo round trip.
    if (this.serverName !== undefined) Object.assign(extra, { server: this.serverName, reconcile: true });
    const request = spawnRequest(options.args ?? [], options.env ?? {}, extra);
    const lines: ExitLines = { exits: new Map(), open: true };
    const answer = await this.call(request, options.signal, { lines, onAbandonedAnswer: (late) => this.stopAbandoned(late) });
    const pid = spawnAnswerPid(answer);
    // Tracked before anything else of the answer is read: a server that runs is never left unknown.
    this.server = { pid, startTicks: processStartTicks(pid), lines };
    this.lastExit = undefined;
    this.logger.info(`server for ${this.user} started as pid ${pid}`);
    this.warnStopped(answer);
    return { pid };
  }

  /** The servers a reconciling start stopped; an answer that lists them in another form costs the start nothing. */
  private warnStopped(answer: JsonObject): void {
    try {
      const stopped = answerStopped(answer);
      if (stopped.length > 0) this.logger.warn(describeStopped(stopped, this.user, this.serverName ?? ""));
    } catch (error) {
      this.logger.warn(`the mediator's answer for ${this.user} names stopped servers in a form this client does not read: ${errorMessage(error)}`);
    }
  }

  /** A start was aborted but the mediator started the server anyway: stop it, since nobody else knows it. */
  private stopAbandoned(answer: JsonObject): void {
    const pid = answer.pid;
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 1) return;
    this.logger.warn(`the aborted start for ${this.user} still started pid ${pid}: stopping it`);
    this.stopPid(pid, { interruptMs: 0 }).catch((error: unknown) => {
      this.logger.error(`could not stop abandoned server pid ${pid} of ${this.user}: ${String(error)}`);
    });
  }

  /**
   * null while the server runs (or a start is in flight), else its exit status: the code, or
   * -signal, as the reaper reported it on the relayed stderr; 0 where that is unknown (after a
   * restart of the hub, or a reused pid). The status stays the answer until the next start: a hub
   * may poll an ended server more than once. No sudo: kill(pid, 0) and /proc locally.
   */
  async poll(): Promise<number | null> {
    const server = this.server;
    if (server === undefined) return this.starting ? null : (this.lastExit ?? 0);
    const liveness = serverLiveness(server.pid, server.startTicks);
    if (liveness === "alive") return null;
    if (liveness === "reused") this.logger.warn(`server pid ${server.pid} of ${this.user} is gone: the pid now belongs to a process that started later`);
    return this.ended(server, liveness === "gone" ? await this.exitLine(server) : undefined);
  }

  /** The reaper's exit line for a server that is gone: it may trail the pid's end by a moment while its stderr is open. */
  private async exitLine(server: Tracked): Promise<number | undefined> {
    const deadline = Date.now() + EXIT_LINE_WAIT_MS;
    const { exits } = server.lines;
    while (!exits.has(server.pid) && server.lines.open && Date.now() < deadline) await sleep(20);
    return exits.get(server.pid);
  }

  /** The server is gone: forget it (if still the current one), keep its status for every later poll(). */
  private ended(server: Tracked, status: number | undefined): number {
    if (this.server === server) {
      this.server = undefined;
      this.lastExit = status ?? 0;
    }
    if (status === undefined) this.logger.info(`server pid ${server.pid} of ${this.user} is no longer running (exit status unknown)`);
    return status ?? 0;
  }

  /** Send a signal through the mediator; resolves to whether the server is still alive. */
  async signal(sig: NodeJS.Signals | number, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const server = this.server;
    if (server === undefined) return false;
    const alive = await this.signalPid(server.pid, signalNumber(sig), options.signal);
    if (!alive) this.ended(server, await this.exitLine(server));
    return alive;
  }

  private async signalPid(pid: number, signal: number, abort?: AbortSignal): Promise<boolean> {
    return killAnswerAlive(await this.call(killRequest(pid, signal), abort));
  }

  /**
   * Stop the server: SIGINT, wait; SIGTERM, wait; SIGKILL, wait. Resolves when it is gone; rejects
   * with TIMEOUT if it survives SIGKILL (the pid is kept, so poll() and stop() can be retried).
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    if (serverLiveness(server.pid, server.startTicks) !== "reused") await this.stopPid(server.pid, options);
    this.ended(server, await this.exitLine(server));
  }

  private async stopPid(pid: number, options: StopOptions): Promise<void> {
    const steps: Array<[NodeJS.Signals, number]> = [
      ["SIGINT", options.interruptMs ?? DEFAULT_STOP.interruptMs],
      ["SIGTERM", options.termMs ?? DEFAULT_STOP.termMs],
      ["SIGKILL", options.killMs ?? DEFAULT_STOP.killMs],
    ];
    for (const [name, waitMs] of steps) {
      if (name === "SIGINT" && waitMs <= 0) continue;
      if (!processAlive(pid)) return;
      this.logger.debug(`sending ${name} to pid ${pid} of ${this.user}`);
      const alive = await this.signalPid(pid, signalNumber(name), options.signal);
      if (!alive) return;
      if (await waitForExit(pid, waitMs, { signal: options.signal })) return;
    }
    throw new SudoSpawnerError(
      "TIMEOUT",
      `the server of ${this.user} (pid ${pid}) is still there ${options.killMs ?? DEFAULT_STOP.killMs} ms after SIGKILL: it is stuck in the kernel (state D, e.g. a hung NFS mount) or a zombie nobody reaps; see \`ps -o pid,stat,wchan,cmd -p ${pid}\``,
    );
  }

  /** What the hub must persist to find the server again after a restart. */
  getState(): SudoSpawnerState {
    const server = this.server;
    if (server === undefined) return {};
    return server.startTicks === undefined ? { pid: server.pid } : { pid: server.pid, startTicks: server.startTicks };
  }

  /** Restore persisted state (validated: it comes from a database). */
  loadState(state: unknown): void {
    this.server = undefined;
    if (state === null || state === undefined) return;
    if (typeof state !== "object" || Array.isArray(state)) {
      throw new SudoSpawnerError("BAD_STATE", `invalid spawner state: expected an object like {"pid":1234,"startTicks":5678}, got ${JSON.stringify(state)}`);
    }
    const { pid, startTicks } = state as { pid?: unknown; startTicks?: unknown };
    if (pid === undefined || pid === null || pid === 0) return;
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 1) {
      throw new SudoSpawnerError("BAD_STATE", `invalid pid in spawner state: ${JSON.stringify(pid)}`);
    }
    // A state from before startTicks was kept has none: then only kill(pid, 0) judges the pid.
    if (startTicks !== undefined && (typeof startTicks !== "number" || !Number.isSafeInteger(startTicks) || startTicks < 0)) {
      throw new SudoSpawnerError("BAD_STATE", `invalid startTicks in spawner state: ${JSON.stringify(startTicks)}`);
    }
    this.server = { pid, startTicks, lines: { exits: new Map(), open: false } };
  }

  /** Forget the server without stopping it (JupyterHub's clear_state). */
  clearState(): void {
    this.server = undefined;
  }
}
