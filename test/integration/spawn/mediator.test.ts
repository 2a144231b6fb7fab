/**
 * The mediator as a hub uses it: the packed tarball installed into a root-owned prefix, a real
 * sudoers rule, real users, `sudo -u HUB sudo -n -u USER -H mediator` with JSON on stdin.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { demoEcho, demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { killRequest, spawnRequest } from "../../helpers/requests.js";
import {
  killUserProcesses,
  procState,
  procStatus,
  run,
  runMediatorAs,
  runMediatorDirect,
  userInfo,
  userProcesses,
  waitFor,
  type TestUser,
} from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("mediator integration (test/integration/spawn/mediator.test.ts)", fx.reason);


function sessionId(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name: state ppid pgrp session ...
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[3]);
}

describe.skipIf(skip)("mediator through real sudo", () => {
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    bob = userInfo(fx.users[1] as string);
  });

  afterEach(() => {
    for (const user of fx.users) killUserProcesses(user);
  });

  afterAll(() => {
    for (const user of fx.users) expect(userProcesses(user)).toEqual([]);
  });

  it("answers --help through the hub's rule (the admin's first check)", () => {
    const result = run("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, fx.mediator, "--help"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^ts-sudospawner \d+\.\d+\.\d+ - start and stop JupyterHub single-user servers/);
  });

  it("refuses anything else through the rule (the admin's second check)", () => {
    const result = run("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "echo", "fail"]);
    expect(result.status).not.toBe(0);
    expect(result.stdout).not.toContain("fail");
    expect(result.stderr).toMatch(/a password is required/);
  });

  it("refuses users outside the group and root", () => {
    for (const user of [fx.outsider, "root"]) {
      const result = run("sudo", ["-u", fx.hub, "sudo", "-n", "-u", user, fx.mediator, "--help"]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/a password is required/);
    }
  });

  it.each([0, 1])("spawns, serves HTTP and WebSocket, and stops a server as user #%i", async (index) => {
    const user = index === 0 ? alice : bob;
    const port = await freePort();
    const spawned = await runMediatorAs(
      fx.hub,
      user.name,
      fx.mediator,
      spawnRequest(port, { LD_PRELOAD: "/tmp/evil.so", PYTHONPATH: "/tmp", HOME: "/home/hub", JUPYTERHUB_API_TOKEN: "tok-123" }),
    );
    expect(spawned.status, spawned.stderr).toBe(0);
    expect(spawned.stdout.trim().split("\n")).toHaveLength(1);
    expect(spawned.answer).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = spawned.answer?.pid as number;
    expect(spawned.stderr).toMatch(/dropped environment variable LD_PRELOAD: it makes a loader or interpreter run code/);
    expect(spawned.stderr).toMatch(/dropped environment variable PYTHONPATH/);

    // Runs as the user, in its own session, with stdin on /dev/null and stdout joined to stderr.
    const status = procStatus(pid);
    expect(status?.Uid?.split("\t")).toEqual([String(user.uid), String(user.uid), String(user.uid), String(user.uid)]);
    expect(sessionId(pid)).toBe(pid);
    expect(fs.readlinkSync(`/proc/${pid}/fd/0`)).toBe("/dev/null");
    expect(fs.readlinkSync(`/proc/${pid}/fd/1`)).toBe(fs.readlinkSync(`/proc/${pid}/fd/2`));
    expect(fs.readlinkSync(`/proc/${pid}/cwd`)).toBe(user.home);

    await waitForDemoServer(port);
    const report = await demoStatus(port);
    expect(report.uid).toBe(user.uid);
    expect(report.cwd).toBe(user.home);
    const env = report.env as Record<string, string>;
    expect(env.LD_PRELOAD).toBeUndefined();
    expect(env.PYTHONPATH).toBeUndefined();
    expect(env.JUPYTERHUB_API_TOKEN).toBe("tok-123");
    expect(env.HOME).toBe(user.home);
    expect(env.USER).toBe(user.name);
    expect(env.LOGNAME).toBe(user.name);
    expect(env.SHELL).toBe("/bin/bash");
    expect(env.TS_SUDOSPAWNER_PID).toBe(String(pid));
    expect(Object.keys(env).sort()).toEqual(["HOME", "JUPYTERHUB_API_TOKEN", "LANG", "LOGNAME", "PATH", "SHELL", "TS_SUDOSPAWNER_PID", "USER"]);
    expect(await demoEcho(port, "hello über ws")).toBe("hello über ws");

    // What stays behind to reap the server: the tiny reaper, not a Node process.
    const reaperPid = Number(status?.PPid);
    const reaper = procStatus(reaperPid);
    expect(reaper?.Name).toBe("tsss-reaper");
    expect(Number.parseInt(reaper?.VmRSS ?? "", 10)).toBeLessThanOrEqual(1024);

    const poll = await runMediatorAs(fx.hub, user.name, fx.mediator, killRequest(pid, 0));
    expect(poll.answer).toEqual({ ok: true, alive: true });
    const term = await runMediatorAs(fx.hub, user.name, fx.mediator, killRequest(pid, 15));
    expect(term.answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to be gone (not a zombie)`);
    await waitFor(() => procState(reaperPid) === undefined || procState(reaperPid) === "Z", 5_000, "the reaper to exit");
    const after = await runMediatorAs(fx.hub, user.name, fx.mediator, killRequest(pid, 0));
    expect(after.answer).toEqual({ ok: true, alive: false });
  });

  it("answers EPERM on another user's pid as 'gone' with an error log line", async () => {
    const sleeper = execFileSync("sh", ["-c", "sleep 30 >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
    const pid = Number(sleeper.trim());
    try {
      const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, killRequest(pid, 15));
      expect(result.answer).toEqual({ ok: true, alive: false });
      expect(result.stderr).toMatch(/\[E .*permission denied sending signal 15 to pid \d+/);
      expect(procState(pid)).not.toBeUndefined();
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });

  const badInputs: Array<[string, string, RegExp]> = [
    ["not JSON", "kill 1234", /expected one JSON object on stdin/],
    ["empty input", "", /got nothing/],
    ["an array", "[]", /must be a JSON object, got an array/],
    ["an unknown action", '{"action":"exec","cmd":"/bin/sh"}', /"action" must be one of "spawn", "kill", "profiles", "submit", "submit-test", "query", "cancel", "slurm-options", got a string "exec"/],
    ["pid -1", '{"action":"kill","pid":-1,"signal":9}', /"pid" must be an integer greater than 1/],
    ["pid 0", '{"action":"kill","pid":0,"signal":9}', /"pid" must be an integer greater than 1/],
    ["pid true", '{"action":"kill","pid":true,"signal":9}', /"pid" must be an integer greater than 1/],
    ["signal 99", '{"action":"kill","pid":1234,"signal":99}', /"signal" must be an integer from 0 to 64/],
    ["args not strings", '{"action":"spawn","args":[1],"env":{}}', /"args\[0\]" must be a string/],
    ["env not strings", '{"action":"spawn","args":[],"env":{"A":[]}}', /environment variable A must be a string/],
    ["a NUL byte", '{"action":"spawn","args":["a\\u0000b"],"env":{}}', /contains a NUL byte/],
    ["an unknown key", '{"action":"spawn","args":[],"env":{},"executable":"/bin/sh"}', /unknown key "executable"/],
  ];

  it.each(badInputs)("rejects %s cleanly through sudo", async (_name, input, message) => {
    const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, input);
    expect(result.status).toBe(1);
    expect(result.answer?.ok).toBe(false);
    expect(String(result.answer?.error)).toMatch(message);
    expect(result.stdout.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(String(result.answer?.error));
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(userProcesses(alice.name)).toEqual([]);
  });

  it("rejects a request over 1 MiB", async () => {
    const huge = JSON.stringify({ action: "spawn", args: ["x".repeat(1024 * 1024)], env: {} });
    const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, huge);
    expect(result.status).toBe(1);
    expect(result.answer).toEqual({ ok: false, error: "the request on stdin is larger than 1048576 bytes" });
  });

  it("rejects unknown options with a usage error", async () => {
    const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, "{}", ["--config=/tmp/policy.json"]);
    expect(result.status).toBe(2);
    expect(result.answer?.error).toMatch(/unknown argument "--config=\/tmp\/policy.json"/);
  });

  it("refuses to act as root", async () => {
    const result = await runMediatorDirect(fx.mediator, killRequest(4242, 0));
    expect(result.status).toBe(1);
    expect(result.answer?.error).toMatch(/refusing to act as root/);
  });

  it("reports a server that dies during the grace period as a failure", async () => {
    // Port 1 needs privileges: the demo server fails to listen and exits at once.
    const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequest(1));
    expect(result.status).toBe(1);
    expect(result.answer?.error).toMatch(/the single-user server exited with status \d+ within 1000 ms of starting/);
  });

  it("reports a missing home directory with the fix", async () => {
    const home = alice.home;
    fs.renameSync(home, `${home}.moved`);
    try {
      const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequest(await freePort()));
      expect(result.status).toBe(1);
      expect(result.answer?.error).toBe(`home directory ${home} of ${alice.name} does not exist; create it (as root: \`mkhomedir_helper ${alice.name}\`) or fix the passwd entry`);
    } finally {
      fs.renameSync(`${home}.moved`, home);
    }
  });

  it("refuses a single-user executable the hub user could replace, naming the hub user", async () => {
    const executable = `${fx.binDir}/jupyterhub-singleuser`;
    const hub = userInfo(fx.hub);
    fs.chownSync(executable, hub.uid, hub.gid);
    try {
      const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequest(await freePort()));
      expect(result.status).toBe(1);
      expect(result.answer?.error).toBe(
        `refusing to run the single-user server ${executable}: ${executable}: owned by uid ${hub.uid} (the hub user that called sudo), who must not control what runs. As root, make it and every directory above it owned by root and not group/world-writable (chown root:root, chmod go-w)`,
      );
    } finally {
      fs.chownSync(executable, 0, 0);
    }
    fs.chmodSync(fx.binDir, 0o775);
    try {
      const result = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequest(await freePort()));
      expect(result.answer?.error).toMatch(new RegExp(`${fx.binDir}: writable by group 0 \\(mode 775\\)`));
    } finally {
      fs.chmodSync(fx.binDir, 0o755);
    }
    expect(userProcesses(alice.name)).toEqual([]);
  });

  it("logs JSON lines with --log-format=json, and nothing below the chosen level", async () => {
    const json = await runMediatorAs(fx.hub, alice.name, fx.mediator, killRequest(4242, 0), ["--logging=debug", "--log-format=json"]);
    const records = json.stderr.trim().split("\n").map((line) => JSON.parse(line) as { level: number; msg: string; name: string });
    expect(records.length).toBeGreaterThan(0);
    expect(records[0]).toMatchObject({ level: 20, name: "ts-sudospawner", msg: expect.stringMatching(/acting as tsss-alice/) });
    const quiet = await runMediatorAs(fx.hub, alice.name, fx.mediator, killRequest(4242, 0), ["--logging=ERROR"]);
    expect(quiet.answer).toEqual({ ok: true, alive: false });
    expect(quiet.stderr).toBe("");
  });

  it("leaves no zombie under a PID 1 that never reaps orphans", async () => {
    const port = await freePort();
    // PID 1 of a new pid namespace is a Node script: libuv only reaps children it spawned itself,
    // so any orphan that exits stays a zombie unless something else reaps it.
    const script = `
      const { spawnSync } = require("node:child_process");
      const call = (input) => JSON.parse(spawnSync("sudo", ["-u", ${JSON.stringify(fx.hub)}, "sudo", "-n", "-u", ${JSON.stringify(alice.name)}, "-H", ${JSON.stringify(fx.mediator)}], { input, encoding: "utf8", stdio: ["pipe", "pipe", "ignore"] }).stdout);
      const spawned = call(${JSON.stringify(spawnRequest(port))});
      const killed = call(JSON.stringify({ action: "kill", pid: spawned.pid, signal: 15 }));
      let state = "alive";
      for (let i = 0; i < 100; i++) {
        try { process.kill(spawned.pid, 0); } catch { state = "gone"; break; }
        spawnSync("sleep", ["0.1"]);
      }
      let zombie = false;
      try { zombie = require("node:fs").readFileSync("/proc/" + spawned.pid + "/stat", "utf8").includes(") Z "); } catch {}
      process.stdout.write(JSON.stringify({ pid1: process.pid, spawned, killed, state, zombie }));
    `;
    const result = run("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, "-e", script]);
    expect(result.status, result.stderr).toBe(0);
    const outcome = JSON.parse(result.stdout) as { pid1: number; spawned: { ok: boolean }; killed: unknown; state: string; zombie: boolean };
    expect(outcome.pid1).toBe(1);
    expect(outcome.spawned.ok).toBe(true);
    expect(outcome.killed).toEqual({ ok: true, alive: true });
    expect(outcome.zombie).toBe(false);
    expect(outcome.state).toBe("gone");
  });
});
