/**
 * The root-owned site policy, /etc/ts-sudospawner/config.json, as a hub meets it through real
 * sudo: launch profiles, the environment policy, resource limits (seen in /proc/PID/limits), umask,
 * nice, the grace period, the minimum uid, the per-user server log, and the refusals of a policy
 * the hub could have edited or that does not validate.
 *
 * The policy path is fixed, so this suite writes the real file. It removes it (and the directory)
 * after every test and at the end, and refuses to touch a /etc/ts-sudospawner it did not create.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { expectRefusal, mediatorCalls, spawnRequestWith } from "../../helpers/mediator-calls.js";
import { freePort } from "../../helpers/ports.js";
import { killRequest } from "../../helpers/requests.js";
import { installPolicy, POLICY_DIR, POLICY_FILE, POLICY_MARKER as MARKER } from "../../helpers/site-policy.js";
import {
  exitedAndClosed,
  killUserProcesses,
  procState,
  procStatus,
  userInfo,
  userProcesses,
  waitFor,
  type MediatorRun,
  type TestUser,
} from "../../helpers/system.js";
import { HANG_GUARD_MS } from "../../helpers/deadlines.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("site policy (test/integration/security/policy.test.ts)", fx.reason);

/** Root-owned directory with the executables the profiles name. */
const EXTRA = "/opt/tsss-policy";
const LAB = `${EXTRA}/lab-server`;
const VOILA = `${EXTRA}/voila-server`;
const HUB_OWNED = `${EXTRA}/hub-owned-server`;
const SERVER_LOG_NAME = ".tsss-server.log";
const TOP_KEYS = "singleuser, profiles, env, limits, umask, nice, graceSeconds, minUid, serverLog, path, serverArgs, sandbox, adopt, slurm, cgroup";

function removePolicy(): void {
  fs.rmSync(POLICY_DIR, { recursive: true, force: true });
}

const { call, spawnOk, stop, serverReport } = mediatorCalls(fx);
const spawnRequest = spawnRequestWith;

/** A mediator call whose stderr is read on after the answer (the server inherits it) until `until` matches. */
function runWatchingStderr(user: TestUser, input: string, until: RegExp): Promise<MediatorRun> {
  const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", user.name, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let exited = false;
    const done = () => {
      if (!exited || !until.test(stderr)) return;
      clearTimeout(guard);
      child.stderr.destroy();
      resolve({ status: child.exitCode, stdout, stderr, answer: JSON.parse(stdout) as MediatorRun["answer"] });
    };
    const guard = setTimeout(() => reject(new Error(`no ${until} on stderr: ${stderr}`)), HANG_GUARD_MS);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      done();
    });
    child.on("error", reject);
    // Exited with the answer read: stdout has closed too.
    void exitedAndClosed(child).then(() => {
      exited = true;
      done();
    });
    child.stdin.end(input);
  });
}

/** The JUPYTERHUB_SSL_* paths in a server's environment. */
function tlsFilesOf(pid: number): { key?: string; cert?: string; ca?: string } {
  const environ = Object.fromEntries(
    fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
  return { key: environ.JUPYTERHUB_SSL_KEYFILE, cert: environ.JUPYTERHUB_SSL_CERTFILE, ca: environ.JUPYTERHUB_SSL_CLIENT_CA };
}

/** argv of a process, without argv[0] ("node" for the shebang'd demo server). */
function commandLine(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(1, -1);
}

/** One row of /proc/PID/limits as [soft, hard]. */
function limit(pid: number, name: string): [string, string] {
  const text = fs.readFileSync(`/proc/${pid}/limits`, "utf8");
  const line = text.split("\n").find((l) => l.startsWith(name));
  if (!line) throw new Error(`no "${name}" in /proc/${pid}/limits:\n${text}`);
  const [soft, hard] = line.slice(26).trim().split(/\s+/);
  return [soft as string, hard as string];
}

/** The nice value: field 19 of /proc/PID/stat. */
function niceOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[16]);
}

function installServerCopy(target: string, owner: number): void {
  fs.copyFileSync(path.join(fx.packageDir, "dist/demo-singleuser.cjs"), target);
  fs.chownSync(target, owner, owner === 0 ? 0 : owner);
  fs.chmodSync(target, 0o755);
}

