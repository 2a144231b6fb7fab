/**
 * The JupyterHub end-to-end matrix: the same test bodies against every hub in HUB_TARGETS.
 * Imported by jupyterhub.test.ts (vitest collects only *.test.ts).
 *
 * What one run sets up (as root, all tsss-e2e-*, removed at the end):
 * - the packed tarball installed into /opt/tsss-e2e; the rule `ts-sudospawner sudoers` generates;
 * - a hub user and two users (one with a dot in its name) in one group;
 * - the run's venv of each pip-installed JupyterHub series (test/helpers/hub/venvs.ts: built by the
 *   first file that needs it, in the background, reused by the files after it), with the spawner
 *   package pip-installed offline from the installed tarball; configurable-http-proxy from npm;
 * - per hub target: PREFIX/bin/jupyterhub-singleuser linked to that target's single-user server.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installTarball, type Installation } from "../helpers/install.js";
import { Hub, type ServerModel } from "../helpers/hub/jupyterhub.js";
import { executeInKernel } from "../helpers/hub/kernel.js";
import { SitePolicyGuard } from "../helpers/site-policy.js";
import { ensureGroup, ensureUser, installSudoers, killUserProcesses, liveProcesses, procState, procStatus, removeGroup, removeSudoers, removeUser, userInfo, userProcesses, waitFor } from "../helpers/system.js";
import { runAsync, VenvPool, type Venv } from "../helpers/hub/venvs.js";

export const E2E = {
  prefix: "/opt/tsss-e2e",
  hub: "tsss-e2e-hub",
  ann: "tsss-e2e-ann",
  jdoe: "tsss-e2e-j.doe",
  group: "tsss-e2e-users",
  sudoers: "tsss-e2e",
} as const;
const USERS = [E2E.ann, E2E.jdoe];
// Debian's configurable-http-proxy finds its modules only with this (a Node.js that is not Debian's).
const DEBIAN_NODE_PATH = "/usr/share/nodejs:/usr/lib/nodejs";
const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";

export interface HubTarget {
  /** Short key: working directories, log files, TSSS_E2E_HUBS. */
  key: string;
  title: string;
  /** pip-installed: the run's venv of `jupyterhub==SERIES.*` (test/helpers/hub/venvs.ts); absent: Debian's system JupyterHub. */
  pip?: { series: string };
  internalSsl: boolean;
  /** Also run PyPI's sudospawner.SudoSpawner with sudospawner_path = ts-sudospawner. */
  sudospawner: boolean;
}

export const HUB_TARGETS: HubTarget[] = [
  { key: "3.0", title: "Debian's JupyterHub 3.0 (system python, module on sys.path)", internalSsl: false, sudospawner: false },
  { key: "4.1", title: "JupyterHub 4.1.x (pip)", pip: { series: "4.1" }, internalSsl: false, sudospawner: false },
  { key: "5", title: "JupyterHub 5.x (pip)", pip: { series: "5" }, internalSsl: true, sudospawner: true },
  { key: "6", title: "JupyterHub 6.x (pip)", pip: { series: "6" }, internalSsl: true, sudospawner: false },
];

export interface HubSelection {
  targets: HubTarget[];
  /** Keys of TSSS_E2E_HUBS that name no target (a typo runs no hub). */
  unknown: string[];
  /** Targets TSSS_E2E_HUBS leaves out. */
  leftOut: string[];
}

/** TSSS_E2E_HUBS=5,6 runs only those targets (for working on one version; not under CI). */
export function selectedTargets(env: NodeJS.ProcessEnv = process.env): HubSelection {
  const wanted = env.TSSS_E2E_HUBS?.split(",").map((key) => key.trim()).filter(Boolean);
  if (!wanted?.length) return { targets: HUB_TARGETS, unknown: [], leftOut: [] };
  const targets = HUB_TARGETS.filter((target) => wanted.includes(target.key));
  return {
    targets,
    unknown: wanted.filter((key) => !HUB_TARGETS.some((target) => target.key === key)),
    leftOut: HUB_TARGETS.filter((target) => !targets.includes(target)).map((target) => target.key),
  };
}

