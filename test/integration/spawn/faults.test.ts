/**
 * Faults a real deployment meets, through real sudo: a missing or unusable home directory, the
 * single-user executable deleted (and the package reinstalled) while a server runs, a server that
 * crashes during the grace period, a hub that closes stdout before the answer, and /proc hidden.
 * Each gets a clear answer and loses nothing: no server left unmanaged, no process left behind.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { installDemoSingleUser, installTarball, type Installation } from "../../helpers/install.js";
import { demoStatus } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { killRequest, spawnRequest } from "../../helpers/requests.js";
import {
  ensureUser,
  exitedAndClosed,
  installSudoers,
  killUserProcesses,
  procState,
  procStatus,
  removeSudoers,
  removeUser,
  runMediatorAs,
  userInfo,
  userProcesses,
  waitFor,
  type MediatorRun,
  type TestUser,
} from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("faults (test/integration/spawn/faults.test.ts)", fx.reason);

/** A user of the spawnable group without a home directory. */
const HOMELESS = "tsss-nohome";
/** A second, separately installed copy of the package, whose server executable gets deleted. */
const SECOND_PREFIX = "/opt/tsss-faults";
const SECOND_SUDOERS = "tsss-faults";
const NO_PROC_ERROR =
  "cannot tell whether the pid is a server this mediator started: /proc is not readable. Mount /proc (without hidepid hiding a user's own processes) and retry";

function call(user: string, input: string, mediator = fx.mediator): Promise<MediatorRun> {
  return runMediatorAs(fx.hub, user, mediator, input, ["--logging=info"]);
}

function expectRefusal(result: MediatorRun, error: string): void {
  expect(result.status, result.stderr).toBe(1);
  expect(result.stdout, result.stderr).toBe(`${JSON.stringify({ ok: false, error })}\n`);
  expect(result.stderr).toContain(`] ${error}`);
}

