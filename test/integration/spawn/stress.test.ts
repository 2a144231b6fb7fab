/**
 * Load through real sudo, as a hub produces it: `sudo -u HUB sudo -n -u USER -H mediator` for 50
 * concurrent spawns across several users, then 50 concurrent stops (kill 15, then poll until gone),
 * five rounds. Every spawn is answered ok, every server serves and is gone at the end, no zombie,
 * no orphan (no process of those users, no tsss-reaper), and no pid is signalled twice: each
 * server reports exactly one SIGTERM in its own output, which the hub's stderr pipe carries until
 * the server and its reaper have exited.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV } from "../../helpers/requests.js";
import {
  ensureUser,
  killUserProcesses,
  procState,
  procStatus,
  removeUser,
  userInfo,
  userProcesses,
  type TestUser,
} from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { HANG_GUARD_MS } from "../../helpers/deadlines.js";

const fx = inject("rootFixture");
const skip = skipWithout("stress through real sudo (test/integration/spawn/stress.test.ts)", fx.reason);

const ROUNDS = 5;
const CONCURRENT = 50;
/** Extra spawnable users (in the fixture's group, so the fixture's sudoers rule covers them). */
const EXTRA_USERS = ["tsss-st1", "tsss-st2", "tsss-st3"];
const SIGTERM_LINE = "demo-singleuser: SIGTERM, shutting down";

interface Answer {
  status: number | null;
  stdout: string;
  answer: Record<string, unknown> | undefined;
}

interface HubCall {
  /** The mediator has exited and its stdout is closed: the hub has its answer. */
  answered: Promise<Answer>;
  /** Everything on the hub's stderr pipe so far (mediator log lines and, after a spawn, the server's output). */
  stderr(): string;
  /** The stderr pipe is closed: every process holding it (mediator, reaper, server) is gone. */
  closed: Promise<void>;
}

/** One mediator call the way a hub makes it, keeping stderr until every writer has closed it. */
function hubCall(user: string, input: string): HubCall {
  const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", user, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const closed = new Promise<void>((resolve) => child.stderr.on("close", () => resolve()));
  const answered = new Promise<Answer>((resolve, reject) => {
    let exited = false;
    let status: number | null = null;
    let ended = false;
    const done = (): void => {
      if (!exited || !ended) return;
      let answer: Record<string, unknown> | undefined;
      try {
        answer = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        answer = undefined;
      }
      resolve({ status, stdout, answer });
    };
    child.stdout.on("end", () => {
      ended = true;
      done();
    });
    child.on("exit", (code) => {
      exited = true;
      status = code;
      done();
    });
    child.on("error", reject);
  });
  child.stdin.on("error", () => undefined);
  child.stdin.end(input);
  return { answered, stderr: () => stderr, closed };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (procState(pid) !== undefined) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still ${procState(pid)} ${timeoutMs} ms after SIGTERM`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function serverPid(port: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/api/status`);
      return ((await response.json()) as { pid: number }).pid;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Every pid whose process is named tsss-reaper and belongs to one of `uids`. */
function reapersOf(uids: readonly number[]): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      const status = procStatus(pid);
      return status?.Name === "tsss-reaper" && uids.includes(Number(status.Uid?.split("\t")[0]));
    });
}

interface Server {
  user: TestUser;
  port: number;
  pid: number;
  call: HubCall;
}