/** What a hub target runs with, once its venv is ready. */
export interface Runtime {
  version: string;
  jupyterhub: string;
  singleuser: string;
  path: string;
  env: Record<string, string>;
  /** Proxy and spawner configuration for the ts-sudospawner hub. */
  proxyConfig: string;
  spawnerConfig: string;
  venvSeconds?: number;
}

function log(line: string): void {
  process.stderr.write(`e2e: ${line}\n`);
}

/** Live (non-zombie) processes of a user. */
function describeProcesses(user: string): string {
  return spawnSync("ps", ["-o", "pid,ppid,stat,etime,cmd", "-u", user], { encoding: "utf8" }).stdout;
}

export async function expectNoLiveProcess(user: string, timeoutMs = 20_000, context = ""): Promise<void> {
  await waitFor(() => liveProcesses(user).length === 0, timeoutMs, `no live process of ${user}`).catch((error: unknown) => {
    throw new Error(`${String(error)}${context}\n${describeProcesses(user)}`);
  });
}

export function expectRunsAs(pid: number | undefined, user: string): void {
  expect(pid, "the spawner state holds the server's pid").toBeGreaterThan(1);
  const { uid } = userInfo(user);
  expect(procStatus(pid as number)?.Uid?.split(/\s+/), `process ${pid} runs as ${user}`).toEqual(Array(4).fill(String(uid)));
}

/** Start a server, wait until it is ready, and check its pid runs as the user; resolves with the pid. */
async function startRunningAs(hub: Hub, user: string, serverName = "", options?: Record<string, unknown>): Promise<number> {
  await hub.startServer(user, serverName, options);
  const pid = (await hub.waitReady(user, serverName)).state?.pid;
  expectRunsAs(pid, user);
  return pid as number;
}

function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
}