async function stop(user: string, pid: number, mediator = fx.mediator): Promise<void> {
  const term = await call(user, killRequest(pid, 15), mediator);
  expect(term.answer).toEqual({ ok: true, alive: true });
  await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to be gone`);
  expect((await call(user, killRequest(pid, 0), mediator)).answer).toEqual({ ok: true, alive: false });
}

async function serves(port: number): Promise<boolean> {
  try {
    return (await demoStatus(port)).uid > 0;
  } catch {
    return false;
  }
}

/** Pids of the user's running servers: children of a tsss-reaper (the mediator is a node process too). */
function serverPids(user: string): number[] {
  return userProcesses(user).filter((pid) => {
    const status = procStatus(pid);
    // Node 24 names its main thread (and so the process's comm) "MainThread"; earlier ones "node".
    return ["node", "MainThread"].includes(status?.Name ?? "") && procStatus(Number(status?.PPid))?.Name === "tsss-reaper";
  });
}

/** The reaper, orphaned once the mediator exits, is reaped by PID 1 (here within about a second). */
function noProcessesOf(user: string): Promise<void> {
  return waitFor(() => userProcesses(user).length === 0, 10_000, `no process of ${user} (left: ${userProcesses(user).map((pid) => `${pid} ${procState(pid) ?? "gone"}`).join(", ")})`);
}

describe.skipIf(skip)("faults through real sudo", () => {
  let alice: TestUser;
  let homeless: TestUser;
  let second: Installation | undefined;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    homeless = ensureUser(HOMELESS, { groups: [fx.group], home: false });
    fs.rmSync(homeless.home, { recursive: true, force: true });
  });

  afterEach(() => {
    for (const user of [...fx.users, HOMELESS]) killUserProcesses(user);
  });

  afterAll(() => {
    removeSudoers(SECOND_SUDOERS);
    fs.rmSync(SECOND_PREFIX, { recursive: true, force: true });
    fs.rmSync(homeless.home, { recursive: true, force: true });
    removeUser(HOMELESS);
    for (const user of fx.users) expect(userProcesses(user)).toEqual([]);
  });

  describe("the home directory", () => {
    it("refuses a spawn for a user without a home, naming the fix; kill still works", async () => {
      expect(fs.existsSync(homeless.home)).toBe(false);
      const result = await call(HOMELESS, spawnRequest(await freePort()));
      expectRefusal(
        result,
        `home directory ${homeless.home} of ${HOMELESS} does not exist; create it (as root: \`mkhomedir_helper ${HOMELESS}\`) or fix the passwd entry`,
      );
      expect(userProcesses(HOMELESS)).toEqual([]);
      expect((await call(HOMELESS, killRequest(4_000_000, 0))).answer).toEqual({ ok: true, alive: false });
    });

    it("reports a home the user cannot enter with the errno of the failed chdir", async () => {
      fs.mkdirSync(homeless.home, { mode: 0o700 });
      fs.chmodSync(homeless.home, 0o700); // root's, not the user's
      try {
        const result = await call(HOMELESS, spawnRequest(await freePort()));
        expectRefusal(
          result,
          `could not change into the home directory: Permission denied (errno 13) (home directory ${homeless.home}); the user must be able to enter it: check its owner and mode`,
        );
        await noProcessesOf(HOMELESS);
      } finally {
        fs.rmSync(homeless.home, { recursive: true, force: true });
      }
    });

    it("keeps a running server stoppable when its home disappears", async () => {
      const port = await freePort();
      const spawned = await call(alice.name, spawnRequest(port));
      const pid = spawned.answer?.pid as number;
      expect(spawned.answer).toEqual({ ok: true, pid: expect.any(Number) });
      fs.renameSync(alice.home, `${alice.home}.tsss-moved`);
      try {
        expect((await call(alice.name, killRequest(pid, 0))).answer).toEqual({ ok: true, alive: true });
        await stop(alice.name, pid);
      } finally {
        fs.renameSync(`${alice.home}.tsss-moved`, alice.home);
      }
    });
  });

  describe("the single-user executable deleted mid-run", () => {
    beforeAll(() => {
      fs.rmSync(SECOND_PREFIX, { recursive: true, force: true });
      second = installTarball(fx.tarball, SECOND_PREFIX);
      installDemoSingleUser(second);
      installSudoers(
        SECOND_SUDOERS,
        [
          "# ts-sudospawner faults test: a second install (removed after the suite)",
          `Defaults:${fx.hub} !requiretty`,
          `${fx.hub} ALL=(%${fx.group}) NOPASSWD: ${second.mediator}`,
          "",
        ].join("\n"),
      );
    }, 300_000);

    it("keeps the running server running and stoppable; the next spawn fails clearly; a reinstall changes nothing for it", async () => {
      const install = second as Installation;
      const executable = path.join(install.binDir, "jupyterhub-singleuser");
      const port = await freePort();
      const spawned = await call(alice.name, spawnRequest(port), install.mediator);
      expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
      const pid = spawned.answer?.pid as number;
      await waitFor(() => serves(port), 15_000, "the server to serve");

      fs.rmSync(executable);
      expect(await serves(port)).toBe(true);
      expect((await call(alice.name, killRequest(pid, 0), install.mediator)).answer).toEqual({ ok: true, alive: true });
      const next = await call(alice.name, spawnRequest(await freePort()), install.mediator);
      expectRefusal(
        next,
        `no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in ${install.binDir}; as root, link the server of the venv JupyterHub runs from there by its full path, e.g. \`ln -s /opt/jupyterhub/bin/jupyterhub-singleuser ${executable}\` (\`ts-sudospawner sudoers\` prints the exact command)`,
      );
      expect(serverPids(alice.name)).toEqual([pid]);

      // An admin reinstalls the package (new mediator, new reaper file) under the running server.
      installTarball(fx.tarball, SECOND_PREFIX);
      expect(await serves(port)).toBe(true);
      await stop(alice.name, pid, install.mediator);
      await noProcessesOf(alice.name);
    }, 300_000);
  });

  describe("a server crashing during the grace period", () => {
    it("reports an exit (port taken), with the server's own complaint in the hub's log", async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      try {
        const result = await call(alice.name, spawnRequest(port));
        expect(result.status).toBe(1);
        expect(result.answer).toEqual({
          ok: false,
          error: "the single-user server exited with status 1 within 1000 ms of starting; its output is in the hub's log just above",
        });
        expect(result.stderr).toContain(`Error: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
        await noProcessesOf(alice.name);
      } finally {
        blocker.close();
      }
    });

    it("reports a server killed by a signal during the grace period", async () => {
      const pending = call(alice.name, spawnRequest(await freePort()));
      await waitFor(() => serverPids(alice.name).length === 1, 5_000, "the server to start");
      const [pid] = serverPids(alice.name);
      process.kill(pid as number, "SIGKILL");
      const result = await pending;
      expect(result.status).toBe(1);
      expect(result.answer).toEqual({
        ok: false,
        error: "the single-user server was killed by signal 9 within 1000 ms of starting; its output is in the hub's log just above",
      });
      await noProcessesOf(alice.name);
    });

    it("reaps a server that crashes after the answer: the hub's poll says gone, no zombie", async () => {
      const spawned = await call(alice.name, spawnRequest(await freePort()));
      const pid = spawned.answer?.pid as number;
      const reaper = Number(procStatus(pid)?.PPid);
      process.kill(pid, "SIGKILL");
      await waitFor(() => procState(pid) === undefined, 5_000, "the crashed server to be reaped");
      expect((await call(alice.name, killRequest(pid, 0))).answer).toEqual({ ok: true, alive: false });
      await waitFor(() => procState(reaper) === undefined, 10_000, "the reaper to exit and be reaped");
      await noProcessesOf(alice.name);
    });
  });

  describe("the hub closing stdout before the answer", () => {
    /**
     * Run the mediator as a hub whose stdout reader is already gone; resolves with stderr and the
     * exit status once stderr has closed: everything the mediator wrote has been read, and the
     * last holder of the hub's stderr (a server's reaper) has exited too.
     */
    function withClosedStdout(input: string): Promise<{ status: number | null; stderr: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
        child.stdout.destroy();
        let stderr = "";
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
        child.on("error", reject);
        void exitedAndClosed(child, child.stderr).then((status) => resolve({ status, stderr }));
        child.stdin.end(input);
      });
    }

    it("stops the server whose pid it could not report, leaving nothing behind", async () => {
      const result = await withClosedStdout(spawnRequest(await freePort()));
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/\[E [^\]]+\] the hub closed stdout before the answer could be written/);
      const stopped = /\[E [^\]]+\] stopped server pid (\d+) because its pid could not be reported/.exec(result.stderr);
      expect(stopped, result.stderr).not.toBeNull();
      const pid = Number(stopped?.[1]);
      await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to be gone`);
      await noProcessesOf(alice.name);
    });

    it("answers a kill with exit status 1 and nothing else to undo", async () => {
      const result = await withClosedStdout(killRequest(4_000_000, 0));
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/the hub closed stdout before the answer could be written/);
      expect(userProcesses(alice.name)).toEqual([]);
    });
  });

  describe("/proc unreadable", () => {
    it("refuses to signal blindly, and the server stays stoppable once /proc is back", async () => {
      const port = await freePort();
      const spawned = await call(alice.name, spawnRequest(port));
      const pid = spawned.answer?.pid as number;
      expect(spawned.answer).toEqual({ ok: true, pid: expect.any(Number) });
      // A private mount namespace where /proc is an empty tmpfs; the hub's call runs inside it.
      const hidden = spawnSync(
        "unshare",
        [
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount -t tmpfs tsss-no-proc /proc && exec sudo -u "$1" sudo -n -u "$2" -H "$3" --logging=info',
          "sh",
          fx.hub,
          alice.name,
          fx.mediator,
        ],
        { input: killRequest(pid, 15), encoding: "utf8", timeout: 30_000, killSignal: "SIGKILL" },
      );
      expect(hidden.status, hidden.stderr).toBe(1);
      expect(hidden.stdout).toBe(`${JSON.stringify({ ok: false, error: NO_PROC_ERROR })}\n`);
      expect(hidden.stderr).toContain(`] ${NO_PROC_ERROR}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(procState(pid)).toMatch(/^[SR]$/);
      expect(await serves(port)).toBe(true);
      await stop(alice.name, pid);
    });
  });
});
