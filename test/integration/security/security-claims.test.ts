/**
 * Lines of docs/security.md's "A compromised hub, line by line" that had no test of their own
 * through real sudo: the mediator's non-dumpable wait, a sandbox the hub cannot name, the 30 s
 * stdin deadline, and system accounts and root behind a too-wide sudoers rule. Each case is the
 * attempt itself, made as the hub user through sudo; nothing may start.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { expectRefusal, mediatorCalls, spawnRequestWith } from "../../helpers/mediator-calls.js";
import { freePort } from "../../helpers/ports.js";
import { killRequest } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { ensureUser, exitedAndClosed, installSudoers, killUserProcesses, liveProcesses, procState, removeSudoers, removeUser, runMediatorAs, userInfo, userProcesses, waitFor, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("security claims (test/integration/security/security-claims.test.ts)", fx.reason);

function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Pids of every process on the host whose command line carries `word` (a server's `--port=N`). */
function processesWith(word: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && cmdline(pid).includes(word));
}

async function answersOn(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/api/status`);
    return true;
  } catch {
    return false;
  }
}

/** `sudo -u USER cat FILE`: its exit status and what it printed on stderr. */
function catAs(user: string, file: string): { status: number | null; stderr: string } {
  const result = spawnSync("sudo", ["-u", user, "cat", file], { encoding: "utf8", timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

/** `sudo -u USER strace -p PID` for a second (timeout's status 124 once it attached), as a debugger of the user's would. */
function straceAs(user: string, pid: number): { status: number | null; stderr: string } {
  const result = spawnSync("sudo", ["-u", user, "timeout", "-s", "INT", "1", "strace", "-e", "trace=none", "-o", "/dev/null", "-p", String(pid)], { encoding: "utf8", timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

const hasStrace = spawnSync("strace", ["-V"], { stdio: "ignore" }).status === 0;
// Under CI a missing strace fails the run (.ci/run installs it); locally the ptrace half is skipped loudly.
if (fx.available) skipWithout("the ptrace half of security-claims.test.ts's non-dumpable test", hasStrace ? undefined : "strace is not installed (apt-get install strace)");

describe.skipIf(skip)("docs/security.md: what a compromised hub cannot do, through real sudo", () => {
  let alice: TestUser;
  const policy = new SitePolicyGuard();
  const { call, stop } = mediatorCalls(fx);

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    policy.backup();
  });

  afterEach(() => {
    killUserProcesses(alice.name);
    policy.restore();
  });

  afterAll(() => {
    policy.restore();
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  it("cannot ptrace the mediator or open its /proc files as the user while it waits out the grace period (it is non-dumpable)", async () => {
    // A grace period long enough to look at the mediator while it waits, holding the hub's stdout.
    policy.write({ graceSeconds: 10 });
    const port = await freePort();
    const spawning = call(alice, spawnRequestWith(port));
    const isMediator = (pid: number) => cmdline(pid).includes(fx.mediator);
    let mediator: number | undefined;
    await waitFor(() => (mediator = userProcesses(alice.name).find(isMediator)) !== undefined, 30_000, `the mediator running as ${alice.name}`);
    // Once the server serves, the mediator has started it and waits out the grace period.
    await waitForDemoServer(port, 30_000);
    const server = (await demoStatus(port)).pid;
    const pid = mediator as number;
    expect(procState(pid), "the mediator still waits").not.toBe(undefined);
    expect(fs.statSync(`/proc/${pid}`).uid).toBe(alice.uid);

    // What the user's server could try, as the user: open its /proc files, attach to it.
    const environ = catAs(alice.name, `/proc/${pid}/environ`);
    expect(environ.stderr).toContain(`/proc/${pid}/environ: Permission denied`);
    expect(environ.status).toBe(1);
    const fds = spawnSync("sudo", ["-u", alice.name, "ls", `/proc/${pid}/fd`], { encoding: "utf8", timeout: 30_000 });
    expect(fds.stderr).toContain("Permission denied");
    expect(fds.status).not.toBe(0);
    if (hasStrace) {
      const traced = straceAs(alice.name, pid);
      expect(traced.stderr).toContain("Operation not permitted");
      expect(traced.status).toBe(1);
    }
    // Why: a non-dumpable process's /proc files belong to root.
    for (const file of ["environ", "fd"]) {
      expect(fs.statSync(`/proc/${pid}/${file}`).uid, `/proc/${pid}/${file}'s owner`).toBe(0);
    }
    // All of it happened before the mediator answered: it is the same process, still waiting.
    expect(isMediator(pid) && procState(pid) !== undefined).toBe(true);

    // The controls: the same user opens the same file of its own server, and attaches to it.
    expect(fs.statSync(`/proc/${server}/environ`).uid).toBe(alice.uid);
    expect(catAs(alice.name, `/proc/${server}/environ`)).toEqual({ status: 0, stderr: "" });
    if (hasStrace) {
      const control = straceAs(alice.name, server);
      expect(control.stderr).toContain(`Process ${server} attached`);
      expect(control.status, control.stderr).toBe(124);
    }

    const result = await spawning;
    expect(result.answer, result.stderr).toEqual({ ok: true, pid: server });
    expect(result.stderr).not.toContain("could not make the mediator non-dumpable");
    await stop(alice, server);
  }, 90_000);

  it("cannot name a sandbox: a spawn request with sandbox keys is refused, and nothing starts", async () => {
    for (const [key, value] of [
      ["sandbox", { noNewPrivileges: false, privateTmp: false, readOnlyPaths: [] }],
      ["noNewPrivileges", false],
      ["privateTmp", false],
      ["readOnlyPaths", []],
      ["allowNewPrivs", true],
    ] as const) {
      const port = await freePort();
      const request = { ...(JSON.parse(spawnRequestWith(port)) as Record<string, unknown>), [key]: value };
      const result = await call(alice, JSON.stringify(request));
      expectRefusal(result, `unknown key ${JSON.stringify(key)} in spawn request`);
      expect(liveProcesses(alice.name)).toEqual([]);
      expect(await answersOn(port)).toBe(false);
    }
  });

  it("cannot keep a mediator alive by keeping its stdin open without a signal: the 30 s deadline ends it, and nothing starts", async () => {
    const port = await freePort();
    const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = exitedAndClosed(child);
    try {
      // An incomplete spawn request, and stdin kept open: no end of input, no signal.
      child.stdin.write(`{"action":"spawn","args":["--port=${port}","--ip=127.0.0.1"],`);
      await waitFor(() => liveProcesses(alice.name).length > 0, 30_000, `the mediator to run as ${alice.name}`);
      // Only a guard against a hang: the deadline is 30 s.
      const code = await Promise.race([exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 90_000))]);
      expect(code, stderr).not.toBe("hung");
      expect(code).not.toBe(0);
      expect(JSON.parse(stdout)).toEqual({ ok: false, error: "no complete request on stdin after 30 s; the hub must write one JSON object and close stdin" });
      expect(stderr).toContain("no complete request on stdin after 30 s");
      await waitFor(() => liveProcesses(alice.name).length === 0, 15_000, `no process of ${alice.name}`);
      expect(await answersOn(port)).toBe(false);
    } finally {
      child.stdin.destroy();
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 150_000);

  describe("behind a too-wide sudoers rule (hub ALL=(ALL) NOPASSWD: mediator)", () => {
    const WIDE_HUB = "tsss-wide-hub";
    const SYSTEM = "tsss-sysacct";
    const SUDOERS = "tsss-wide-hub";
    let system: TestUser;
    const victims: ReturnType<typeof spawn>[] = [];

    beforeAll(() => {
      removeUser(SYSTEM); // leftovers of an interrupted run
      ensureUser(WIDE_HUB);
      // A system account (uid below UID_MIN), with a home, so that only the account check stands between it and a server.
      spawnSync("useradd", ["--system", "--create-home", "--shell", "/bin/sh", "--user-group", SYSTEM], { stdio: "inherit" });
      system = userInfo(SYSTEM);
      installSudoers(SUDOERS, [`Defaults:${WIDE_HUB} !requiretty`, `${WIDE_HUB} ALL=(ALL) NOPASSWD: ${fx.mediator}`, ""].join("\n"));
    });

    const ports: number[] = [];

    afterAll(() => {
      for (const victim of victims) victim.kill("SIGKILL");
      // Only where the test failed: a server started as root would otherwise outlive it.
      for (const port of ports) for (const pid of processesWith(`--port=${port}`)) process.kill(pid, "SIGKILL");
      removeSudoers(SUDOERS);
      removeUser(SYSTEM);
      removeUser(WIDE_HUB);
      expect(spawnSync("getent", ["passwd", SYSTEM]).status).not.toBe(0);
    });

    /** A process of `uid` for a kill to aim at. */
    function victimOf(uid: number, gid: number): number {
      const victim = spawn("/bin/sleep", ["300"], { uid, gid, stdio: "ignore" });
      victims.push(victim);
      return victim.pid as number;
    }

    it("refuses a system account below UID_MIN and root, for spawn and kill alike, and starts or signals nothing", async () => {
      expect(system.uid).toBeLessThan(1000);
      const targets = [
        { name: SYSTEM, uid: system.uid, gid: system.gid, error: `refusing to act as system account ${SYSTEM} (uid ${system.uid} is below UID_MIN 1000). Restrict the sudoers Runas list to the users who may run notebook servers` },
        { name: "root", uid: 0, gid: 0, error: "refusing to act as root: single-user servers must run as ordinary users. Restrict the sudoers Runas list (run `ts-sudospawner sudoers --hub-user HUB --group GROUP`)" },
      ];
      for (const target of targets) {
        const victim = victimOf(target.uid, target.gid);
        await waitFor(() => cmdline(victim)[0] === "/bin/sleep", 10_000, `the victim of ${target.name} to run`);
        if (target.name === SYSTEM) expect(userProcesses(SYSTEM)).toEqual([victim]);

        const port = await freePort();
        ports.push(port);
        const spawned = await runMediatorAs(WIDE_HUB, target.name, fx.mediator, spawnRequestWith(port), ["--logging=info"]);
        expectRefusal(spawned, target.error);
        expect(processesWith(`--port=${port}`), `a server on port ${port}`).toEqual([]);
        expect(await answersOn(port)).toBe(false);

        const killed = await runMediatorAs(WIDE_HUB, target.name, fx.mediator, killRequest(victim, 9), ["--logging=info"]);
        expectRefusal(killed, target.error);
        expect(procState(victim), `${target.name}'s process ${victim}`).toBe("S");
        if (target.name === SYSTEM) expect(userProcesses(SYSTEM)).toEqual([victim]);
      }
    });
  });
});
