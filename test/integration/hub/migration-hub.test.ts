/**
 * The switch from the Python sudospawner on a real JupyterHub 5.x, as the admin guide (section 10)
 * describes it: the hub runs PyPI's `sudospawner.SudoSpawner` with the old-style `(ALL)` rule and
 * starts a user's JupyterLab server; the hub stops (`cleanup_servers = False`); the config switches
 * to the `TsSudoSpawner` package and ts-sudospawner, the old rule goes; the restarted hub finds the
 * same server ready (same pid, still answering through the proxy) and stops it through the new
 * mediator, which adopts it because the Python mediator's fork still waits for it. Then a server
 * whose fork is gone: the stop cannot reach it (JupyterHub answers 204 and forgets it), the next
 * start refuses with the reason, and once the policy's `adopt` allows, the next start stops it first.
 *
 * Own names: the prefix /opt/tsss-mighub, the sudoers files tsss-mighub-*; the run's JupyterHub 5
 * venv (test/helpers/hub/venvs.ts) and the shared hub user and first user of the global fixture.
 */
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { installTarball, type Installation } from "../../helpers/install.js";
import { Hub } from "../../helpers/hub/jupyterhub.js";
import { installSudoers, killUserProcesses, procState, procStatus, removeSudoers, waitFor } from "../../helpers/system.js";
import { VenvPool, type Venv } from "../../helpers/hub/venvs.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { firstMissing, skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout(
  "the switch on a real JupyterHub (test/integration/hub/migration-hub.test.ts)",
  firstMissing(fx.reason, process.env.TSSS_SKIP_HUB_MIGRATION === "1" && "TSSS_SKIP_HUB_MIGRATION=1 is set"),
);

const PREFIX = "/opt/tsss-mighub";
const OLD_RULE = "tsss-mighub-python";
const NEW_RULE = "tsss-mighub-rule";
const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";

