/**
 * Issue 11 through real sudo: the server sandbox the admin sets in the root policy (no_new_privs
 * on by default, a private /tmp and read-only paths through unprivileged user + mount namespaces),
 * each tried from inside a spawned server the way a notebook would try to break out; nothing of a
 * server's tree survives it (a kernel in its own session, after an OOM-like SIGKILL or a stop);
 * and a server never outlives its reaper.
 *
 * The single-user server here is a small root-owned script (a launch profile): it runs the shell
 * code of its profile, writes what it found to ~/.tsss-probe and keeps running as the server.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV, killRequest, spawnRequest } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { installSudoers, killUserProcesses, liveProcesses, procState, procStatus, removeSudoers, runMediatorAs, userInfo, userProcesses, waitFor, type MediatorRun, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { HANG_GUARD_MS } from "../../helpers/deadlines.js";

const fx = inject("rootFixture");
const skip = skipWithout("server sandbox and lifecycle (test/integration/security/sandbox.test.ts)", fx.reason);

const PROBE_DIR = "/opt/tsss-sandbox";
const PROBE = `${PROBE_DIR}/probe-server`;
/** Alice's own directory outside /tmp, which the policy makes read-only for her servers. */
const SHARED = "/opt/tsss-sandbox-shared";
/** A file in the host's /tmp that no sandboxed server may see. */
const HOST_MARKER = `/tmp/tsss-sandbox-marker-${process.pid}`;
const SUDOERS = "tsss-sandbox-sudo";
const FINDINGS = ".tsss-probe";

const PROBE_SCRIPT = `#!/bin/sh
# tsss test server: runs the shell code its launch profile passes as $1, writes the findings
# to ~/${FINDINGS}, then stays running as the server.
{ eval "$1"; } > "$HOME/${FINDINGS}.tmp" 2>&1
mv "$HOME/${FINDINGS}.tmp" "$HOME/${FINDINGS}"
exec /bin/sleep 600
`;

const policyGuard = new SitePolicyGuard();

function call(user: TestUser, input: string): Promise<MediatorRun> {
  return runMediatorAs(fx.hub, user.name, fx.mediator, input, ["--logging=info"]);
}

/** Alive and not a zombie (PID 1 here may reap orphans late). */
function running(pid: number): boolean {
  return !["Z", undefined].includes(procState(pid));
}

