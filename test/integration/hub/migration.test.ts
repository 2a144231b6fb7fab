/**
 * Live migration from the Python sudospawner, for real: PyPI's `sudospawner` (in a venv with
 * JupyterHub 5.x, made by test/helpers/hub/venvs.ts) is the hub's mediator, with its own sudoers rule,
 * and starts servers through real sudo. Then the site switches: the old rule goes, the hub runs
 * ts-sudospawner. The servers the Python mediator started answer alive:true to `kill` with signal
 * 0 and are stopped by it, while the user's own `sleep` stays alive:false and untouched:
 *
 * - while the Python mediator's fork still waits for its server, with no policy at all;
 * - once that fork is gone, only while the root policy's `"adopt": {"until": ...}` allows it.
 *
 * The Python mediator runs `sudospawner-singleuser` next to itself; here that is a link to the
 * install's single-user executable (the demo server), as an admin's old and new installs both
 * point at the same jupyterhub-singleuser.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV, killRequest, spawnRequest } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { installSudoers, procState, procStatus, removeSudoers, runMediatorAs, userInfo, waitFor, type MediatorRun, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { VenvPool, type Venv } from "../../helpers/hub/venvs.js";

const fx = inject("rootFixture");
const skip = skipWithout("live migration from the Python sudospawner (test/integration/hub/migration.test.ts)", fx.reason);

const PYTHON_RULE = "tsss-mig-python";
const TOKEN = { JUPYTERHUB_API_TOKEN: "tsss-migration-token" };
const NOT_OURS = /pid \d+ is not a server started by ts-sudospawner \(the pid was reused\); leaving it alone/;

function ts(user: TestUser, input: string): Promise<MediatorRun> {
  return runMediatorAs(fx.hub, user.name, fx.mediator, input, ["--logging=info"]);
}

describe.skipIf(skip)("switching from the Python sudospawner while its servers run (root, real sudo, PyPI's sudospawner)", () => {
  const pool = fx.available ? new VenvPool(fx.venvRoot) : undefined;
  const policy = new SitePolicyGuard();
  const children: ChildProcess[] = [];
  let venv: Venv;
  let pythonMediator: string;
  let alice: TestUser;

  /** A call through the Python mediator, as the hub made it before the switch. */
  function python(user: TestUser, input: string): Promise<MediatorRun> {
    return runMediatorAs(fx.hub, user.name, pythonMediator, input, ["--logging=INFO"]);
  }

  async function pythonServer(): Promise<{ pid: number; fork: number; port: number }> {
    const port = await freePort();
    const started = await python(alice, spawnRequest(port, TOKEN));
    expect(started.answer, started.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = started.answer?.pid as number;
    await waitForDemoServer(port);
    const fork = Number(procStatus(pid)?.PPid);
    return { pid, fork, port };
  }

  /** The user's own process, not started by any mediator; `orphan` makes it a child of PID 1 with a token, like an orphaned server. */
  function userSleep(orphan = false): number {
    if (!orphan) {
      const child = spawn("sleep", ["300"], { uid: alice.uid, gid: alice.gid, cwd: alice.home, env: { ...BASE_ENV, HOME: alice.home }, stdio: "ignore" });
      children.push(child);
      return child.pid as number;
    }
    const out = spawnSync("setsid", ["-f", "sh", "-c", "echo $$; exec sleep 300 >/dev/null"], { uid: alice.uid, gid: alice.gid, cwd: alice.home, env: { ...BASE_ENV, ...TOKEN, HOME: alice.home }, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return Number(out.stdout.trim());
  }

  /** The python-orphans row of `ts-sudospawner check`, run as root. */
  function pythonOrphansRow(): { status: string; detail: string; fix: string } {
    const ran = spawnSync(fx.mediator, ["check", "--hub-user", fx.hub, "--user", alice.name, "--json"], { encoding: "utf8" });
    const row = (JSON.parse(ran.stdout) as { rows: { id: string; status: string; detail: string; fix: string }[] }).rows.find((r) => r.id === "python-orphans");
    expect(row, ran.stderr).toBeDefined();
    return row as { status: string; detail: string; fix: string };
  }

  beforeAll(async () => {
    alice = userInfo(fx.users[0] as string);
    policy.backup();
    venv = await (pool as VenvPool).get("5");
    pythonMediator = path.join(venv.bin, "sudospawner");
    expect(fs.existsSync(pythonMediator)).toBe(true);
    // The Python mediator runs sudospawner-singleuser next to itself, when there is one.
    fs.symlinkSync(path.join(fx.binDir, "jupyterhub-singleuser"), path.join(venv.bin, "sudospawner-singleuser"));
    // The old site's rule: the hub may run the Python mediator as the group.
    installSudoers(PYTHON_RULE, `Cmnd_Alias TSSS_MIG_PYTHON = ${pythonMediator}\nDefaults:${fx.hub} !requiretty\n${fx.hub} ALL=(%${fx.group}) NOPASSWD: TSSS_MIG_PYTHON\n`);
  });

  afterEach(() => {
    policy.restore();
  });

  afterAll(async () => {
    removeSudoers(PYTHON_RULE);
    policy.restore();
    for (const child of children) child.kill("SIGKILL");
    spawnSync("pkill", ["-KILL", "-u", alice.name], { stdio: "ignore" });
    // The venv is the run's: later files must find it as pip made it.
    if (venv) fs.rmSync(path.join(venv.bin, "sudospawner-singleuser"), { force: true });
  });

  it("keeps the servers of a lingering Python mediator: alive, stoppable, and the user's sleep still refused", async () => {
    const first = await pythonServer();
    const second = await pythonServer();
    // What the Python mediator left: its fork (a Python interpreter running sudospawner) waits for the server.
    expect(fs.readFileSync(`/proc/${first.fork}/cmdline`, "utf8").split("\0")).toContain(pythonMediator);
    expect((await python(alice, killRequest(first.pid, 0))).answer).toEqual({ ok: true, alive: true });

    // The switch: the old rule goes; the hub now runs ts-sudospawner (the shared fixture's rule).
    removeSudoers(PYTHON_RULE);
    const refused = await python(alice, killRequest(first.pid, 0));
    expect(refused.stderr).toContain("sudo: a password is required");

    for (const server of [first, second]) {
      const polled = await ts(alice, killRequest(server.pid, 0));
      expect(polled.answer, polled.stderr).toEqual({ ok: true, alive: true });
      expect(polled.stderr).toContain(`pid ${server.pid} is a server the Python sudospawner started (its parent ${server.fork} is the mediator's waiting fork:`);
    }

    const sleeper = userSleep();
    await waitFor(() => procStatus(sleeper)?.Name === "sleep", 5_000, "the user's sleep");
    for (const signal of [0, 15]) {
      const result = await ts(alice, killRequest(sleeper, signal));
      expect(result.answer).toEqual({ ok: true, alive: false });
      expect(result.stderr).toMatch(NOT_OURS);
    }
    expect(procState(sleeper)).toMatch(/^[SR]$/);

    for (const server of [first, second]) {
      expect((await ts(alice, killRequest(server.pid, 15))).answer).toEqual({ ok: true, alive: true });
      await waitFor(() => procState(server.pid) === undefined, 15_000, `server ${server.pid} to stop`);
      // Its fork saw it exit and is gone too: nothing of the old mediator is left.
      await waitFor(() => procState(server.fork) === undefined, 15_000, `the Python fork ${server.fork} to exit`);
      expect((await ts(alice, killRequest(server.pid, 0))).answer).toEqual({ ok: true, alive: false });
    }
    installSudoers(PYTHON_RULE, `Cmnd_Alias TSSS_MIG_PYTHON = ${pythonMediator}\nDefaults:${fx.hub} !requiretty\n${fx.hub} ALL=(%${fx.group}) NOPASSWD: TSSS_MIG_PYTHON\n`);
  });

  it("adopts a server whose Python fork is gone only while the policy's adopt allows it", async () => {
    const server = await pythonServer();
    removeSudoers(PYTHON_RULE);
    // The fork is killed (an admin reclaiming its memory): the server is orphaned.
    process.kill(server.fork, "SIGKILL");
    await waitFor(() => procState(server.fork) === undefined || procState(server.fork) === "Z", 10_000, "the fork to die");
    await waitFor(() => Number(procStatus(server.pid)?.PPid) !== server.fork, 10_000, "the server to be reparented");
    const orphanSleep = userSleep(true);
    await waitFor(() => procStatus(orphanSleep)?.Name === "sleep", 5_000, "the orphaned sleep");

    // No policy: an unmarked orphan is not ours, and the answer and the log say what it is,
    // not "a reused pid".
    const unknown = await ts(alice, killRequest(server.pid, 0));
    expect(unknown.answer).toEqual({ ok: true, alive: false, unowned: "orphaned-python-server" });
    expect(unknown.stderr).toMatch(new RegExp(`pid ${server.pid} runs a single-user server with a JupyterHub token but carries no ownership mark of ts-sudospawner and has no Python sudospawner fork as parent: the Python sudospawner started it and its fork is gone. Not signalling it; add "adopt" to the site policy`));
    expect(unknown.stderr).not.toMatch(/reused/);
    // `check` (row python-orphans, as root) finds it before the admin switches, and names the fix;
    // the orphaned sleep with a token is not a server and is not listed.
    const before = pythonOrphansRow();
    expect(before.status).toBe("warn");
    expect(before.detail).toMatch(new RegExp(`pid ${server.pid}: started by the Python sudospawner, no ownership mark, fork gone`));
    expect(before.detail).not.toContain(`pid ${orphanSleep}`);
    expect(before.fix).toMatch(/add \{ "adopt": \{ "until": "<a date soon>" \} \} to the site policy/);

    // Adoption switched on until a future date: the server is ours, the sleep (token and all) is not.
    policy.write({ adopt: { until: new Date(Date.now() + 7 * 86_400_000).toISOString() } });
    const adopted = await ts(alice, killRequest(server.pid, 0));
    expect(adopted.answer, adopted.stderr).toEqual({ ok: true, alive: true });
    const allowed = pythonOrphansRow();
    expect([allowed.status, allowed.detail]).toEqual(["pass", expect.stringMatching(new RegExp(`pid ${server.pid}: the policy's "adopt" \\(until .*\\) lets ts-sudospawner stop them`))]);
    expect(adopted.stderr).toMatch(new RegExp(`pid ${server.pid} runs ${fx.binDir}/jupyterhub-singleuser without our mark and its Python mediator is gone; adopting it as the site policy's "adopt" allows until `));
    for (const signal of [0, 15]) {
      const result = await ts(alice, killRequest(orphanSleep, signal));
      expect(result.answer).toEqual({ ok: true, alive: false });
      expect(result.stderr).toMatch(NOT_OURS);
    }
    expect(procState(orphanSleep)).toMatch(/^[SR]$/);

    // After `until`, adoption is over.
    policy.write({ adopt: { until: "2000-01-01T00:00:00Z" } });
    expect((await ts(alice, killRequest(server.pid, 15))).answer).toEqual({ ok: true, alive: false, unowned: "orphaned-python-server" });
    expect(procState(server.pid), "the refused server still runs").toMatch(/^[SR]$/);

    policy.write({ adopt: { until: new Date(Date.now() + 86_400_000).toISOString() } });
    expect((await ts(alice, killRequest(server.pid, 15))).answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(server.pid) === undefined || procState(server.pid) === "Z", 15_000, `server ${server.pid} to stop`);
    process.kill(orphanSleep, "SIGKILL");
  });
});
