/**
 * Issue 11, as an attacker holding the hub account would try it through real sudo: environment
 * variables and server arguments that run code as the user, a stdin kept open, `sudo -P`, and log
 * injection. Each case is the attack itself; it must now fail, with nothing started.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV, killRequest, spawnRequest } from "../../helpers/requests.js";
import { spawnRequest as spawnRequestOf } from "../../../src/protocol/index.js";
import { collectMediator, exitedAndClosed, killUserProcesses, procStatus, liveProcesses, mediatorWaitingOnStdin, procState, run, runMediatorAs, userInfo, userProcesses, waitFor, type TestUser } from "../../helpers/system.js";
import { HANG_GUARD_MS } from "../../helpers/deadlines.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("hardening (test/integration/security/hardening.test.ts)", fx.reason);

/** A directory of the hub user's, as a compromised hub would prepare one. */
const HUB_DIR = `/tmp/tsss-hardening-${process.pid}`;
const MARKER = `${HUB_DIR}/ran-as-user`;

async function stop(user: TestUser, pid: number): Promise<void> {
  const term = await runMediatorAs(fx.hub, user.name, fx.mediator, killRequest(pid, 15));
  expect(term.answer).toEqual({ ok: true, alive: true });
  await waitFor(() => procState(pid) === undefined, HANG_GUARD_MS, `server ${pid} to be gone`);
}

