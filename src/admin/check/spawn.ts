/**
 * Check 7 (`--spawn`): start and stop a real single-user server as the user, exactly the way the
 * hub does: `sudo -u USER -nH MEDIATOR --logging=INFO` run as the hub, one JSON request on stdin.
 *
 * The mediator's stderr (which the server inherits, as the hub relays it) goes to a private file,
 * not a pipe: the server keeps it open after the mediator exits, and a pipe nobody reads would
 * either hang this check or break the server's logging.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { killRequest, spawnRequest, type Answer, type MediatorRequest } from "../../protocol/index.js";
import type { CheckRow } from "./report.js";
import { failureContext, firstLines, runAsHub, type CheckSubject } from "./subject.js";
import { diagnoseSudoFailure } from "./diagnose.js";
import { hubEnvironment } from "./hub-environment.js";

const STOP_TIMEOUT_MS = 10_000;
const LISTEN_TIMEOUT_MS = 15_000;


function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(200);
  }
  return false;
}

function realUid(pid: number): number | undefined {
  try {
    const match = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

class SpawnSession {
  readonly logFile: string;
  private readonly logFd: number;

  constructor(
    private readonly s: CheckSubject,
    private readonly dir: string,
  ) {
    this.logFile = path.join(dir, "mediator-and-server.log");
    this.logFd = fs.openSync(this.logFile, "a", 0o600);
  }

  /** One request through the hub's sudo call; the answer, or the failure output. */
  ask(request: MediatorRequest): { answer?: Answer; output: string; status: number | null } {
    const args = ["sudo", "-u", this.s.user.name, "-nH", this.s.mediator.path, "--logging=INFO"];
    const result = runAsHub(this.s, args, { input: JSON.stringify(request), stderrFd: this.logFd, timeoutMs: 30_000 });
    let answer: Answer | undefined;
    try {
      answer = JSON.parse(result.stdout) as Answer;
    } catch {
      answer = undefined;
    }
    return { ...(answer === undefined ? {} : { answer }), output: `${result.stdout}\n${result.failure ?? ""}`, status: result.status };
  }

  alive(pid: number, signal: number): boolean | undefined {
    const { answer } = this.ask(killRequest(pid, signal));
    return answer?.ok === true && "alive" in answer ? answer.alive : undefined;
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  close(): void {
    fs.closeSync(this.logFd);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function tail(text: string, lines = 4): string {
  return firstLines(text.split("\n").filter(Boolean).slice(-lines).join("\n"), lines);
}

/** `observe` is called with the server's pid while it runs (the cgroup rows read its cgroup then). */
export async function checkSpawn(s: CheckSubject, observe?: (pid: number) => void): Promise<CheckRow> {
  const row = { id: "spawn-and-kill", title: `spawn and stop a server as ${s.user.name}` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-check-"));
  const session = new SpawnSession(s, dir);
  try {
    const port = await freePort();
    const spawned = session.ask(spawnRequest([`--port=${port}`, "--ip=127.0.0.1"], hubEnvironment(s.user.name, port)));
    const pid = spawned.answer?.ok === true && "pid" in spawned.answer ? spawned.answer.pid : undefined;
    if (pid === undefined) {
      const log = session.log();
      const error = spawned.answer?.ok === false ? spawned.answer.error : `no JSON answer (exit ${spawned.status ?? "by a signal"})`;
      const diagnosis = diagnoseSudoFailure(`${log}\n${spawned.output}`, failureContext(s));
      return { ...row, status: "fail", detail: `spawn failed: ${error}. Log: ${tail(log) || "(empty)"}`, fix: diagnosis.fix };
    }
    const uid = realUid(pid);
    if (uid !== s.user.uid) {
      session.alive(pid, 9);
      return { ...row, status: "fail", detail: `the mediator answered pid ${pid}, but that process runs as uid ${uid ?? "(gone)"}, not ${s.user.name} (uid ${s.user.uid}). Log: ${tail(session.log())}`, fix: "report this: the mediator must start servers as the user sudo ran it as" };
    }
    if (session.alive(pid, 0) !== true) {
      return { ...row, status: "fail", detail: `the server (pid ${pid}) exited right after the start. Log: ${tail(session.log())}`, fix: "run the single-user executable by hand as the user to see why it exits" };
    }
    observe?.(pid);
    const listening = await waitUntil(() => connects(port), LISTEN_TIMEOUT_MS);
    const started = Date.now();
    session.alive(pid, 15);
    const stopped = await waitUntil(() => session.alive(pid, 0) === false, STOP_TIMEOUT_MS);
    if (!stopped) {
      session.alive(pid, 9);
      return { ...row, status: "fail", detail: `the server (pid ${pid}) was still alive ${STOP_TIMEOUT_MS / 1000} s after SIGTERM; it was killed with SIGKILL`, fix: "the single-user server must exit on SIGTERM; check its wrapper script (exec the server, do not run it as a child)" };
    }
    const portNote = listening ? `listened on 127.0.0.1:${port}` : `did not listen on 127.0.0.1:${port} within ${LISTEN_TIMEOUT_MS / 1000} s (it may need a running hub)`;
    return {
      ...row,
      status: listening ? "pass" : "warn",
      detail: `spawned pid ${pid} as ${s.user.name} (uid ${uid}), ${portNote}, gone ${Date.now() - started} ms after SIGTERM`,
      fix: listening ? "" : `read the server's output: run the check again, or start it as ${s.user.name} by hand`,
    };
  } finally {
    session.close();
  }
}