describe.skipIf(skip)("the server sandbox and the server's lifecycle, through real sudo", () => {
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    bob = userInfo(fx.users[1] as string);
    policyGuard.backup();
    fs.rmSync(PROBE_DIR, { recursive: true, force: true });
    fs.mkdirSync(PROBE_DIR, { mode: 0o755 });
    fs.chmodSync(PROBE_DIR, 0o755);
    fs.writeFileSync(PROBE, PROBE_SCRIPT, { mode: 0o755 });
    fs.chmodSync(PROBE, 0o755);
    fs.rmSync(SHARED, { recursive: true, force: true });
    fs.mkdirSync(SHARED, { mode: 0o755 });
    fs.chownSync(SHARED, alice.uid, alice.gid);
    fs.writeFileSync(HOST_MARKER, "host secret\n", { mode: 0o644 });
    fs.chmodSync(HOST_MARKER, 0o644);
    // What a notebook would like to use: sudo to another account, allowed to alice by sudoers.
    installSudoers(SUDOERS, `${alice.name} ALL=(#${bob.uid}) NOPASSWD: /usr/bin/id\n`);
  });

  afterEach(() => {
    policyGuard.restore();
    killUserProcesses(alice.name);
    fs.rmSync(path.join(alice.home, FINDINGS), { force: true });
    fs.rmSync(path.join(alice.home, ".tsss-kernel.pid"), { force: true });
  });

  afterAll(() => {
    policyGuard.restore();
    removeSudoers(SUDOERS);
    fs.rmSync(PROBE_DIR, { recursive: true, force: true });
    fs.rmSync(SHARED, { recursive: true, force: true });
    fs.rmSync(HOST_MARKER, { force: true });
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  /** Writes a policy whose profile "probe" runs `code` in the probe server. */
  function probePolicy(code: string, extra: Record<string, unknown> = {}): void {
    policyGuard.write({ profiles: { probe: { executable: PROBE, args: [code] } }, ...extra });
  }

  /** Spawns the probe through real sudo and returns its pid and findings. */
  async function probe(code: string, extra: Record<string, unknown> = {}): Promise<{ pid: number; findings: string; run: MediatorRun }> {
    probePolicy(code, extra);
    const run = await call(alice, JSON.stringify({ action: "spawn", args: [], env: BASE_ENV, profile: "probe" }));
    expect(run.answer, run.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const file = path.join(alice.home, FINDINGS);
    await waitFor(() => fs.existsSync(file), HANG_GUARD_MS, "the probe's findings");
    return { pid: run.answer?.pid as number, findings: fs.readFileSync(file, "utf8"), run };
  }

  async function stop(pid: number): Promise<void> {
    const term = await call(alice, killRequest(pid, 15));
    expect(term.answer).toEqual({ ok: true, alive: true });
    await waitFor(() => !running(pid), HANG_GUARD_MS, `server ${pid} to be gone`);
  }

  describe("no_new_privs", () => {
    const SUDO_PROBE = `sudo -n -u '#${"BOB"}' /usr/bin/id -u; echo "sudo rc=$?"; grep NoNewPrivs /proc/self/status`;
    const sudoProbe = () => SUDO_PROBE.replace("BOB", String(bob.uid));

    it("is on without any policy: sudo inside the server fails, in the host's namespaces", async () => {
      const port = await freePort();
      const spawned = await call(alice, spawnRequest(port));
      expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
      const pid = spawned.answer?.pid as number;
      expect(procStatus(pid)?.NoNewPrivs).toBe("1");
      // No sandbox beyond it: the host's user and mount namespaces, and the server works.
      for (const ns of ["user", "mnt"]) expect(fs.readlinkSync(`/proc/${pid}/ns/${ns}`)).toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
      await waitForDemoServer(port);
      expect((await demoStatus(port)).uid).toBe(alice.uid);
      await stop(pid);
      const { findings } = await probe(sudoProbe());
      expect(findings).toContain('sudo: The "no new privileges" flag is set');
      expect(findings).toContain("sudo rc=1");
      expect(findings).toContain("NoNewPrivs:\t1");
      expect(findings).not.toMatch(new RegExp(`^${bob.uid}$`, "m"));
    });

    it("can be turned off by the site, and then sudo inside the server works (the rule is real)", async () => {
      const { findings, run } = await probe(sudoProbe(), { sandbox: { noNewPrivileges: false } });
      expect(findings).toMatch(new RegExp(`^${bob.uid}\nsudo rc=0\nNoNewPrivs:\t0\n$`));
      expect(run.stderr).toContain("server sandbox: none (the site policy turned no_new_privs off)");
    });
  });

  describe("private /tmp and read-only paths", () => {
    const SANDBOX = { privateTmp: true, readOnlyPaths: [SHARED] };

    it("shows the server an empty /tmp of its own: the host's files are not there, and its own never reach the host", async () => {
      const name = `tsss-from-server-${process.pid}`;
      const { pid, findings, run } = await probe(
        [
          "ls -A /tmp | wc -l",
          `cat ${HOST_MARKER} 2>&1 | sed 's/.*: //'`,
          `echo inside > /tmp/${name} && echo wrote`,
          // Every process of alice's outside the sandbox (the reaper, the mediator while it waits
          // out the grace period): their /proc/PID/root would lead to the host's /tmp.
          `for p in $(pgrep -u "$(id -u)"); do cat /proc/$p/root${HOST_MARKER} 2>/dev/null && echo "escaped through $p"; done; echo tried`,
          // Node 24 names its main thread, and so the process, "MainThread"; earlier ones "node".
          `pgrep -u "$(id -u)" -x 'node|MainThread' >/dev/null && echo "the mediator was there"`,
        ].join("; "),
        { sandbox: SANDBOX, graceSeconds: 3 },
      );
      expect(findings).toBe(["0", "No such file or directory", "wrote", "tried", "the mediator was there", ""].join("\n"));
      expect(fs.existsSync(`/tmp/${name}`)).toBe(false);
      expect(fs.readFileSync(`/proc/${pid}/root/tmp/${name}`, "utf8")).toBe("inside\n");
      expect(run.stderr).toContain(`server sandbox: no_new_privs, a private /tmp, read-only ${SHARED}`);
      await stop(pid);
    });

    it("makes writes to a read-only path fail, even with every capability of a nested namespace, while alice's own host view stays writable", async () => {
      const { pid, findings } = await probe(
        [
          `(echo x > ${SHARED}/from-server) 2>&1 | sed 's/.*: //'`,
          `unshare --user --map-root-user --mount sh -c 'mount -o remount,bind,rw ${SHARED} 2>&1 | head -1; umount ${SHARED} 2>&1 | head -1; (echo x > ${SHARED}/from-nested) 2>&1 | sed "s/.*: //"'`,
          `ls /proc/$PPID/root/ >/dev/null 2>&1 || echo "no way through the reaper"`,
          "grep NoNewPrivs /proc/self/status",
        ].join("; "),
        { sandbox: SANDBOX },
      );
      const lines = findings.split("\n");
      expect(lines[0]).toBe("Read-only file system");
      expect(lines[1]).toMatch(/permission denied|not permitted/i);
      expect(lines[2]).toMatch(/not mounted|busy|permission denied|not permitted|Invalid argument/i);
      expect(lines.slice(3)).toEqual(["Read-only file system", "no way through the reaper", "NoNewPrivs:\t1", ""]);
      expect(fs.readdirSync(SHARED)).toEqual([]);
      // Outside the sandbox, alice herself can still write there.
      const host = spawnSync("sudo", ["-u", alice.name, "sh", "-c", `echo x > ${SHARED}/from-host`], { encoding: "utf8" });
      expect(host.status, host.stderr).toBe(0);
      expect(fs.readdirSync(SHARED)).toEqual(["from-host"]);
      fs.rmSync(`${SHARED}/from-host`);
      await stop(pid);
    });

    it("keeps a sandboxed server alive to the hub's own check, ours to the kill action, and stoppable", async () => {
      policyGuard.write({ sandbox: SANDBOX });
      const port = await freePort();
      const spawned = await call(alice, spawnRequest(port));
      expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
      const pid = spawned.answer?.pid as number;
      expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(fs.readlinkSync("/proc/self/ns/mnt"));
      await waitForDemoServer(port);
      expect((await demoStatus(port)).uid).toBe(alice.uid);
      // The hub user's own liveness check (kill(pid, 0) and /proc/PID/stat, no sudo), as the
      // hub client and the Python spawner do it.
      const liveness = `import { processAlive } from ${JSON.stringify(`${fx.packageDir}/dist/index.js`)}; process.stdout.write(JSON.stringify(processAlive(${pid})));`;
      const seen = spawnSync("sudo", ["-u", fx.hub, process.execPath, "--input-type=module", "-e", liveness], { encoding: "utf8" });
      expect(seen.stdout, seen.stderr).toBe("true");
      // The mediator finds its mark in the sandboxed server's environment.
      const poll = await call(alice, killRequest(pid, 0));
      expect(poll.answer).toEqual({ ok: true, alive: true });
      expect(poll.stderr).not.toMatch(/is not a server started by ts-sudospawner/);
      await stop(pid);
      expect((await call(alice, killRequest(pid, 0))).answer).toEqual({ ok: true, alive: false });
      const after = spawnSync("sudo", ["-u", fx.hub, process.execPath, "--input-type=module", "-e", liveness], { encoding: "utf8" });
      expect(after.stdout).toBe("false");
    });

    it("refuses to start, with the path named, when a read-only path does not exist", async () => {
      policyGuard.write({ sandbox: { readOnlyPaths: ["/opt/tsss-sandbox-missing"] } });
      const result = await call(alice, spawnRequest(await freePort()));
      expect(result.status).toBe(1);
      expect(result.answer?.error).toBe(
        "could not make a path read-only in the server sandbox: No such file or directory (errno 2); check the site policy's sandbox.readOnlyPaths (/opt/tsss-sandbox-missing): each must exist",
      );
      expect(result.stderr).toContain("tsss-reaper: cannot make read-only: /opt/tsss-sandbox-missing");
      await waitFor(() => liveProcesses(alice.name).length === 0, HANG_GUARD_MS, "nothing of alice's left");
    });
  });

  describe("nothing of the server's tree outlives it", () => {
    const KERNEL = `setsid /bin/sleep 600 & echo $! > "$HOME/.tsss-kernel.pid"; echo started`;
    const STUBBORN = `setsid /bin/sh -c "trap '' TERM; exec /bin/sleep 600" & echo $! > "$HOME/.tsss-kernel.pid"; echo started`;

    async function kernelOf(): Promise<number> {
      const file = path.join(alice.home, ".tsss-kernel.pid");
      await waitFor(() => fs.existsSync(file), HANG_GUARD_MS, "the kernel's pid");
      const kernel = Number(fs.readFileSync(file, "utf8"));
      await waitFor(() => procStatus(kernel)?.Name === "sleep", HANG_GUARD_MS, "the kernel to exec");
      return kernel;
    }

    it("stops a kernel in its own session when the server is SIGKILLed (an OOM kill), with SIGTERM", async () => {
      // The policy's longest grace period (60 s) is beyond the hang guard: SIGKILL would come too
      // late, so a kernel gone within the guard went on SIGTERM.
      const { pid } = await probe(KERNEL, { sandbox: { leftoverGraceSeconds: 60 } });
      const kernel = await kernelOf();
      expect(Number(procStatus(kernel)?.Uid?.split("\t")[0])).toBe(alice.uid);
      process.kill(pid, "SIGKILL");
      await waitFor(() => !running(kernel), HANG_GUARD_MS, `kernel ${kernel} to be stopped by SIGTERM`);
      await waitFor(() => liveProcesses(alice.name).length === 0, HANG_GUARD_MS, "the reaper to exit");
    });

    it("stops the kernel after a stop through the kill action", async () => {
      const { pid } = await probe(KERNEL);
      const kernel = await kernelOf();
      await stop(pid);
      await waitFor(() => !running(kernel), HANG_GUARD_MS, `kernel ${kernel} to be stopped`);
      await waitFor(() => liveProcesses(alice.name).length === 0, HANG_GUARD_MS, "the reaper to exit");
    });

    it("gives a kernel that ignores SIGTERM the policy's grace period, then SIGKILLs it, sandboxed too", async () => {
      const { pid } = await probe(STUBBORN, { sandbox: { privateTmp: true, leftoverGraceSeconds: 2 } });
      const kernel = await kernelOf();
      const killedAt = Date.now();
      process.kill(pid, "SIGKILL");
      // Gone, and not before the grace period was over (a lower bound, which load cannot break).
      await waitFor(() => !running(kernel), HANG_GUARD_MS, `kernel ${kernel} to be SIGKILLed after the grace period`);
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2000 - 50); // less only by clock rounding
      await waitFor(() => liveProcesses(alice.name).length === 0, HANG_GUARD_MS, "the reaper to exit");
    });

    it("kills the server when its reaper is killed", async () => {
      const { pid } = await probe("echo up", { sandbox: { privateTmp: true } });
      const reaper = Number(procStatus(pid)?.PPid);
      expect(procStatus(reaper)?.Name).toBe("tsss-reaper");
      process.kill(reaper, "SIGKILL");
      await waitFor(() => !running(pid), HANG_GUARD_MS, `server ${pid} to die with its reaper`);
    });
  });
});