describe.skipIf(skip)("what a compromised hub can no longer do", () => {
  let alice: TestUser;
  let hub: TestUser;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    hub = userInfo(fx.hub);
    fs.rmSync(HUB_DIR, { recursive: true, force: true });
    fs.mkdirSync(HUB_DIR, { mode: 0o777 });
    fs.chmodSync(HUB_DIR, 0o777);
    fs.chownSync(HUB_DIR, hub.uid, hub.gid);
    // A `node` of the hub's: whoever finds it first on PATH runs it as alice.
    const fakeNode = path.join(HUB_DIR, "node");
    fs.writeFileSync(fakeNode, `#!/bin/sh\ntouch ${MARKER}\nexec /usr/bin/node "$@"\n`, { mode: 0o755 });
    fs.chownSync(fakeNode, hub.uid, hub.gid);
  });

  afterEach(() => killUserProcesses(alice.name));

  afterAll(() => {
    fs.rmSync(HUB_DIR, { recursive: true, force: true });
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  it("cannot choose the server's PATH, or any variable that makes it load code or files", async () => {
    const port = await freePort();
    const hostile = {
      PATH: `${HUB_DIR}:/usr/bin:/bin`,
      PYTHONPYCACHEPREFIX: HUB_DIR,
      OPENSSL_CONF: `${HUB_DIR}/openssl.cnf`,
      OPENSSL_MODULES: HUB_DIR,
      JUPYTER_CONFIG_DIR: HUB_DIR,
      JUPYTER_CONFIG_PATH: HUB_DIR,
      JUPYTER_PATH: HUB_DIR,
      JUPYTER_DATA_DIR: HUB_DIR,
      JUPYTER_RUNTIME_DIR: HUB_DIR,
      IPYTHONDIR: HUB_DIR,
      SSLKEYLOGFILE: `${HUB_DIR}/keys`,
      TMPDIR: HUB_DIR,
      SOMETHING_ELSE: "x",
      JUPYTERHUB_API_TOKEN: "tok",
    };
    const run = await runMediatorAs(fx.hub, alice.name, fx.mediator, JSON.stringify({ action: "spawn", args: [`--port=${port}`, "--ip=127.0.0.1"], env: { ...BASE_ENV, ...hostile } }));
    expect(run.answer, run.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = run.answer?.pid as number;
    await waitForDemoServer(port);
    const env = (await demoStatus(port)).env;
    // The demo server is `#!/usr/bin/env node`: the hub's `node` never ran.
    expect(fs.existsSync(MARKER)).toBe(false);
    expect(env.PATH).toBe(`${fx.binDir}:/usr/local/bin:/usr/bin:/bin`);
    for (const name of Object.keys(hostile).filter((n) => n !== "PATH" && n !== "JUPYTERHUB_API_TOKEN")) {
      expect(env[name], name).toBeUndefined();
      expect(run.stderr).toContain(`dropped environment variable ${name}: `);
    }
    expect(env.JUPYTERHUB_API_TOKEN).toBe("tok");
    await stop(alice, pid);
  });

  it.each([
    `--config=${HUB_DIR}/x.py`,
    `--ServerApp.config_file=${HUB_DIR}/x.py`,
    `--ServerApp.runtime_dir=${HUB_DIR}`,
    `--KernelManager.kernel_cmd=['${HUB_DIR}/x']`,
    `--ServerApp.extra_template_paths=['${HUB_DIR}']`,
  ])("cannot pass %s to the server", async (arg) => {
    const run = await runMediatorAs(fx.hub, alice.name, fx.mediator, JSON.stringify({ action: "spawn", args: ["--port=1", arg], env: BASE_ENV }));
    expect(run.status).toBe(1);
    expect(String(run.answer?.error)).toMatch(/^server argument ".*" refused: not in the vocabulary of what a hub sends; an admin may allow it with "serverArgs.allow"/);
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  it("cannot keep a mediator alive by keeping its stdin open: SIGTERM ends it at once", async () => {
    const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stdin.write('{"action":"kill",');
    // The mediator (as alice) has its signal handlers once it waits on stdin.
    await waitFor(() => liveProcesses(alice.name).some(mediatorWaitingOnStdin), HANG_GUARD_MS, "the mediator to wait on stdin as alice");
    const exited = exitedAndClosed(child);
    child.kill("SIGTERM"); // the outer sudo relays it, as sudo relays the hub's
    // The half request keeps stdin open for good: only SIGTERM can end the mediator. How fast it
    // does is not measured here (a hang guard only).
    const code = await Promise.race([exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), HANG_GUARD_MS))]);
    child.stdin.destroy();
    expect(code).not.toBe("hung");
    expect(JSON.parse(stdout)).toEqual({ ok: false, error: "interrupted by SIGTERM" });
    await waitFor(() => liveProcesses(alice.name).length === 0, HANG_GUARD_MS, "no process of alice");
  });

  it("cannot start a server with its own groups through `sudo -P`", async () => {
    const port = await freePort();
    const preserved = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-P", "-u", alice.name, fx.mediator], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    preserved.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    preserved.stdin.end(spawnRequest(port));
    const code = await exitedAndClosed(preserved);
    expect(code).toBe(1);
    expect(JSON.parse(stdout).error).toMatch(new RegExp(`^refusing to start a server with groups [0-9, ]*${hub.gid}[0-9, ]*, which are not ${alice.name}'s: sudo kept the caller's groups \\(sudo -P`));
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  it("cannot take the user's own access to what the server makes with its umask (0777): the owner bits go, and a TLS directory an earlier start left at mode 000 is repaired", async () => {
    const home = path.join(alice.home, ".ts-sudospawner");
    fs.rmSync(home, { recursive: true, force: true });
    fs.mkdirSync(home);
    fs.chownSync(home, alice.uid, alice.gid);
    fs.chmodSync(home, 0o000);
    const pem = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
    const request = spawnRequestOf([`--port=${await freePort()}`, "--ip=127.0.0.1"], { ...BASE_ENV, JUPYTERHUB_SERVICE_PREFIX: `/user/${alice.name}/` }, { tls: { key: pem("PRIVATE KEY"), cert: pem("CERTIFICATE"), ca: pem("CERTIFICATE") } });
    // sudo ORs the hub's umask into its own: 0777 reaches the mediator.
    const child = spawn("sudo", ["-u", fx.hub, "sh", "-c", 'umask 0777 && exec sudo -n -u "$1" -H "$2" --logging=info', "sh", alice.name, fx.mediator], { stdio: ["pipe", "pipe", "pipe"] });
    const started = await collectMediator(child, JSON.stringify(request));
    try {
      expect(started.answer, started.stderr).toEqual({ ok: true, pid: expect.any(Number) });
      const pid = started.answer?.pid as number;
      expect(procStatus(pid)?.Umask).toBe("0077");
      expect(fs.statSync(home).mode & 0o777).toBe(0o700);
      await stop(alice, pid);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("a user cannot write to root's terminal through `ps`: a process carrying the marks and an escape sequence as its server name is listed escaped", async () => {
    const name = "x\u001b]0;PWNED\u0007\u001b[2J\u202eFAKE ROW";
    // What any user can do: give a process of its own the two marks (the pid mark is its own pid).
    const planted = spawn("sudo", ["-u", alice.name, "sh", "-c", 'exec env TS_SUDOSPAWNER_PID=$$ TS_SUDOSPAWNER_SERVER="$1" sleep 60', "sh", name], { stdio: "ignore", detached: true });
    try {
      await waitFor(() => userProcesses(alice.name).some((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith("sleep\0")), HANG_GUARD_MS, "the planted process");
      const listed = run(fx.mediator, ["ps"]);
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout.split("\n").find((line) => line.startsWith(`${alice.name} `))).toMatch(/ x\\e\]0;PWNED\\x07\\e\[2J\\u202eFAKE ROW /);
      expect(listed.stdout).not.toMatch(/[\u001b\u0007\u202e]/);
    } finally {
      killUserProcesses(alice.name);
      await exitedAndClosed(planted, null);
    }
  });

  it.each(["sudoers", "check", "ps", "linger-rule", "user-cap"])("cannot run the admin command %s through its rule", (command) => {
    const result = run("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, fx.mediator, command, "--hub-user", fx.hub, "--group", fx.group]);
    const refusal = `admin command "${command}" refused: it was started through sudo by uid ${userInfo(fx.hub).uid} as a non-root user, which is how the hub's rule runs the mediator`;
    expect(result.status).toBe(2);
    // One JSON answer on stdout, as for any refusal the hub gets; the same words on stderr.
    expect(result.stdout.endsWith("\n") && JSON.parse(result.stdout)).toEqual({ ok: false, error: expect.stringContaining(refusal) });
    expect(result.stderr).toContain(refusal);
  });

  it("cannot forge or flood the hub's log through variable names", async () => {
    const forged = { "X\r[E 2026 ts-sudospawner] forged": "1", "Y\u001b[2J": "1", "Z\u2028W\u0085V": "1" };
    // As many names as fit in the 1 MiB request: once 8 MB of warnings.
    const many = Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`DENIED_${i}`, ""]));
    const port = await freePort();
    const spawned = await runMediatorAs(fx.hub, alice.name, fx.mediator, JSON.stringify({ action: "spawn", args: [`--port=${port}`, "--ip=127.0.0.1"], env: { ...BASE_ENV, ...forged, ...many } }));
    expect(spawned.answer, spawned.stderr.slice(0, 2000)).toEqual({ ok: true, pid: expect.any(Number) });
    const mediatorLog = spawned.stderr.split("\n").filter((line) => line.includes(" ts-sudospawner] ")).join("\n");
    // eslint-disable-next-line no-control-regex
    expect(mediatorLog).not.toMatch(/[\r\u001b\u2028\u0085]/);
    expect(mediatorLog).toContain("dropped environment variable X\\r[E 2026 ts-sudospawner] forged: ");
    expect(mediatorLog).toContain("dropped environment variable Y\\e[2J: ");
    expect(mediatorLog).toContain("dropped environment variable Z\\u2028W\\x85V: ");
    expect(mediatorLog).toMatch(/dropped \d+ more environment variables \(not listed\)/);
    expect(Buffer.byteLength(mediatorLog)).toBeLessThan(16 * 1024);
    await stop(alice, spawned.answer?.pid as number);
  });
});