describe.skipIf(skip)("switching a running JupyterHub 5.x from sudospawner.SudoSpawner to TsSudoSpawner (root, real sudo, real hub)", () => {
  const user = fx.users[0] as string;
  let pool: VenvPool | undefined;
  let venv: Venv;
  let installation: Installation;
  let hub: Hub;
  let proxy: string;
  const policy = new SitePolicyGuard();

  /** Stop the hub, switch its spawner (the Python one with its old rule, or ours), start it again. */
  async function switchTo(python: boolean): Promise<void> {
    await hub.stop();
    const config = fs.readFileSync(hub.configFile, "utf8");
    fs.writeFileSync(hub.configFile, config.replace(spawnerConfig(!python), spawnerConfig(python)));
    if (python) installSudoers(OLD_RULE, `Defaults:${fx.hub} !requiretty\n${fx.hub} ALL=(ALL) NOPASSWD: ${path.join(venv.bin, "sudospawner")}\n`);
    else removeSudoers(OLD_RULE);
    await hub.start();
  }

  function spawnerConfig(python: boolean): string {
    return python
      ? ['c.JupyterHub.spawner_class = "sudospawner.SudoSpawner"', `c.SudoSpawner.sudospawner_path = ${JSON.stringify(path.join(venv.bin, "sudospawner"))}`].join("\n")
      : ['c.JupyterHub.spawner_class = "ts-sudospawner"', `c.TsSudoSpawner.mediator_path = ${JSON.stringify(installation.mediator)}`].join("\n");
  }

  beforeAll(async () => {
    removeSudoers(OLD_RULE);
    removeSudoers(NEW_RULE);
    fs.rmSync(PREFIX, { recursive: true, force: true });
    pool = new VenvPool(fx.venvRoot);
    const venvReady = pool.get("5");
    const proxyReady = pool.proxy();
    installation = installTarball(fx.tarball, PREFIX);
    venv = await venvReady;
    proxy = await proxyReady;
    await pool.installOffline(venv, path.join(installation.packageDir, "src/jupyterhub"));
    // Both mediators run the same single-user server: the old one next to itself, the new one
    // through the link next to ts-sudospawner.
    fs.symlinkSync(path.join(venv.bin, "jupyterhub-singleuser"), path.join(installation.binDir, "jupyterhub-singleuser"));
    // The old site: the widespread (ALL) rule for the Python mediator (switchTo(true) puts it back).
    installSudoers(OLD_RULE, `Defaults:${fx.hub} !requiretty\n${fx.hub} ALL=(ALL) NOPASSWD: ${path.join(venv.bin, "sudospawner")}\n`);
    installSudoers(NEW_RULE, execFileSync(installation.mediator, ["sudoers", "--hub-user", fx.hub, "--group", fx.group], { encoding: "utf8" }));
    hub = new Hub({
      key: "migration",
      hubUser: fx.hub,
      jupyterhub: path.join(venv.bin, "jupyterhub"),
      path: `${venv.bin}:${SYSTEM_PATH}`,
      users: [user],
      config: `c.ConfigurableHTTPProxy.command = [${JSON.stringify(proxy)}]\n${spawnerConfig(true)}`,
    });
    await hub.configure();
  }, 20 * 60_000);

  afterAll(async () => {
    try {
      await hub?.stop();
    } finally {
      policy.restore();
      killUserProcesses(user);
      killUserProcesses(fx.hub);
      removeSudoers(OLD_RULE);
      removeSudoers(NEW_RULE);
      fs.rmSync(PREFIX, { recursive: true, force: true });
    }
  }, 120_000);

  it("keeps the server across the switch and stops it afterwards", async () => {
    await hub.start();
    await hub.startServer(user);
    const before = await hub.waitReady(user);
    const pid = before.state?.pid as number;
    expect(pid).toBeGreaterThan(1);
    // The Python mediator's fork waits for the server.
    const fork = Number(procStatus(pid)?.PPid);
    expect(fs.readFileSync(`/proc/${fork}/cmdline`, "utf8").split("\0")).toContain(path.join(venv.bin, "sudospawner"));
    const token = await hub.token(user);
    expect((await hub.userFetch(user, token, "api/status")).status).toBe(200);

    // The switch: stop the hub (cleanup_servers = False), new spawner and mediator, old rule gone.
    await switchTo(false);
    expect(procState(pid), "the server outlived the hub").toMatch(/[RS]/);

    const after = await hub.server(user);
    expect(after?.ready, hub.logTail()).toBe(true);
    expect(after?.state?.pid).toBe(pid);
    expect((await hub.userFetch(user, token, "api/status")).status).toBe(200);

    await hub.stopServer(user);
    await hub.waitStopped(user);
    await waitFor(() => procState(pid) === undefined, 20_000, `the server ${pid} to be gone`);
    await waitFor(() => procState(fork) === undefined, 20_000, `the Python fork ${fork} to exit`);
    expect(hub.logText).toContain(`pid ${pid} is a server the Python sudospawner started`);
  }, 10 * 60_000);

  it("does not lose a server whose Python fork is gone: the stop fails, the next start stops it once adopt allows", async () => {
    await switchTo(true);
    await hub.startServer(user);
    const pid = (await hub.waitReady(user)).state?.pid as number;
    const fork = Number(procStatus(pid)?.PPid);
    // The switch, and the fork is killed (an admin reclaiming its memory): the server is orphaned.
    await hub.stop();
    process.kill(fork, "SIGKILL");
    await waitFor(() => Number(procStatus(pid)?.PPid) !== fork, 10_000, "the server to be reparented");
    await switchTo(false);
    expect((await hub.server(user))?.ready, hub.logTail()).toBe(true);

    // The stop cannot reach it (no policy "adopt"). JupyterHub answers 204 and forgets it anyway
    // (it swallows the error of Spawner.stop()); the log says why, and the server still runs.
    expect((await hub.apiRaw("DELETE", `/users/${encodeURIComponent(user)}/server`)).status).toBe(204);
    await hub.waitStopped(user);
    expect(procState(pid), "the unreachable server still runs").toMatch(/^[RS]$/);
    expect(hub.logText).toMatch(new RegExp(`server pid ${pid} still runs, but ts-sudospawner may not stop it: .*Python sudospawner fork is gone\\. It was NOT stopped\\. Add "adopt"`));
    expect(hub.logText).not.toMatch(/reused/);

    // It is not forgotten: the next start refuses, and the REST caller reads why.
    const refused = await hub.apiRaw("POST", `/users/${encodeURIComponent(user)}/server`);
    expect(refused.status, hub.logTail()).toBe(500);
    expect(refused.body.message).toMatch(new RegExp(`^No new server was started, because the earlier one still runs: server pid ${pid} still runs.*Add "adopt"`));
    expect(procState(pid)).toMatch(/^[RS]$/);

    // The admin adds "adopt": the next start stops the old server first, then starts a new one.
    policy.write({ adopt: { until: new Date(Date.now() + 86_400_000).toISOString() } });
    await hub.startServer(user);
    const fresh = (await hub.waitReady(user)).state?.pid as number;
    expect(fresh).not.toBe(pid);
    await waitFor(() => procState(pid) === undefined || procState(pid) === "Z", 20_000, `the old server ${pid} to be gone`);
    expect(hub.logText).toContain(`server pid ${pid}, which an earlier stop could not reach, is stopped`);

    await hub.stopServer(user);
    await hub.waitStopped(user);
    await waitFor(() => procState(fresh) === undefined, 20_000, `the new server ${fresh} to be gone`);
    policy.restore();
  }, 10 * 60_000);
});
