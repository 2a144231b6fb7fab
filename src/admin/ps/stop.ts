/**
 * Stop a server the way a hub does: through the mediator, run by sudo as the server's user, with a
 * kill request. The mediator signals the pid only if it is ours (pinned by a pidfd, the mark
 * checked); the server's reaper then stops what the server left behind and exits, so the tree
 * goes. SIGTERM, then SIGKILL after a bound, as JupyterHub's stop does.
 */
import { SudoSpawnerError, errorMessage } from "../../errors.js";
import { killAnswerAlive, killRequest, type JsonObject } from "../../protocol/index.js";
import { readReply } from "../check/mediator-ask.js";
import { runCommand } from "../host/commands.js";
import { liveStartTicks, type MarkedServer } from "./servers.js";

export const STOP_TERM_MS = 5_000;
export const STOP_KILL_MS = 5_000;
const WAIT_STEP_MS = 50;

export interface StopResult {
  stopped: boolean;
  /** What happened, for the report: the signal that ended it, or why it did not end. */
  detail: string;
}

export interface StopDeps {
  mediator: string;
  termMs?: number;
  killMs?: number;
}

/** Still the same live process (same pid, same start, not a zombie)? */
function stillRunning(server: MarkedServer): boolean {
  return liveStartTicks(server.pid) === server.startTicks;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitGone(server: MarkedServer, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (stillRunning(server)) {
    if (Date.now() >= deadline) return false;
    await sleep(WAIT_STEP_MS);
  }
  return true;
}

/** One kill request through sudo as the server's user: whether the mediator says it is still alive. */
function askKill(server: MarkedServer, signal: number, mediator: string): boolean {
  // -u '#UID': the account by number, as /proc gave it (a name can be ambiguous in NSS).
  const result = runCommand("sudo", ["-u", `#${server.uid}`, "-nH", mediator, "--logging=INFO"], { input: JSON.stringify(killRequest(server.pid, signal)), timeoutMs: 60_000 });
  const reply = readReply(result.stdout, result.stderr, result.status, result.failure);
  const answer: JsonObject | undefined = reply.answer;
  if (answer === undefined || answer.ok !== true) {
    const why = typeof answer?.error === "string" ? answer.error : reply.output || `exit status ${String(reply.status)}`;
    throw new SudoSpawnerError("MEDIATOR", `the mediator refused to signal pid ${server.pid} as ${server.user}: ${why}`);
  }
  return killAnswerAlive(answer);
}

export async function stopServer(server: MarkedServer, deps: StopDeps): Promise<StopResult> {
  try {
    for (const [name, signal, waitMs] of [
      ["SIGTERM", 15, deps.termMs ?? STOP_TERM_MS],
      ["SIGKILL", 9, deps.killMs ?? STOP_KILL_MS],
    ] as const) {
      if (!stillRunning(server)) return { stopped: true, detail: "already gone" };
      askKill(server, signal, deps.mediator);
      if (await waitGone(server, waitMs)) return { stopped: true, detail: `stopped by ${name}` };
    }
    return { stopped: false, detail: `still running ${(deps.killMs ?? STOP_KILL_MS) / 1000} s after SIGKILL (stuck in the kernel?); see \`ps -o pid,stat,wchan,cmd -p ${server.pid}\`` };
  } catch (error) {
    return { stopped: false, detail: errorMessage(error) };
  }
}
