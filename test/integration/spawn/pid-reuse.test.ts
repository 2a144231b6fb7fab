/**
 * Pid-reuse safety through real sudo: the hub may remember a pid that by now belongs to another
 * process of the same user. The mediator signals only a process it started (the mark the reaper
 * set to the server's own pid, or a tsss-reaper parent); anything else answers alive:false and is
 * left alone. Includes a real reuse of a server's pid, forced inside a pid namespace.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV, killRequest, spawnRequest } from "../../helpers/requests.js";
import {
  killUserProcesses,
  procState,
  procStatus,
  runMediatorAs,
  userInfo,
  userProcesses,
  waitFor,
  type MediatorRun,
  type TestUser,
} from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("pid-reuse safety (test/integration/spawn/pid-reuse.test.ts)", fx.reason);

const NOT_OURS = /\[W [^\]]+\] pid \d+ is not a server started by ts-sudospawner \(the pid was reused\); leaving it alone and reporting the server gone/;

function call(user: TestUser, input: string): Promise<MediatorRun> {
  return runMediatorAs(fx.hub, user.name, fx.mediator, input, ["--logging=info"]);
}

/** An ordinary process of `user`, started directly (its pid is the sleep's own), not by the mediator. */
function startUnrelated(user: TestUser, env: Record<string, string> = {}): ChildProcess {
  const child = spawn("sleep", ["300"], { uid: user.uid, gid: user.gid, cwd: user.home, env: { ...BASE_ENV, HOME: user.home, ...env }, stdio: "ignore" });
  if (child.pid === undefined) throw new Error("could not start the unrelated process");
  return child;
}

function environOf(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter(Boolean);
}

/** The process is still there, running or sleeping: not stopped, not a zombie, not gone. */
function untouched(pid: number): boolean {
  const state = procState(pid);
  return state === "S" || state === "R";
}