describe.skipIf(skip)("the root-owned site policy", () => {
  let alice: TestUser;
  let bob: TestUser;
  let hub: TestUser;

  beforeAll(() => {
    if (fs.existsSync(POLICY_DIR)) {
      if (!fs.existsSync(MARKER)) {
        throw new Error(`${POLICY_DIR} exists and was not created by this suite; move it away before running the tests`);
      }
      removePolicy(); // a leftover of an interrupted run
    }
    alice = userInfo(fx.users[0] as string);
    bob = userInfo(fx.users[1] as string);
    hub = userInfo(fx.hub);
    fs.rmSync(EXTRA, { recursive: true, force: true });
    fs.mkdirSync(EXTRA, { mode: 0o755 });
    fs.chmodSync(EXTRA, 0o755);
    installServerCopy(LAB, 0);
    installServerCopy(VOILA, 0);
    installServerCopy(HUB_OWNED, hub.uid);
  });

  afterEach(() => {
    removePolicy();
    for (const user of fx.users) killUserProcesses(user);
    for (const user of [alice, bob]) fs.rmSync(path.join(user.home, SERVER_LOG_NAME), { force: true });
  });

  afterAll(() => {
    removePolicy();
    fs.rmSync(EXTRA, { recursive: true, force: true });
    expect(fs.existsSync(POLICY_DIR)).toBe(false);
    for (const user of fx.users) expect(userProcesses(user)).toEqual([]);
  });

  describe("launch profiles", () => {
    const profiles = {
      lab: { executable: LAB, args: ["--profile=lab"] },
      voila: { executable: VOILA, args: ["--profile=voila"] },
    };

    it("runs the profile the hub names, its arguments before the hub's", async () => {
      installPolicy({ profiles });
      const { pid, port } = await spawnOk(alice, { profile: "voila" });
      expect(commandLine(pid)).toEqual([VOILA, "--profile=voila", `--port=${port}`, "--ip=127.0.0.1"]);
      const report = await serverReport(port);
      expect(report.uid).toBe(alice.uid);
      expect(report.argv).toEqual(["--profile=voila", `--port=${port}`, "--ip=127.0.0.1"]);
      await stop(alice, pid);
    });

    it("runs the policy's singleuser executable when the hub names no profile", async () => {
      installPolicy({ singleuser: LAB, profiles });
      const { pid, port } = await spawnOk(alice);
      expect(commandLine(pid)).toEqual([LAB, `--port=${port}`, "--ip=127.0.0.1"]);
      await stop(alice, pid);
    });

    it("refuses an unknown profile, naming the defined ones, and starts nothing", async () => {
      installPolicy({ profiles });
      const result = await call(alice, spawnRequest(await freePort(), { profile: "conda" }));
      expectRefusal(result, 'unknown launch profile "conda"; the site policy defines lab, voila');
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses a profile when there is no policy file", async () => {
      const result = await call(alice, spawnRequest(await freePort(), { profile: "lab" }));
      expectRefusal(result, 'launch profile "lab" requested, but the site policy defines no profiles');
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses a profile executable the hub user owns", async () => {
      installPolicy({ profiles: { evil: { executable: HUB_OWNED } } });
      const result = await call(alice, spawnRequest(await freePort(), { profile: "evil" }));
      expectRefusal(
        result,
        `refusing to run the single-user server ${HUB_OWNED}: ${HUB_OWNED}: owned by uid ${hub.uid} (the hub user that called sudo), who must not control what runs. As root, make it and every directory above it owned by root and not group/world-writable (chown root:root, chmod go-w)`,
      );
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses a profile executable reached through a hub-owned symlink in a sticky directory (/tmp)", async () => {
      // The link points at a trusted root-owned server; only its owner is wrong: the hub could
      // re-point it at anything between the audit and the exec.
      const link = `/tmp/tsss-policy-link-${process.pid}`;
      fs.rmSync(link, { force: true });
      fs.symlinkSync(LAB, link);
      fs.lchownSync(link, hub.uid, hub.gid);
      try {
        installPolicy({ profiles: { linked: { executable: link } } });
        const result = await call(alice, spawnRequest(await freePort(), { profile: "linked" }));
        expectRefusal(result, `refusing to run the single-user server ${link}: ${link}: a symbolic link owned by uid ${hub.uid} (the hub user that called sudo), who must not choose where it leads. As root, make it and every directory above it owned by root and not group/world-writable (chown root:root, chmod go-w)`);
        expect(userProcesses(alice.name)).toEqual([]);
        // The same link owned by root is fine.
        fs.lchownSync(link, 0, 0);
        const { pid } = await spawnOk(alice, { profile: "linked" });
        await stop(alice, pid);
      } finally {
        fs.rmSync(link, { force: true });
      }
    });

    it("refuses a profile executable that does not exist", async () => {
      installPolicy({ profiles: { gone: { executable: `${EXTRA}/missing-server` } } });
      const result = await call(alice, spawnRequest(await freePort(), { profile: "gone" }));
      expectRefusal(result, `the single-user server ${EXTRA}/missing-server does not exist (or a link on the way to it is broken)`);
    });
  });

  describe("environment policy", () => {
    it("drops the names and patterns the site denies, even when its allow-list admits them", async () => {
      installPolicy({ env: { deny: ["TSSS_SECRET"], denyPatterns: ["AWS_*"], allow: ["TSSS_*", "AWS_*", "KEEP_ME"] } });
      const { pid, port, run } = await spawnOk(alice, {
        env: { TSSS_SECRET: "s", AWS_ACCESS_KEY_ID: "k", AWS_REGION: "r", JUPYTERHUB_API_TOKEN: "t", LD_PRELOAD: "/tmp/x.so", KEEP_ME: "1" },
      });
      for (const name of ["TSSS_SECRET", "AWS_ACCESS_KEY_ID", "AWS_REGION"]) {
        expect(run.stderr).toContain(`dropped environment variable ${name}: denied by the site policy`);
      }
      expect(run.stderr).toContain("dropped environment variable LD_PRELOAD: it makes a loader or interpreter run code, or points the server at files or programs; no policy admits it");
      const { env } = await serverReport(port);
      expect(Object.keys(env).sort()).toEqual(["HOME", "JUPYTERHUB_API_TOKEN", "KEEP_ME", "LANG", "LOGNAME", "PATH", "SHELL", "TS_SUDOSPAWNER_PID", "USER"]);
      await stop(alice, pid);
    });

    it("passes JupyterHub's variables and the locale by default, the site's allow-list on top, and the deny rules still apply", async () => {
      const hubEnv = { JUPYTERHUB_API_TOKEN: "t", JUPYTERHUB_USER: "alice", OTHER: "x", SITE_FLAG: "1", LD_PRELOAD: "/tmp/x.so" };
      const before = await spawnOk(alice, { env: hubEnv });
      expect(before.run.stderr).toContain(`dropped environment variable SITE_FLAG: not in the vocabulary of what JupyterHub sends; to pass it, add "SITE_FLAG" to "env.allow" in ${POLICY_FILE}`);
      await stop(alice, before.pid);
      installPolicy({ env: { allow: ["SITE_*", "LD_*"] } });
      const { pid, port, run } = await spawnOk(alice, { env: hubEnv });
      expect(run.stderr).toContain(`dropped environment variable OTHER: not in the vocabulary of what JupyterHub sends; to pass it, add "OTHER" to "env.allow" in ${POLICY_FILE}`);
      // The hub's PATH is replaced by the policy's without a warning (JupyterHub sends one with every spawn).
      expect(run.stderr).not.toContain("environment variable PATH");
      expect(run.stderr).toContain("dropped environment variable LD_PRELOAD: it makes a loader or interpreter run code, or points the server at files or programs; no policy admits it");
      const { env } = await serverReport(port);
      // The identity variables come from passwd, PATH from the policy and the mark from the reaper, whatever the list says.
      expect(Object.keys(env).sort()).toEqual(["HOME", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER", "LANG", "LOGNAME", "PATH", "SHELL", "SITE_FLAG", "TS_SUDOSPAWNER_PID", "USER"]);
      expect(env.JUPYTERHUB_USER).toBe("alice");
      await stop(alice, pid);
    });

    it("sets the server's PATH from the policy, after the executable's own directory", async () => {
      installPolicy({ path: "/usr/bin:/bin" });
      const { pid, port } = await spawnOk(alice, { env: { PATH: "/home/hub/bin:/usr/bin" } });
      expect((await serverReport(port)).env.PATH).toBe(`${fx.binDir}:/usr/bin:/bin`);
      await stop(alice, pid);
    });
  });

  describe("resource limits, umask and nice", () => {
    it("applies the site's limits, umask and nice to the server, not to its reaper", async () => {
      installPolicy({ limits: { nofile: 512, nproc: 4000, as: 8 * 2 ** 30, cpu: 3600, core: 0 }, umask: "0027", nice: 7 });
      const { pid, port } = await spawnOk(alice);
      expect(limit(pid, "Max open files")).toEqual(["512", "512"]);
      expect(limit(pid, "Max processes")).toEqual(["4000", "4000"]);
      expect(limit(pid, "Max address space")).toEqual([String(8 * 2 ** 30), String(8 * 2 ** 30)]);
      expect(limit(pid, "Max cpu time")).toEqual(["3600", "3600"]);
      expect(limit(pid, "Max core file size")).toEqual(["0", "0"]);
      expect(procStatus(pid)?.Umask).toBe("0027");
      expect(niceOf(pid)).toBe(7);
      // Applied in the child before exec: the reaper keeps the mediator's settings.
      const reaper = Number(procStatus(pid)?.PPid);
      expect(procStatus(reaper)?.Name).toBe("tsss-reaper");
      expect(niceOf(reaper)).toBe(0);
      expect(limit(reaper, "Max open files")).not.toEqual(["512", "512"]);
      // And the server still works under them.
      expect((await serverReport(port)).uid).toBe(alice.uid);
      await stop(alice, pid);
    });

    it("lets the hub lower a limit", async () => {
      installPolicy({ limits: { nofile: 512 } });
      const { pid } = await spawnOk(alice, { limits: { nofile: 256, cpu: 120 } });
      expect(limit(pid, "Max open files")).toEqual(["256", "256"]);
      expect(limit(pid, "Max cpu time")).toEqual(["120", "120"]);
      await stop(alice, pid);
    });

    it("never lets the hub raise a limit above the site's", async () => {
      installPolicy({ limits: { nofile: 512 } });
      const { pid } = await spawnOk(alice, { limits: { nofile: 4096 } });
      expect(limit(pid, "Max open files")).toEqual(["512", "512"]);
      await stop(alice, pid);
    });

    it("refuses a hub's limit above what the user may have at all", async () => {
      // No site limit: the hub's request is applied as is, and the kernel refuses to raise it.
      const result = await call(alice, spawnRequest(await freePort(), { limits: { nofile: 100_000_000 } }));
      expectRefusal(result, "could not apply a resource limit: Operation not permitted (errno 1)");
      expect(userProcesses(alice.name)).toEqual([]);
    });
  });

  // The real placement runs on the VM tier (test/vm/systemd-host.test.ts): this host has no
  // systemd manager for its users, which is exactly the case where a capped server must not start.
  describe("cgroup section, on a host where the user's systemd manager cannot be had", () => {
    it("refuses the spawn naming the fix, and starts nothing: never an uncapped server", async () => {
      installPolicy({ cgroup: { default: { MemoryMax: "1G" }, max: { MemoryMax: "2G" } } });
      expect(fs.existsSync(`/run/user/${alice.uid}/systemd/private`), "this test needs a host where the user's manager is not running").toBe(false);
      const result = await call(alice, spawnRequest(await freePort()));
      expectRefusal(
        result,
        new RegExp(
          `^the site policy caps each server in a cgroup of its user's systemd manager, but ${alice.name}'s manager is not running \\(/run/user/${alice.uid}/systemd/private is missing\\) and .*; nothing was started\\. Fix: as root, once: install polkitd, and where a site rule closes self-linger, \`ts-sudospawner linger-rule --group GROUP --install\`.*, or for this user: \`loginctl enable-linger ${alice.name}\`$`,
        ),
      );
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("a request's cgroup caps without the section change nothing, and the mediator says so", async () => {
      const { pid, run } = await spawnOk(alice, { cgroup: { MemoryMax: 268435456 } });
      expect(run.stderr).toContain('the hub asked for cgroup caps, but the site policy has no "cgroup" section: no cgroup cap applies to this server');
      await stop(alice, pid);
    });
  });

  describe("grace period", () => {
    it("waits the policy's grace period before answering", async () => {
      installPolicy({ graceSeconds: 2.5 });
      const started = Date.now();
      const { pid } = await spawnOk(alice);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
      await stop(alice, pid);
    });

    it("reports an exit within the policy's grace period with its length", async () => {
      installPolicy({ graceSeconds: 2 });
      // Port 1 needs privileges: the demo server exits with status 1 at once.
      const result = await call(alice, spawnRequest(1));
      expectRefusal(result, "the single-user server exited with status 1 within 2000 ms of starting; its output is in the hub's log just above", true);
      // The server's own complaint reached the hub.
      expect(result.stderr).toContain("Error: listen EACCES: permission denied 127.0.0.1:1");
      await waitFor(() => userProcesses(alice.name).length === 0, 5_000, "no process of alice");
    });

    it("answers at once with a grace period of 0, even for a server about to fail", async () => {
      installPolicy({ graceSeconds: 0 });
      const result = await call(alice, spawnRequest(1));
      expect(result.answer).toEqual({ ok: true, pid: expect.any(Number) });
      const pid = result.answer?.pid as number;
      await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to exit`);
      const after = await call(alice, killRequest(pid, 0));
      expect(after.answer).toEqual({ ok: true, alive: false });
      await waitFor(() => userProcesses(alice.name).length === 0, 5_000, "no process of alice");
    });
  });


  describe("a request's graceSeconds (docs/protocol.md): shorter only", () => {
    it("a request asking 0 is answered at the exec, even for a server about to fail; the exit line follows on stderr", async () => {
      // No policy: the default 1 s grace would have caught this exit and refused the start.
      const run = await runWatchingStderr(alice, spawnRequest(1, { graceSeconds: 0 }), /server pid \d+ exited with status 1/);
      expect(run.answer).toEqual({ ok: true, pid: expect.any(Number) });
      const pid = run.answer?.pid as number;
      // The reaper's exit line carries the status; the server's own complaint came before it.
      expect(run.stderr).toContain(`tsss-reaper] server pid ${pid} exited with status 1`);
      expect(run.stderr).toContain("Error: listen EACCES: permission denied 127.0.0.1:1");
      await waitFor(() => userProcesses(alice.name).length === 0, 5_000, "no process of alice");
    });

    it("a request cannot lengthen the policy's grace: asking 60 s under graceSeconds 0.5 waits 0.5 s", async () => {
      installPolicy({ graceSeconds: 0.5 });
      const result = await call(alice, spawnRequest(1, { graceSeconds: 60 }));
      expectRefusal(result, "the single-user server exited with status 1 within 500 ms of starting; its output is in the hub's log just above", true);
      await waitFor(() => userProcesses(alice.name).length === 0, 5_000, "no process of alice");
    });

    it("an exec failure still comes back at once with its errno when no grace is asked", async () => {
      // A root-owned script whose interpreter is missing passes the audit and fails at execve.
      const broken = `${EXTRA}/broken-interpreter`;
      // Not /nonexistent: that is the home of Debian's nobody, and pam_mkhomedir may have made it.
      fs.writeFileSync(broken, `#!${EXTRA}/missing-interpreter\n`, { mode: 0o755 });
      installPolicy({ profiles: { broken: { description: "broken", executable: broken } } });
      const result = await call(alice, spawnRequest(await freePort(), { graceSeconds: 0, profile: "broken" }));
      expectRefusal(result, `could not execute the single-user server: No such file or directory (errno 2) (${broken}); check that it exists and is executable by this user`);
      expect(userProcesses(alice.name)).toEqual([]);
    });
  });

  describe("for the hub's options form and JupyterHub's traits", () => {
    it("answers the profiles with their descriptions, in policy order, and none without a policy", async () => {
      expect((await call(alice, JSON.stringify({ action: "profiles" }))).answer).toEqual({ ok: true, profiles: [] });
      installPolicy({
        profiles: { voila: { description: "Voilà dashboards", executable: VOILA }, lab: { description: "JupyterLab <b>", executable: LAB } },
      });
      const run = await call(alice, JSON.stringify({ action: "profiles" }));
      expect(run.status).toBe(0);
      expect(run.answer).toEqual({ ok: true, profiles: [{ name: "voila", description: "Voilà dashboards" }, { name: "lab", description: "JupyterLab <b>" }] });
      expectRefusal(await call(alice, JSON.stringify({ action: "profiles", profile: "lab" })), 'unknown key "profile" in profiles request');
    });

    it("applies a data limit (JupyterHub's mem_limit) as RLIMIT_DATA, never above the site's", async () => {
      installPolicy({ limits: { data: 3_000_000_000 } });
      const lowered = await spawnOk(alice, { limits: { data: 2_000_000_000 } });
      expect(limit(lowered.pid, "Max data size")).toEqual(["2000000000", "2000000000"]);
      await stop(alice, lowered.pid);
      const capped = await spawnOk(alice, { limits: { data: 9_000_000_000 } });
      expect(limit(capped.pid, "Max data size")).toEqual(["3000000000", "3000000000"]);
      await stop(alice, capped.pid);
    });

    it("writes internal_ssl files 0600 into the user's own directory and points the server at them, whatever the hub's env said", async () => {
      const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${Buffer.from(body).toString("base64")}\n-----END ${label}-----\n`;
      const tls = { key: pem("PRIVATE KEY", "key of alice"), cert: pem("CERTIFICATE", "cert of alice"), ca: pem("CERTIFICATE", "the hub's CA") };
      const prefix = `/user/${alice.name}/`;
      const { pid } = await spawnOk(alice, { tls, env: { JUPYTERHUB_SERVICE_PREFIX: prefix, JUPYTERHUB_SSL_KEYFILE: "/home/hub/internal-ssl/hub-owned.key" } });
      const files = tlsFilesOf(pid);
      for (const [name, file] of Object.entries(files)) {
        expect(file, name).toMatch(new RegExp(`^${alice.home}/\\.ts-sudospawner/tls/[0-9a-f]{16}-[0-9a-f]{16}/`));
        const stats = fs.lstatSync(file as string);
        expect([stats.isFile(), stats.uid, stats.mode & 0o777]).toEqual([true, alice.uid, 0o600]);
        expect(fs.readFileSync(file as string, "utf8")).toBe(tls[name as keyof typeof tls]);
      }
      const dir = path.dirname(files.key as string);
      expect([fs.statSync(dir).uid, fs.statSync(dir).mode & 0o777]).toEqual([alice.uid, 0o700]);
      await stop(alice, pid);
      // Not PEM, or too large: refused before anything starts.
      expectRefusal(await call(alice, spawnRequest(await freePort(), { tls: { ...tls, key: "$(id)" } })), /"tls.key" is not PEM text/);
      expectRefusal(await call(alice, spawnRequest(await freePort(), { tls: { ...tls, ca: pem("CERTIFICATE", "x".repeat(70_000)) } })), /"tls.ca" is larger than 65536 bytes/);
      // Nothing started (the stopped server's reaper may linger as a zombie of a PID 1 that reaps late).
      expect(userProcesses(alice.name).filter((p) => procState(p) !== "Z" && procState(p) !== undefined)).toEqual([]);
      fs.rmSync(path.join(alice.home, ".ts-sudospawner"), { recursive: true, force: true });
    });

    it("removes the server's TLS files and their directory when it stops, and never writes through what an earlier start left", async () => {
      const pem = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
      const tls = { key: pem("PRIVATE KEY"), cert: pem("CERTIFICATE"), ca: pem("CERTIFICATE") };
      const env = { JUPYTERHUB_SERVICE_PREFIX: `/user/${alice.name}/` };
      const tlsRoot = path.join(alice.home, ".ts-sudospawner/tls");
      // What a start whose reaper was SIGKILLed would leave, with a link planted where the key goes.
      const first = await spawnOk(alice, { tls, env });
      const earlier = path.dirname(tlsFilesOf(first.pid).key as string);
      await stop(alice, first.pid);
      await waitFor(() => !fs.existsSync(earlier), 10_000, `${earlier} to be removed after the server stopped`);
      expect(fs.readdirSync(tlsRoot)).toEqual([]);
      const target = `/tmp/tsss-tls-target-${process.pid}`;
      try {
        fs.writeFileSync(target, "not alice's key\n", { mode: 0o644 });
        fs.mkdirSync(earlier, { mode: 0o700 });
        fs.symlinkSync(target, path.join(earlier, "server.key"));
        fs.lchownSync(path.join(earlier, "server.key"), alice.uid, alice.gid);
        fs.chownSync(earlier, alice.uid, alice.gid);
        const second = await spawnOk(alice, { tls, env });
        expect(fs.readFileSync(target, "utf8")).toBe("not alice's key\n");
        expect(fs.existsSync(earlier)).toBe(false);
        const dir = path.dirname(tlsFilesOf(second.pid).key as string);
        expect(fs.readdirSync(tlsRoot)).toEqual([path.basename(dir)]);
        await stop(alice, second.pid);
        await waitFor(() => !fs.existsSync(dir), 10_000, `${dir} to be removed after the server stopped`);
        // A start that fails after the files were written removes them at once.
        installPolicy({ serverLog: "/root/tsss-{user}.log" });
        expectRefusal(await call(alice, spawnRequest(await freePort(), { tls, env })), /^could not open the server log file/);
        expect(fs.readdirSync(tlsRoot)).toEqual([]);
      } finally {
        fs.rmSync(target, { force: true });
        fs.rmSync(path.join(alice.home, ".ts-sudospawner"), { recursive: true, force: true });
      }
    });
  });

  it("refuses users below the policy's minimum uid, for kill as for spawn", async () => {
    expect(bob.uid).toBeGreaterThan(alice.uid);
    installPolicy({ minUid: bob.uid });
    const message = `refusing to act as system account ${alice.name} (uid ${alice.uid} is below UID_MIN ${bob.uid}). Restrict the sudoers Runas list to the users who may run notebook servers`;
    expectRefusal(await call(alice, killRequest(4_000_000, 0)), message);
    expectRefusal(await call(alice, spawnRequest(await freePort())), message);
    expect(userProcesses(alice.name)).toEqual([]);
    const allowed = await call(bob, killRequest(4_000_000, 0));
    expect(allowed.answer).toEqual({ ok: true, alive: false });
  });

  describe("per-user server log", () => {
    it("writes the server's output to the log file while the hub also gets it on stderr", async () => {
      installPolicy({ serverLog: `{home}/${SERVER_LOG_NAME}` });
      const logFile = path.join(alice.home, SERVER_LOG_NAME);
      const { pid, port, run } = await spawnOk(alice);
      expect(run.stderr).toContain(`server output is also written to ${logFile}`);
      const listening = `demo-singleuser: listening on http://127.0.0.1:${port} as uid ${alice.uid} in ${alice.home}`;
      expect(run.stderr).toContain(listening);
      await waitFor(() => fs.existsSync(logFile) && fs.readFileSync(logFile, "utf8").includes(listening), 5_000, "the listening line in the log");
      const stats = fs.statSync(logFile);
      expect([stats.uid, stats.gid, stats.mode & 0o777]).toEqual([alice.uid, alice.gid, 0o600]);
      await stop(alice, pid);
      await waitFor(() => fs.readFileSync(logFile, "utf8").includes("demo-singleuser: SIGTERM, shutting down"), 5_000, "the shutdown line in the log");
      expect(fs.readFileSync(logFile, "utf8")).toBe(`${listening}\ndemo-singleuser: SIGTERM, shutting down\n`);
    });

    it("refuses to spawn when the log file cannot be opened", async () => {
      installPolicy({ serverLog: "/root/tsss-{user}.log" });
      const result = await call(alice, spawnRequest(await freePort()));
      expectRefusal(
        result,
        `could not open the server log file /root/tsss-${alice.name}.log: Permission denied (errno 13); ${alice.name} must be able to create it and append to it: check the owner and mode of its directory, or change "serverLog" in the site policy`,
      );
      expect(fs.existsSync(`/root/tsss-${alice.name}.log`)).toBe(false);
      await waitFor(() => userProcesses(alice.name).length === 0, 5_000, "no process of alice");
    });

    it("in a directory every user can write, refuses a log file another user made in advance, or a link, and writes nothing to it", async () => {
      const shared = `/var/tmp/tsss-shared-logs-${process.pid}`;
      const log = `${shared}/${alice.name}.log`;
      const fix = 'remove it, and make its directory sticky (chmod +t) or per-user (e.g. "serverLog": "{home}/.jupyterhub-singleuser.log")';
      fs.rmSync(shared, { recursive: true, force: true });
      fs.mkdirSync(shared);
      fs.chmodSync(shared, 0o777);
      const aliceOther = path.join(alice.home, ".tsss-other-file");
      try {
        installPolicy({ serverLog: `${shared}/{user}.log` });
        const refused = async (message: string) => {
          expectRefusal(await call(alice, spawnRequest(await freePort())), `could not open the server log file ${log}: ${message}; ${fix}`);
          await waitFor(() => userProcesses(alice.name).length === 0, 5_000, "no process of alice");
        };
        // bob's file, which alice's server could write and bob read.
        fs.writeFileSync(log, "", { mode: 0o666 });
        fs.chmodSync(log, 0o666);
        fs.chownSync(log, bob.uid, bob.gid);
        await refused(`it is owned by uid ${bob.uid}, not ${alice.name}, who could read the server's output (errno 1)`);
        expect(fs.readFileSync(log, "utf8")).toBe("");
        // A symbolic link of bob's to a file of his.
        fs.renameSync(log, `${shared}/bobs.log`);
        fs.symlinkSync(`${shared}/bobs.log`, log);
        fs.lchownSync(log, bob.uid, bob.gid);
        await refused("it is a symbolic link, which is never followed (errno 40)");
        expect(fs.readFileSync(`${shared}/bobs.log`, "utf8")).toBe("");
        // A second name for a file of alice's (made here by root: the kernel keeps bob from linking alice's files).
        fs.rmSync(log);
        fs.writeFileSync(aliceOther, "alice's own text\n", { mode: 0o600 });
        fs.chownSync(aliceOther, alice.uid, alice.gid);
        fs.linkSync(aliceOther, log);
        await refused("it has 2 hard links, and whoever holds another could read the server's output (errno 31)");
        expect(fs.readFileSync(aliceOther, "utf8")).toBe("alice's own text\n");
        // Once the admin removed it, alice's server makes its own.
        fs.rmSync(log);
        const { pid } = await spawnOk(alice);
        const stats = fs.lstatSync(log);
        expect([stats.isFile(), stats.uid, stats.mode & 0o777, stats.nlink]).toEqual([true, alice.uid, 0o600, 1]);
        await stop(alice, pid);
      } finally {
        fs.rmSync(shared, { recursive: true, force: true });
        fs.rmSync(aliceOther, { force: true });
      }
    });
  });

  describe("refusals of a policy the hub could have edited or that does not validate", () => {
    const refusal = (reason: string) =>
      `refusing the policy ${POLICY_FILE}: ${reason}. As root: chown root:root it and its directories, chmod go-w`;

    it("refuses a group-writable policy directory, for spawn as for kill", async () => {
      installPolicy({});
      fs.chmodSync(POLICY_DIR, 0o775);
      const message = refusal(`${POLICY_DIR}: writable by group 0 (mode 775)`);
      expectRefusal(await call(alice, killRequest(4_000_000, 0)), message);
      expectRefusal(await call(alice, spawnRequest(await freePort())), message);
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses a policy file owned by the hub user", async () => {
      installPolicy({ singleuser: LAB });
      fs.chownSync(POLICY_FILE, hub.uid, hub.gid);
      expectRefusal(await call(alice, spawnRequest(await freePort())), refusal(`${POLICY_FILE}: owned by uid ${hub.uid}, who must not control what runs`));
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses a world-writable policy file", async () => {
      installPolicy({});
      fs.chmodSync(POLICY_FILE, 0o646);
      expectRefusal(await call(alice, killRequest(4_000_000, 0)), refusal(`${POLICY_FILE}: writable by everyone (mode 646)`));
    });

    it("refuses invalid JSON", async () => {
      const text = '{ "graceSeconds": 2, }';
      installPolicy(text);
      let parseError = "";
      try {
        JSON.parse(text);
      } catch (error) {
        parseError = (error as Error).message;
      }
      expect(parseError).not.toBe("");
      expectRefusal(await call(alice, killRequest(4_000_000, 0)), `refusing the policy ${POLICY_FILE}: it is not valid JSON: ${parseError}`);
    });

    it("refuses unknown keys", async () => {
      installPolicy({ singleuser: LAB, shell: "/bin/sh" });
      expectRefusal(await call(alice, spawnRequest(await freePort())), `${POLICY_FILE}: the policy has unknown key "shell" (allowed: ${TOP_KEYS})`);
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses unknown keys in a profile and invalid values", async () => {
      installPolicy({ profiles: { lab: { executable: LAB, shell: true } } });
      expectRefusal(await call(alice, killRequest(4_000_000, 0)), `${POLICY_FILE}: "profiles.lab" has unknown key "shell" (allowed: description, executable, args, limits, cgroup)`);
      installPolicy({ limits: { nofile: -1 } });
      expectRefusal(await call(alice, killRequest(4_000_000, 0)), `${POLICY_FILE}: "limits".nofile must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
    });

    it("refuses a policy file the user cannot read", async () => {
      installPolicy({ limits: { nofile: 512 } });
      fs.chmodSync(POLICY_FILE, 0o600);
      expectRefusal(
        await call(alice, spawnRequest(await freePort())),
        `refusing the policy ${POLICY_FILE}: cannot read it: EACCES: permission denied, open '${POLICY_FILE}'`,
      );
      expect(userProcesses(alice.name)).toEqual([]);
    });

    it("refuses, rather than ignores, a policy in a directory the user cannot search", async () => {
      // A policy that silently does not apply (limits, allow-list, profiles gone) is worse than none.
      installPolicy({ limits: { nofile: 512 } });
      fs.chmodSync(POLICY_DIR, 0o700);
      const result = await call(alice, spawnRequest(await freePort()));
      expectRefusal(result, new RegExp(`^refusing the policy ${POLICY_FILE}: .*(permission denied|EACCES)`, "i"));
      expect(userProcesses(alice.name)).toEqual([]);
    });
  });
});