describe.skipIf(skip)("stress through real sudo", () => {
  let users: TestUser[] = [];

  beforeAll(() => {
    for (const name of EXTRA_USERS) ensureUser(name, { groups: [fx.group] });
    users = [...fx.users, ...EXTRA_USERS].map(userInfo);
    for (const user of users) killUserProcesses(user.name);
  });

  afterAll(() => {
    for (const user of users) killUserProcesses(user.name);
    const left = users.flatMap((user) => userProcesses(user.name));
    for (const name of EXTRA_USERS) removeUser(name);
    expect(left).toEqual([]);
  });

  it(`${ROUNDS} rounds of ${CONCURRENT} concurrent spawns and ${CONCURRENT} concurrent stops`, async () => {
    const uids = users.map((user) => user.uid);
    const timings: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const roundStart = Date.now();
      const ports = await distinctFreePorts(CONCURRENT);

      // 50 spawns at once, spread over the users.
      const calls = ports.map((port, i) => {
        const user = users[i % users.length] as TestUser;
        const request = JSON.stringify({ action: "spawn", args: [`--port=${port}`, "--ip=127.0.0.1"], env: BASE_ENV });
        return { user, port, call: hubCall(user.name, request) };
      });
      const answers = await withTimeout(Promise.all(calls.map((c) => c.call.answered)), 120_000, `round ${round}: spawn answers`);
      const spawnMs = Date.now() - roundStart;
      answers.forEach((answer, i) => {
        expect(answer.answer, `round ${round}, spawn ${i}: ${calls[i]?.call.stderr()}`).toEqual({ ok: true, pid: expect.any(Number) });
        expect(answer.status).toBe(0);
        expect(answer.stdout.split("\n")).toEqual([expect.any(String), ""]);
      });
      const servers: Server[] = calls.map((c, i) => ({ ...c, pid: answers[i]?.answer?.pid as number }));
      expect(new Set(servers.map((s) => s.pid)).size, `round ${round}: distinct pids`).toBe(CONCURRENT);

      // Each runs as its user under its own tiny reaper, and serves.
      for (const server of servers) {
        const status = procStatus(server.pid);
        expect(status?.Uid?.split("\t")[0], `round ${round}: owner of ${server.pid}`).toBe(String(server.user.uid));
        const reaper = procStatus(Number(status?.PPid));
        expect(reaper?.Name).toBe("tsss-reaper");
        expect(Number.parseInt(reaper?.VmRSS ?? "", 10)).toBeLessThanOrEqual(1024);
      }
      for (const user of users) {
        const own = servers.filter((s) => s.user === user).length;
        expect(userProcesses(user.name).length, `round ${round}: processes of ${user.name}`).toBe(2 * own);
      }
      const served = await withTimeout(Promise.all(servers.map((s) => serverPid(s.port))), 60_000, `round ${round}: HTTP`);
      expect(served).toEqual(servers.map((s) => s.pid));

      // 50 stops at once, one kill request per pid, then poll until gone (locally, then as the hub
      // does). Which signals arrived is what the servers themselves report below.
      const stopStart = Date.now();
      const stops = servers.map((server) => hubCall(server.user.name, JSON.stringify({ action: "kill", pid: server.pid, signal: 15 })).answered);
      const stopped = await withTimeout(Promise.all(stops), 120_000, `round ${round}: stop answers`);
      stopped.forEach((answer, i) => expect(answer.answer, `round ${round}, stop ${i}`).toEqual({ ok: true, alive: true }));
      await withTimeout(Promise.all(servers.map((s) => waitGone(s.pid, 30_000))), 60_000, `round ${round}: servers gone`);
      const polls = await withTimeout(
        Promise.all(servers.map((s) => hubCall(s.user.name, JSON.stringify({ action: "kill", pid: s.pid, signal: 0 })).answered)),
        120_000,
        `round ${round}: polls`,
      );
      polls.forEach((answer, i) => expect(answer.answer, `round ${round}, poll ${i}`).toEqual({ ok: true, alive: false }));
      // The hub's stderr pipes close: the reapers have exited too.
      await withTimeout(Promise.all(servers.map((s) => s.call.closed)), 30_000, `round ${round}: reapers to exit`);
      const stopMs = Date.now() - stopStart;

      // Each server saw exactly one SIGTERM (the demo server logs every one it gets, and its output
      // reaches the hub through the spawn call's stderr pipe until it exits): none, or another
      // signal instead, fails here; a second one for the same server too, unless it came so close
      // behind the first that the kernel merged them (then no process could tell them apart).
      for (const server of servers) {
        const output = server.call.stderr();
        expect(output).toContain(`demo-singleuser: listening on http://127.0.0.1:${server.port} as uid ${server.user.uid}`);
        expect(output.split("\n").filter((line) => line === SIGTERM_LINE), `round ${round}: SIGTERMs seen by ${server.pid}`).toHaveLength(1);
      }
      // No zombie, no orphan, no reaper left. The reapers, orphaned when their mediators exited,
      // are reaped by PID 1 (here about a second after they exit): wait for it (a hang guard).
      const deadline = Date.now() + HANG_GUARD_MS;
      while (Date.now() < deadline && users.some((user) => userProcesses(user.name).length > 0)) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const user of users) {
        const left = userProcesses(user.name).map((pid) => `${pid} ${procState(pid) ?? "gone"} (parent ${procStatus(pid)?.PPid ?? "?"})`);
        expect(left, `round ${round}: processes of ${user.name} left`).toEqual([]);
      }
      expect(reapersOf(uids)).toEqual([]);
      timings.push(`round ${round}: ${CONCURRENT} spawns answered in ${spawnMs} ms, stopped and polled in ${stopMs} ms, total ${Date.now() - roundStart} ms`);
      process.stderr.write(`stress: ${timings[timings.length - 1]}\n`);
    }
    expect(timings).toHaveLength(ROUNDS);
  }, 900_000);
});