describe.skipIf(skip)("pid-reuse safety through real sudo", () => {
  let alice: TestUser;
  let eve: TestUser;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    eve = userInfo(fx.outsider);
  });

  afterEach(async () => {
    // Wait for Node to reap them, or they linger as zombies of this process.
    await Promise.all(
      children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGKILL");
          }),
      ),
    );
    for (const user of [...fx.users, fx.outsider]) killUserProcesses(user);
  });

  afterAll(() => {
    for (const user of [...fx.users, fx.outsider]) expect(userProcesses(user)).toEqual([]);
  });

  it.each([0, 15, 9, 19, 1])("leaves an unrelated process of the same user alone (signal %i)", async (signal) => {
    const unrelated = startUnrelated(alice);
    children.push(unrelated);
    const pid = unrelated.pid as number;
    await waitFor(() => procStatus(pid)?.Name === "sleep", 5_000, "the unrelated sleep to exec");
    const result = await call(alice, killRequest(pid, signal));
    expect(result.status, result.stderr).toBe(0);
    expect(result.answer).toEqual({ ok: true, alive: false });
    expect(result.stderr).toMatch(NOT_OURS);
    expect(result.stderr).toContain(`pid ${pid} is not a server`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(untouched(pid)).toBe(true);
    expect(unrelated.exitCode).toBeNull();
    expect(unrelated.signalCode).toBeNull();
  });

  it("leaves alone a process whose mark names another pid (e.g. a child of a server)", async () => {
    // A server's children inherit TS_SUDOSPAWNER_PID=<server pid>; only the server itself matches.
    const first = startUnrelated(alice);
    children.push(first);
    const marked = startUnrelated(alice, { TS_SUDOSPAWNER_PID: String(first.pid) });
    children.push(marked);
    const pid = marked.pid as number;
    await waitFor(() => procStatus(pid)?.Name === "sleep", 5_000, "the marked sleep to exec");
    expect(environOf(pid)).toContain(`TS_SUDOSPAWNER_PID=${first.pid}`);
    const result = await call(alice, killRequest(pid, 15));
    expect(result.answer).toEqual({ ok: true, alive: false });
    expect(result.stderr).toMatch(NOT_OURS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(untouched(pid)).toBe(true);
  });

  it("still stops a server it spawned, whose mark the hub cannot forge", async () => {
    const port = await freePort();
    // A hub-sent mark is replaced by the reaper with the server's real pid.
    const spawned = await call(alice, spawnRequest(port, { TS_SUDOSPAWNER_PID: "4242" }));
    expect(spawned.answer).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = spawned.answer?.pid as number;
    expect(environOf(pid).filter((entry) => entry.startsWith("TS_SUDOSPAWNER_PID="))).toEqual([`TS_SUDOSPAWNER_PID=${pid}`]);
    expect(await call(alice, killRequest(pid, 0))).toMatchObject({ status: 0, answer: { ok: true, alive: true } });
    const term = await call(alice, killRequest(pid, 15));
    expect(term.answer).toEqual({ ok: true, alive: true });
    expect(term.stderr).not.toMatch(NOT_OURS);
    await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to be gone`);
    expect((await call(alice, killRequest(pid, 0))).answer).toEqual({ ok: true, alive: false });
  });

  it("does not signal the server's reaper by its pid", async () => {
    const spawned = await call(alice, spawnRequest(await freePort()));
    const pid = spawned.answer?.pid as number;
    const reaper = Number(procStatus(pid)?.PPid);
    expect(procStatus(reaper)?.Name).toBe("tsss-reaper");
    const result = await call(alice, killRequest(reaper, 15));
    expect(result.answer).toEqual({ ok: true, alive: false });
    expect(result.stderr).toMatch(NOT_OURS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(untouched(reaper)).toBe(true);
    expect(untouched(pid)).toBe(true);
    expect((await call(alice, killRequest(pid, 15))).answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined && procState(reaper) === undefined, 10_000, "server and reaper to be gone");
  });

  it("answers alive:false for a pid of another user, with an error line, and leaves it alone", async () => {
    const other = startUnrelated(eve);
    children.push(other);
    const pid = other.pid as number;
    await waitFor(() => procStatus(pid)?.Name === "sleep", 5_000, "eve's sleep to exec");
    for (const signal of [0, 15]) {
      const result = await call(alice, killRequest(pid, signal));
      expect(result.status).toBe(0);
      expect(result.answer).toEqual({ ok: true, alive: false });
      expect(result.stderr).toContain(
        `permission denied sending signal ${signal} to pid ${pid}: it belongs to another user, so the server is gone and its pid was reused`,
      );
    }
    expect(untouched(pid)).toBe(true);
  });

  it("leaves alone a process that really took over a stopped server's pid", async () => {
    const port = await freePort();
    // In a new pid namespace, /proc/sys/kernel/ns_last_pid lets us hand the stopped server's pid to
    // an unrelated sleep of the same user: exactly the reuse the hub cannot see.
    const script = `
      const { spawn, spawnSync } = require("node:child_process");
      const fs = require("node:fs");
      // A spawned server inherits stderr: only kill calls may wait for it to close.
      const call = (input, withStderr = true) => {
        const r = spawnSync("sudo", ["-u", ${JSON.stringify(fx.hub)}, "sudo", "-n", "-u", ${JSON.stringify(alice.name)}, "-H", ${JSON.stringify(fx.mediator)}, "--logging=info"],
          { input, encoding: "utf8", stdio: ["pipe", "pipe", withStderr ? "pipe" : "ignore"], timeout: 20000, killSignal: "SIGKILL" });
        return { answer: JSON.parse(r.stdout), stderr: r.stderr ?? "", status: r.status };
      };
      const gone = (pid) => !fs.existsSync("/proc/" + pid);
      const out = {};
      const spawned = call(${JSON.stringify(spawnRequest(port))}, false);
      out.spawned = spawned.answer;
      const pid = spawned.answer.pid;
      out.stopped = call(JSON.stringify({ action: "kill", pid, signal: 15 })).answer;
      for (let i = 0; i < 200 && !gone(pid); i++) spawnSync("sleep", ["0.05"]);
      out.serverGone = gone(pid);
      let sleeper;
      for (let attempt = 0; attempt < 20; attempt++) {
        fs.writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
        sleeper = spawn("sleep", ["60"], { uid: ${alice.uid}, gid: ${alice.gid}, stdio: "ignore" });
        if (sleeper.pid === pid) break;
        sleeper.kill("SIGKILL");
        sleeper = undefined;
      }
      out.reused = sleeper !== undefined;
      if (sleeper) {
        for (let i = 0; i < 100 && !fs.readFileSync("/proc/" + pid + "/status", "utf8").includes("Name:\\tsleep"); i++) spawnSync("sleep", ["0.02"]);
        const uidLine = fs.readFileSync("/proc/" + pid + "/status", "utf8").split("\\n").find((l) => l.startsWith("Uid:"));
        out.reusedUid = Number(uidLine.split("\\t")[1]);
        const term = call(JSON.stringify({ action: "kill", pid, signal: 15 }));
        const kill9 = call(JSON.stringify({ action: "kill", pid, signal: 9 }));
        out.term = term.answer;
        out.kill9 = kill9.answer;
        out.warned = term.stderr.includes("pid " + pid + " is not a server started by ts-sudospawner");
        spawnSync("sleep", ["0.2"]);
        const state = fs.readFileSync("/proc/" + pid + "/status", "utf8").split("\\n").find((l) => l.startsWith("State:"));
        out.sleeperState = state.split("\\t")[1].charAt(0);
        sleeper.kill("SIGKILL");
      }
      process.stdout.write(JSON.stringify(out));
    `;
    // --kill-child and SIGKILL: a stuck PID 1 of the namespace ignores SIGTERM from outside.
    const result = spawnSync("unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", process.execPath, "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
      killSignal: "SIGKILL",
    });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out.spawned).toEqual({ ok: true, pid: expect.any(Number) });
    expect(out.stopped).toEqual({ ok: true, alive: true });
    expect(out.serverGone).toBe(true);
    expect(out.reused).toBe(true);
    expect(out.reusedUid).toBe(alice.uid);
    expect(out.term).toEqual({ ok: true, alive: false });
    expect(out.kill9).toEqual({ ok: true, alive: false });
    expect(out.warned).toBe(true);
    expect(out.sleeperState).toBe("S");
  });
});