export function environ(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** Status through the proxy, a kernel, `os.getuid()` printed over the kernel's WebSocket: the user's uid. */
export async function expectKernelRunsAs(hub: Hub, user: string, token: string, serverName = ""): Promise<void> {
  const status = await hub.userFetch(user, token, "api/status", { serverName });
  expect(status.status, `GET ${hub.serverPrefix(user, serverName)}api/status`).toBe(200);
  const created = await hub.userFetch(user, token, "api/kernels", { serverName, method: "POST", body: JSON.stringify({ name: "python3" }) });
  expect(created.status, `POST ${hub.serverPrefix(user, serverName)}api/kernels: ${await created.clone().text()}`).toBe(201);
  const kernel = (await created.json()) as { id: string };
  const printed = await executeInKernel(hub.kernelChannelsUrl(user, kernel.id, serverName), token, "import os; print(os.getuid())");
  expect(printed.trim()).toBe(String(userInfo(user).uid));
  const deleted = await hub.userFetch(user, token, `api/kernels/${kernel.id}`, { serverName, method: "DELETE" });
  expect(deleted.status).toBe(204);
}

async function stopAndExpectGone(hub: Hub, user: string, serverName = "", pid?: number): Promise<void> {
  await hub.stopServer(user, serverName);
  await hub.waitStopped(user, serverName);
  if (pid !== undefined) await waitFor(() => procStatus(pid) === undefined, 15_000, `process ${pid} to be gone`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything one run shares: install, users, sudoers, venvs, proxy, the site policy backup. */
export class E2EContext {
  installation!: Installation;
  pool!: VenvPool;
  readonly policy = new SitePolicyGuard();
  private readonly runtimes = new Map<string, Promise<Runtime>>();
  readonly timings: { key: string; version: string; venvSeconds?: number; testSeconds: number }[] = [];

  /** The spawner package as the tarball installs it. */
  get spawnerPackage(): string {
    return path.join(this.installation.packageDir, "src/jupyterhub");
  }

  static cleanLeftovers(): void {
    for (const user of [...USERS, E2E.hub]) removeUser(user);
    removeGroup(E2E.group);
    removeSudoers(E2E.sudoers);
    fs.rmSync(E2E.prefix, { recursive: true, force: true });
  }

  /** `tarball`, `venvRoot`: the global setup's packed ts-sudospawner and the run's venv directory. */
  setup(targets: HubTarget[], tarball: string, venvRoot: string): void {
    E2EContext.cleanLeftovers();
    this.policy.backup();
    // Venvs and the npm proxy first: the first file of the run builds them in the background while
    // the rest is set up and while the first targets run; later files reuse them.
    this.pool = new VenvPool(venvRoot);
    for (const target of targets) if (target.pip) void this.pool.get(target.pip.series);
    if (targets.some((target) => target.pip)) void this.pool.proxy();
    log(`installing the packed tarball into ${E2E.prefix}`);
    this.installation = installTarball(tarball, E2E.prefix);
    ensureGroup(E2E.group);
    ensureUser(E2E.hub);
    for (const user of USERS) ensureUser(user, { groups: [E2E.group] });
    // The rule an admin gets from the package itself (installSudoers validates it with visudo).
    const rule = execFileSync(this.installation.mediator, ["sudoers", "--hub-user", E2E.hub, "--group", E2E.group], { encoding: "utf8" });
    installSudoers(E2E.sudoers, rule);
  }

  teardown(): void {
    try {
      this.policy.restore();
      for (const user of [...USERS, E2E.hub]) killUserProcesses(user);
    } finally {
      E2EContext.cleanLeftovers();
    }
  }

  runtime(target: HubTarget): Promise<Runtime> {
    let runtime = this.runtimes.get(target.key);
    if (!runtime) {
      runtime = this.makeRuntime(target);
      this.runtimes.set(target.key, runtime);
    }
    return runtime;
  }

  private async makeRuntime(target: HubTarget): Promise<Runtime> {
    const mediator = this.installation.mediator;
    if (!target.pip) {
      // Debian's hub: the module straight from the installed tarball, no pip.
      const version = execFileSync("/usr/bin/python3", ["-c", "import jupyterhub; print(jupyterhub.__version__)"], { encoding: "utf8" }).trim();
      return {
        version,
        jupyterhub: "/usr/bin/jupyterhub",
        singleuser: "/usr/bin/jupyterhub-singleuser",
        path: SYSTEM_PATH,
        env: { NODE_PATH: DEBIAN_NODE_PATH },
        proxyConfig: "",
        spawnerConfig: [
          "import sys",
          `sys.path.insert(0, ${JSON.stringify(this.spawnerPackage)})`,
          'c.JupyterHub.spawner_class = "ts_sudospawner.TsSudoSpawner"',
          `c.TsSudoSpawner.mediator_path = ${JSON.stringify(mediator)}`,
        ].join("\n"),
      };
    }
    const venv: Venv = await this.pool.get(target.pip.series);
    // The offline install the issue promises: from the installed npm package, no index at all.
    await this.pool.installOffline(venv, this.spawnerPackage);
    const proxy = await this.pool.proxy();
    return {
      version: venv.version,
      jupyterhub: path.join(venv.bin, "jupyterhub"),
      singleuser: path.join(venv.bin, "jupyterhub-singleuser"),
      path: `${venv.bin}:${SYSTEM_PATH}`,
      env: {},
      proxyConfig: `c.ConfigurableHTTPProxy.command = [${JSON.stringify(proxy)}]`,
      spawnerConfig: ['c.JupyterHub.spawner_class = "ts-sudospawner"', `c.TsSudoSpawner.mediator_path = ${JSON.stringify(mediator)}`].join("\n"),
      venvSeconds: venv.seconds,
    };
  }

  /** PREFIX/bin/jupyterhub-singleuser -> this target's server (root-owned link, root-owned target). */
  linkSingleUser(runtime: Runtime): string {
    const link = path.join(this.installation.binDir, "jupyterhub-singleuser");
    fs.rmSync(link, { force: true });
    fs.symlinkSync(runtime.singleuser, link);
    return link;
  }
}

/**
 * A hub for `target` with the given spawner configuration, started in beforeAll, stopped in
 * afterAll. `env`: more variables in the hub's own environment; `users`: its users (default: the
 * two every run creates), whose processes afterAll ends.
 */
export function useHub(
  ctx: E2EContext,
  target: HubTarget,
  key: string,
  config: (runtime: Runtime) => string,
  options: { internalSsl?: boolean; env?: Record<string, string>; users?: string[] } = {},
): { hub: () => Hub; runtime: () => Runtime } {
  let hub: Hub | undefined;
  let runtime: Runtime | undefined;
  beforeAll(async () => {
    runtime = await ctx.runtime(target);
    ctx.linkSingleUser(runtime);
    hub = new Hub({
      key,
      hubUser: E2E.hub,
      jupyterhub: runtime.jupyterhub,
      path: runtime.path,
      env: { ...runtime.env, ...options.env },
      users: options.users ?? USERS,
      config: `${runtime.proxyConfig}\n${config(runtime)}`,
      internalSsl: options.internalSsl ?? false,
    });
    await hub.configure();
    log(`starting JupyterHub ${runtime.version} (${key}) as ${E2E.hub}, log in ${hub.logFile}`);
    await hub.start();
  }, 20 * 60_000);
  afterAll(async () => {
    try {
      await hub?.stop();
    } finally {
      killUserProcesses(E2E.hub);
      for (const user of options.users ?? USERS) killUserProcesses(user);
    }
  }, 120_000);
  return {
    hub: () => {
      if (!hub) throw new Error("the hub did not start (see beforeAll)");
      return hub;
    },
    runtime: () => runtime as Runtime,
  };
}

const SLOW_SERVER = "slow";
/** The site's notebook directory below each home, and an option of the admin's Spawner.args that serverArgs.allow admits. */
const SITE_NOTEBOOKS = "tsss-notebooks";
const SITE_ARG = "--MappingKernelManager.cull_idle_timeout=3600";
const SLOW_START_TIMEOUT = 3;
const SLOW_GRACE_SECONDS = 10;

/** Every test of one hub target. */
export function defineHubSuites(ctx: E2EContext, target: HubTarget): void {
  let started = 0;
  describe(target.title, () => {
    beforeAll(() => {
      started = Date.now();
    });
    afterAll(async () => {
      const runtime = await ctx.runtime(target).catch(() => undefined);
      const testSeconds = Math.round((Date.now() - started) / 1000);
      ctx.timings.push({ key: target.key, version: runtime?.version ?? "?", venvSeconds: runtime?.venvSeconds, testSeconds });
    });

    describe("with the ts-sudospawner spawner", () => {
      const { hub: getHub, runtime } = useHub(ctx, target, target.key, (rt) =>
        [
          rt.spawnerConfig,
          // One named server gets a short start_timeout: the cancelled slow start below.
          "def _tsss_e2e_pre_spawn(spawner):",
          `    if spawner.name == ${JSON.stringify(SLOW_SERVER)}:`,
          `        spawner.start_timeout = ${SLOW_START_TIMEOUT}`,
          // No graceSeconds in its request: the policy's long grace keeps start() in flight.
          "        spawner.start_grace = None",
          "c.Spawner.pre_spawn_hook = _tsss_e2e_pre_spawn",
        ].join("\n"),
      );
      const tokens: Record<string, string> = {};
      const pids: Record<string, number> = {};

      it("two users at once (one with a dot): each server runs as its user, and a kernel through the proxy runs code with the user's uid", async () => {
        const hub = getHub();
        for (const user of USERS) tokens[user] = await hub.token(user);
        await Promise.all(USERS.map((user) => hub.startServer(user)));
        const servers: ServerModel[] = await Promise.all(USERS.map((user) => hub.waitReady(user)));
        for (const [index, user] of USERS.entries()) {
          const pid = servers[index]?.state?.pid;
          expectRunsAs(pid, user);
          pids[user] = pid as number;
          expect(fs.readlinkSync(`/proc/${pid}/cwd`)).toBe(userInfo(user).home);
          expect(fs.realpathSync(`/proc/${pid}/exe`)).toBe(fs.realpathSync("/usr/bin/python3"));
          await expectKernelRunsAs(hub, user, tokens[user] as string);
        }
        // Another user's token does not open this user's server.
        const foreign = await hub.userFetch(E2E.ann, tokens[E2E.jdoe] as string, "api/status");
        expect(foreign.status).toBe(403);
      }, 240_000);

      it("a named server runs as its user next to the default one, and stops on its own", async () => {
        const hub = getHub();
        const pid = await startRunningAs(hub, E2E.ann, "second");
        expect(pid).not.toBe(pids[E2E.ann]);
        await expectKernelRunsAs(hub, E2E.ann, tokens[E2E.ann] as string, "second");
        await stopAndExpectGone(hub, E2E.ann, "second", pid);
        expect(procState(pids[E2E.ann] as number), "the default server was not touched").toMatch(/[RS]/);
      }, 180_000);

      it("stopping a server leaves no live process of the user", async () => {
        const hub = getHub();
        await stopAndExpectGone(hub, E2E.jdoe, "", pids[E2E.jdoe]);
        await expectNoLiveProcess(E2E.jdoe);
        expect(procState(pids[E2E.ann] as number), "the other user's server was not touched").toMatch(/[RS]/);
      }, 120_000);

      it("a restarted hub (cleanup_servers = False) finds the running server ready and can stop it", async () => {
        const hub = getHub();
        const pid = pids[E2E.ann] as number;
        await hub.stop();
        expect(procState(pid), "the server outlived the hub").toMatch(/[RS]/);
        await hub.start();
        const after = await hub.server(E2E.ann);
        expect(after?.ready).toBe(true);
        expect(after?.state?.pid).toBe(pid);
        // The proxy route was restored, and the server still serves the user.
        const status = await hub.userFetch(E2E.ann, tokens[E2E.ann] as string, "api/status");
        expect(status.status).toBe(200);
        await stopAndExpectGone(hub, E2E.ann, "", pid);
        await expectNoLiveProcess(E2E.ann);
      }, 240_000);

      it("the options form lists the site policy's launch profiles; a REST start with {profile: classic} runs that profile's arguments", async () => {
        const hub = getHub();
        const singleuser = path.join(ctx.installation.binDir, "jupyterhub-singleuser");
        const profiles = {
          lab: { executable: singleuser, args: ["--ServerApp.default_url=/lab"], description: "E2E profile lab: JupyterLab" },
          classic: { executable: singleuser, args: ["--ServerApp.default_url=/tree"], description: "E2E profile classic: the file tree" },
        };
        ctx.policy.write({ profiles });
        try {
          // The hub's HTML pages take no tokens: log in as the user.
          const form = await hub.hubPage("spawn", await hub.login(E2E.ann));
          const html = form.body;
          expect(form.status, `GET /hub/spawn as ${E2E.ann} (Location: ${form.location}): ${html.slice(0, 500)}`).toBe(200);
          expect(html).toContain(profiles.lab.description);
          expect(html).toContain(profiles.classic.description);

          const pid = await startRunningAs(hub, E2E.ann, "", { profile: "classic" });
          const argv = cmdline(pid);
          expect(argv).toContain("--ServerApp.default_url=/tree");
          expect(argv).not.toContain("--ServerApp.default_url=/lab");
          // The option is declared: JupyterHub 5.3+ does not call it unhandled.
          expect(hub.logText).not.toContain("unhandled user_options");
          await stopAndExpectGone(hub, E2E.ann, "", pid);

          // A profile the site does not define is refused with 400 and the reason for the REST
          // client (apply_user_options on 5.3+, start() before), and nothing starts.
          const refused = await hub.apiRaw("POST", `/users/${E2E.ann}/server`, { profile: "invented" });
          expect(refused.status, JSON.stringify(refused.body)).toBe(400);
          expect(String(refused.body.message)).toContain("launch profile 'invented' is not one the site policy offers");
          await hub.waitStopped(E2E.ann, "", 60_000);
          expect(hub.logText).toContain("invented");
          await expectNoLiveProcess(E2E.ann);
        } finally {
          ctx.policy.restore();
        }
      }, 240_000);

      it(`a slow start cancelled at start_timeout (${SLOW_START_TIMEOUT} s, mediator grace ${SLOW_GRACE_SECONDS} s) leaves no process of the user`, async () => {
        const hub = getHub();
        // The mediator answers only after graceSeconds: start() is still in flight at start_timeout.
        ctx.policy.write({ graceSeconds: SLOW_GRACE_SECONDS });
        const begun = Date.now();
        try {
          await hub.api("POST", `/users/${encodeURIComponent(E2E.jdoe)}/servers/${SLOW_SERVER}`, undefined, [202, 201, 500]);
          await waitFor(
            () => /failed to start in \d+ seconds/.test(hub.logText),
            SLOW_START_TIMEOUT * 1000 + 30_000,
            "the hub to give up on the slow start",
          ).catch((error: unknown) => {
            throw new Error(`${String(error)}; ${hub.logTail()}`);
          });
          await hub.waitStopped(E2E.jdoe, SLOW_SERVER, 30_000);
          // Whether JupyterHub cancelled start() (>= 5.1) or let it run on (< 5.1), nothing of the
          // user may remain, including a server whose pid arrives after the hub gave up.
          const hint =
            " (JupyterHub < 5.1 does not cancel start(): it calls stop() while start() still runs, so the spawner must stop the server that start() starts afterwards)";
          await expectNoLiveProcess(E2E.jdoe, 40_000, ` after the cancelled start on JupyterHub ${runtime().version}${hint}; ${hub.logTail(3000)}`);
          const pastGrace = begun + (SLOW_GRACE_SECONDS + 3) * 1000 - Date.now();
          if (pastGrace > 0) await sleep(pastGrace);
          expect(liveProcesses(E2E.jdoe), `nothing came back once the grace period was over\n${describeProcesses(E2E.jdoe)}`).toEqual([]);
        } finally {
          ctx.policy.restore();
        }
      }, 180_000);
    });

    describe("with an admin's notebook_dir, default_url, Spawner.args and Spawner.environment", () => {
      const { hub: getHub, runtime } = useHub(ctx, target, `${target.key}-site`, (rt) =>
        [
          rt.spawnerConfig,
          `c.Spawner.notebook_dir = "~/${SITE_NOTEBOOKS}"`,
          'c.Spawner.default_url = "/lab"',
          `c.Spawner.args = [${JSON.stringify(SITE_ARG)}]`,
          `c.Spawner.environment = {"TSSS_SITE_DATASET": "cifar"}`,
          // One named server is pointed at a directory every user can write to.
          "def _tsss_e2e_site_hook(spawner):",
          `    if spawner.name == "shared-tmp":`,
          '        spawner.notebook_dir = "/tmp"',
          "c.Spawner.pre_spawn_hook = _tsss_e2e_site_hook",
        ].join("\n"),
      );

      it("what this JupyterHub sends passes the vocabulary as it is: the server's directory, URL, arguments and variables arrive, nothing is dropped", async () => {
        const hub = getHub();
        const user = userInfo(E2E.ann);
        const notebooks = path.join(user.home, SITE_NOTEBOOKS);
        fs.mkdirSync(notebooks, { recursive: true, mode: 0o755 });
        fs.chownSync(notebooks, user.uid, user.gid);
        ctx.policy.write({ serverArgs: { allow: [SITE_ARG.slice(0, SITE_ARG.indexOf("="))] }, env: { allow: ["TSSS_SITE_DATASET"] } });
        try {
          const token = await hub.token(E2E.ann);
          const pid = await startRunningAs(hub, E2E.ann);
          const env = environ(pid);
          expect(env.JUPYTERHUB_ROOT_DIR).toBe(notebooks);
          expect(env.JUPYTERHUB_DEFAULT_URL).toBe("/lab");
          expect(env.TSSS_SITE_DATASET).toBe("cifar");
          expect(cmdline(pid)).toContain(SITE_ARG);
          // Nothing JupyterHub ${runtime().version} sends was outside the vocabulary.
          expect(hub.logText, hub.logTail(3000)).not.toContain("dropped environment variable");
          // A notebook's kernel (a session, as JupyterLab opens one) starts in the checked directory.
          const body = JSON.stringify({ path: "tsss-e2e.ipynb", type: "notebook", name: "tsss-e2e.ipynb", kernel: { name: "python3" } });
          const created = await hub.userFetch(E2E.ann, token, "api/sessions", { method: "POST", body });
          expect(created.status, await created.clone().text()).toBe(201);
          const { kernel } = (await created.json()) as { kernel: { id: string } };
          const cwd = await executeInKernel(hub.kernelChannelsUrl(E2E.ann, kernel.id), token, "import os; print(os.getcwd())");
          expect(cwd.trim()).toBe(notebooks);
          await stopAndExpectGone(hub, E2E.ann, "", pid);

          // A notebook_dir every user can write to is refused, with the reason in the hub's log.
          // The REST client reads the mediator's reason too, not a bare 500.
          const refusal = await hub.apiRaw("POST", `/users/${E2E.ann}/servers/shared-tmp`);
          expect(refusal.status, JSON.stringify(refusal.body)).toBe(500);
          expect(String(refusal.body.message)).toContain("refusing the server's root directory /tmp");
          await hub.waitStopped(E2E.ann, "shared-tmp", 60_000);
          await waitFor(() => hub.logText.includes("refusing the server's root directory /tmp (from JUPYTERHUB_ROOT_DIR)"), 30_000, "the refusal in the hub's log");
          await expectNoLiveProcess(E2E.ann);
        } finally {
          ctx.policy.restore();
          fs.rmSync(notebooks, { recursive: true, force: true });
        }
      }, 240_000);

      if (target.key === "6") {
        it("the committed traitlets table agrees with this venv's jupyter_server, JupyterLab and JupyterHub on every passable option", async () => {
          const python = path.join(path.dirname(runtime().jupyterhub), "python");
          const checked = await runAsync(python, [path.resolve("scripts/traitlets-table.py"), "--check", path.resolve("src/mediator/vocabulary/traitlets-table.json")]);
          expect(checked).toMatch(/\d+ traits checked, none passable with another kind here/);
        }, 120_000);
      }
    });

    if (target.internalSsl) {
      describe("with internal_ssl", () => {
        const { hub: getHub } = useHub(ctx, target, `${target.key}-ssl`, (rt) => rt.spawnerConfig, { internalSsl: true });

        it("the server answers the hub over https with certificates private to the user, and the kernel check passes", async () => {
          const hub = getHub();
          const token = await hub.token(E2E.ann);
          const pid = await startRunningAs(hub, E2E.ann);
          const env = environ(pid);
          expect(env.JUPYTERHUB_SERVICE_URL).toMatch(/^https:\/\//);
          // The server's own port speaks TLS only: plain http is not answered.
          const port = new URL(env.JUPYTERHUB_SERVICE_URL as string).port;
          const plain = await fetch(`http://127.0.0.1:${port}${hub.serverPrefix(E2E.ann)}api/status`).then(
            (response) => response.status,
            () => "refused",
          );
          expect(plain, "a plain-http request to the server").not.toBe(200);
          const { uid } = userInfo(E2E.ann);
          for (const name of ["JUPYTERHUB_SSL_KEYFILE", "JUPYTERHUB_SSL_CERTFILE", "JUPYTERHUB_SSL_CLIENT_CA"]) {
            const file = env[name];
            expect(file, `${name} in the server's environment`).toBeTruthy();
            const stat = fs.statSync(file as string);
            expect(stat.uid, `${file} is the user's`).toBe(uid);
            if (name === "JUPYTERHUB_SSL_KEYFILE") expect(stat.mode & 0o077, `${file} is private`).toBe(0);
          }
          await expectKernelRunsAs(hub, E2E.ann, token);
          await stopAndExpectGone(hub, E2E.ann, "", pid);
          await expectNoLiveProcess(E2E.ann);
          // The key, certificate and CA and their directory are gone once the server stopped.
          const tlsDir = path.dirname(env.JUPYTERHUB_SSL_KEYFILE as string);
          await waitFor(() => !fs.existsSync(tlsDir), 30_000, `the TLS directory ${tlsDir} to be removed after a stop through JupyterHub`);
        }, 240_000);

        it("a server killed outside JupyterHub leaves no TLS files either", async () => {
          const hub = getHub();
          const pid = await startRunningAs(hub, E2E.ann);
          const tlsDir = path.dirname(environ(pid).JUPYTERHUB_SSL_KEYFILE as string);
          expect(fs.existsSync(tlsDir), `${tlsDir} while the server runs`).toBe(true);
          process.kill(pid, "SIGKILL");
          await waitFor(() => !fs.existsSync(tlsDir), 30_000, `the TLS directory ${tlsDir} to be removed after SIGKILL of the server`);
          await hub.waitStopped(E2E.ann, "", 90_000);
          await expectNoLiveProcess(E2E.ann);
        }, 240_000);
      });
    }

    if (target.sudospawner) {
      describe("with PyPI's sudospawner.SudoSpawner and sudospawner_path = ts-sudospawner (no code)", () => {
        const { hub: getHub } = useHub(ctx, target, `${target.key}-sudospawner`, () =>
          ['c.JupyterHub.spawner_class = "sudospawner.SudoSpawner"', `c.SudoSpawner.sudospawner_path = ${JSON.stringify(ctx.installation.mediator)}`].join("\n"),
        );

        it("starts a server as the user, runs a kernel with the user's uid, and stops it", async () => {
          const hub = getHub();
          const token = await hub.token(E2E.jdoe);
          const pid = await startRunningAs(hub, E2E.jdoe);
          await expectKernelRunsAs(hub, E2E.jdoe, token);
          await stopAndExpectGone(hub, E2E.jdoe, "", pid);
          await expectNoLiveProcess(E2E.jdoe);
        }, 240_000);
      });
    }
  });
}

/** The generated rule, checked once: the hub may run the mediator as the users, and nothing else. */
export function defineSudoersCheck(ctx: E2EContext): void {
  it("the generated sudoers rule lets the hub run the mediator as the users, and nothing else", async () => {
    const mediator = ctx.installation.mediator;
    const help = await runAsync("sudo", ["-u", E2E.hub, "sudo", "-n", "-u", E2E.jdoe, mediator, "--help"]);
    expect(help).toContain("ts-sudospawner");
    const echo = spawnSync("sudo", ["-u", E2E.hub, "sudo", "-n", "-u", E2E.jdoe, "echo", "fail"], { encoding: "utf8" });
    expect(echo.status).not.toBe(0);
    expect(echo.stdout).not.toContain("fail");
  });
}

export function reportTimings(ctx: E2EContext): void {
  for (const timing of ctx.timings) {
    const venv = timing.venvSeconds === undefined ? "system packages" : `venv waited for ${timing.venvSeconds} s (built in the background, or reused)`;
    log(`timing: JupyterHub ${timing.version} [${timing.key}]: tests ${timing.testSeconds} s; ${venv}`);
  }
}
