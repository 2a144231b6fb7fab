/**
 * The closed vocabulary of what a hub may pass (src/mediator/vocabulary), tried through the real
 * sudo rule as a compromised hub would try it: options outside the vocabulary, a bare word after a
 * flag, a profile's setting reached through an alias, typed environment values, and root
 * directories the hub owns or others can write. Each attack must fail with nothing started; what
 * JupyterHub really sends must still pass.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { expectRefusal, mediatorCalls, spawnRequestWith } from "../../helpers/mediator-calls.js";
import { freePort } from "../../helpers/ports.js";
import { SitePolicyGuard, POLICY_FILE } from "../../helpers/site-policy.js";
import { killUserProcesses, liveProcesses, procState, run, userInfo, userProcesses, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("the vocabulary of what a hub may pass (test/integration/security/vocabulary.test.ts)", fx.reason);

const { call, spawnOk, stop, serverReport } = mediatorCalls(fx);
/** A directory of the hub user's, as a compromised hub would prepare one. */
const HUB_DIR = `/tmp/tsss-vocabulary-${process.pid}`;
/** Where a command run as the user leaves its mark (world-writable, sticky). */
const MARKS = `/tmp/tsss-vocabulary-marks-${process.pid}`;
const MARKER = `${MARKS}/ran-as-user`;
/** Debian's JupyterHub 3.0 single-user server (.ci/run installs it). */
const DEBIAN_SINGLEUSER = "/usr/bin/jupyterhub-singleuser";
/** traitlets' logging config builds handlers with "()" factories: a shell command before the server serves. */
const LOGGING_ATTACK = `--Application.logging_config={"version":1,"handlers":{"x":{"()":"os.system","command":"touch ${MARKER}"}}}`;
/** Root-owned, for the launch profile's copy of the demo server. */
const EXTRA = "/opt/tsss-vocabulary";
const QUIET = `${EXTRA}/quiet-server`;

describe.skipIf(skip)("the vocabulary of what a hub may pass, through real sudo", () => {
  const policy = new SitePolicyGuard();
  let alice: TestUser;
  let hub: TestUser;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    hub = userInfo(fx.hub);
    fs.rmSync(HUB_DIR, { recursive: true, force: true });
    fs.mkdirSync(HUB_DIR, { mode: 0o755 });
    fs.chownSync(HUB_DIR, hub.uid, hub.gid);
    fs.rmSync(MARKS, { recursive: true, force: true });
    fs.mkdirSync(MARKS);
    fs.chmodSync(MARKS, 0o1777);
    fs.rmSync(EXTRA, { recursive: true, force: true });
    fs.mkdirSync(EXTRA, { mode: 0o755 });
    fs.copyFileSync(path.join(fx.packageDir, "dist/demo-singleuser.cjs"), QUIET);
    fs.chmodSync(QUIET, 0o755);
  });

  afterEach(() => {
    policy.restore();
    killUserProcesses(alice.name);
    for (const dir of ["tsss-work", "tsss-shared", "tsss-link"]) fs.rmSync(path.join(alice.home, dir), { recursive: true, force: true });
  });

  afterAll(() => {
    fs.rmSync(HUB_DIR, { recursive: true, force: true });
    fs.rmSync(MARKS, { recursive: true, force: true });
    fs.rmSync(EXTRA, { recursive: true, force: true });
    expect(liveProcesses(alice.name)).toEqual([]);
  });

  describe("server arguments", () => {
    it("refuses the argument that made the real single-user server run the hub's command as the user", async () => {
      // The attack is real: started as alice without the mediator, Debian's server runs the command.
      const direct = run("sudo", ["-u", alice.name, "env", "JUPYTERHUB_API_TOKEN=x", `JUPYTERHUB_SERVICE_URL=http://127.0.0.1:${await freePort()}/`, DEBIAN_SINGLEUSER, LOGGING_ATTACK]);
      expect(direct.status, direct.stderr).not.toBe(0);
      expect(fs.statSync(MARKER).uid).toBe(alice.uid);
      fs.rmSync(MARKER);
      // Through the mediator, with the same server as the site's, it is refused and nothing runs.
      policy.write({ singleuser: DEBIAN_SINGLEUSER });
      const result = await call(alice, spawnRequestWith(await freePort(), { args: [LOGGING_ATTACK] }));
      expectRefusal(result, /^server argument "--Application\.logging_config=.*" refused: not in the vocabulary of what a hub sends/);
      expect(fs.existsSync(MARKER)).toBe(false);
      expect(liveProcesses(alice.name)).toEqual([]);
    });

    it.each([
      LOGGING_ATTACK,
      `--ServerApp.jpserver_extensions={"hubmodule":true}`,
      "--ServerApp.kernel_manager_class=hubmodule.KernelManager",
      `--ContentsManager.pre_save_hook=hubmodule.hook`,
      `--ServerApp.preferred_dir=${HUB_DIR}`,
      `--KernelSpecManager.kernel_dirs=['${HUB_DIR}']`,
      `--ServerApp.tornado_settings={"static_path":"${HUB_DIR}"}`,
    ])("refuses %s, naming the policy key, and starts nothing", async (arg) => {
      const result = await call(alice, spawnRequestWith(await freePort(), { args: ["--port=1", arg] }));
      expectRefusal(result, /refused: not in the vocabulary of what a hub sends; an admin may allow it with "serverArgs\.allow": \["--[A-Za-z._]+"\] in \/etc\/ts-sudospawner\/config\.json$/);
      expect(fs.existsSync(MARKER)).toBe(false);
      expect(liveProcesses(alice.name)).toEqual([]);
    });

    it("never admits code, classes or config dicts, even when the site allows every option", async () => {
      policy.write({ serverArgs: { allow: ["--*"] } });
      for (const [arg, kind] of [
        ["--Application.logging_config={}", "a config dict"],
        ["--ServerApp.kernel_manager_class=hubmodule.KM", "a class"],
        [`--JupyterApp.config_file=${HUB_DIR}/c.py`, "a file, directory, command, URL or secret"],
      ] as const) {
        const result = await call(alice, spawnRequestWith(await freePort(), { args: [arg] }));
        expectRefusal(result, `server argument ${JSON.stringify(arg)} refused: ${arg.slice(0, arg.indexOf("="))} is never passable from the hub, not even through serverArgs.allow: its value is ${kind}`);
      }
      expect(liveProcesses(alice.name)).toEqual([]);
    });

    it("takes no bare word after a flag: policy.md's allow-list example no longer lets a positional argument through", async () => {
      policy.write({ serverArgs: { allow: ["--no-browser", "--MappingKernelManager.cull_idle_timeout"] } });
      const result = await call(alice, spawnRequestWith(await freePort(), { args: ["--no-browser", "notebook.ipynb"] }));
      expectRefusal(result, /^server argument "notebook\.ipynb" refused: the single-user server takes no positional arguments from the hub/);
      const typed = await call(alice, spawnRequestWith(await freePort(), { args: ["--MappingKernelManager.cull_idle_timeout=soon"] }));
      expectRefusal(typed, 'server argument "--MappingKernelManager.cull_idle_timeout=soon" refused: the value must be an integer');
      // The allowed options with values of their type pass, as the server receives them.
      const port = await freePort();
      const { pid } = await spawnOk(alice, { args: [`--port=${port}`, "--no-browser", "--MappingKernelManager.cull_idle_timeout=3600"] });
      expect((await serverReport(port)).argv).toEqual([`--port=${port}`, "--no-browser", "--MappingKernelManager.cull_idle_timeout=3600"]);
      await stop(alice, pid);
    });

    it("cannot set again what a launch profile fixes, through any alias, flag or variable", async () => {
      policy.write({ profiles: { quiet: { executable: QUIET, args: ["--log-level=WARN", "--SingleUserNotebookApp.default_url=/voila"] } } });
      expectRefusal(await call(alice, spawnRequestWith(1, { profile: "quiet", args: ["--port=1", "--debug"] })), 'server argument "--debug" refused: launch profile "quiet" fixes log_level');
      expectRefusal(await call(alice, spawnRequestWith(1, { profile: "quiet", args: ["--ServerApp.default_url=/lab"] })), /launch profile "quiet" fixes default_url$/);
      const port = await freePort();
      const { pid, run } = await spawnOk(alice, { profile: "quiet", args: [`--port=${port}`], env: { JUPYTERHUB_DEBUG: "1", JUPYTERHUB_DEFAULT_URL: "/lab" } });
      expect(run.stderr).toContain("dropped environment variable JUPYTERHUB_DEBUG: the launch profile fixes log_level");
      const report = await serverReport(port);
      expect(report.env.JUPYTERHUB_DEBUG).toBeUndefined();
      expect(report.env.JUPYTERHUB_DEFAULT_URL).toBeUndefined();
      expect(report.argv).toEqual(["--log-level=WARN", "--SingleUserNotebookApp.default_url=/voila", `--port=${port}`]);
      await stop(alice, pid);
    });
  });

  describe("environment values", () => {
    it.each([
      ["JUPYTERHUB_SINGLEUSER_APP", "hubmodule.App", /^environment variable JUPYTERHUB_SINGLEUSER_APP refused: its value must be one of "", "extension"/],
      ["TZ", `${HUB_DIR}/zone`, /^environment variable TZ refused: its value must be a time zone name/],
      ["LC_ALL", `${HUB_DIR}/locale`, /^environment variable LC_ALL refused: its value must be a locale name/],
      ["JUPYTERHUB_SERVICE_URL", "file:///etc/passwd", /^environment variable JUPYTERHUB_SERVICE_URL refused: its value must be an http\(s\) URL$/],
    ])("refuses %s=%s and starts nothing", async (name, value, error) => {
      expectRefusal(await call(alice, spawnRequestWith(await freePort(), { env: { [name]: value } })), error);
      expect(liveProcesses(alice.name)).toEqual([]);
    });

    it("drops JUPYTERHUB_SSL_* without a tls request, and names env.allow for a name outside the vocabulary; an admin's env.allow keeps it", async () => {
      const env = { JUPYTERHUB_SSL_KEYFILE: `${HUB_DIR}/key.pem`, JUPYTERHUB_SSL_CERTFILE: `${HUB_DIR}/c.pem`, SITE_DATASET: "cifar", TZ: "Europe/Berlin" };
      const first = await spawnOk(alice, { env });
      expect(first.run.stderr).toContain("dropped environment variable JUPYTERHUB_SSL_KEYFILE: set by the mediator alone, from a spawn request's \"tls\" files");
      expect(first.run.stderr).toContain(`dropped environment variable SITE_DATASET: not in the vocabulary of what JupyterHub sends; to pass it, add "SITE_DATASET" to "env.allow" in ${POLICY_FILE}`);
      const before = (await serverReport(first.port)).env;
      expect([before.JUPYTERHUB_SSL_KEYFILE, before.SITE_DATASET, before.TZ]).toEqual([undefined, undefined, "Europe/Berlin"]);
      await stop(alice, first.pid);
      policy.write({ env: { allow: ["SITE_DATASET"] } });
      const second = await spawnOk(alice, { env });
      expect((await serverReport(second.port)).env.SITE_DATASET).toBe("cifar");
      await stop(alice, second.pid);
    });
  });

  describe("the root directory", () => {
    function aliceDir(name: string, mode: number): string {
      const dir = path.join(alice.home, name);
      fs.mkdirSync(dir, { mode });
      fs.chmodSync(dir, mode);
      fs.chownSync(dir, alice.uid, alice.gid);
      return dir;
    }

    it.each([
      ["a directory the hub owns", () => ({ JUPYTERHUB_ROOT_DIR: HUB_DIR }), /^refusing the server's root directory .* \(from JUPYTERHUB_ROOT_DIR\): .*owned by /],
      ["/tmp (sticky, world-writable)", () => ({ JUPYTERHUB_ROOT_DIR: "/tmp" }), /\/tmp: writable by everyone \(mode 1777\): others could plant modules its kernels import/],
      ["the user's own group-writable directory", () => ({ JUPYTERHUB_ROOT_DIR: `${aliceDir("tsss-shared", 0o775) && "~/tsss-shared"}` }), /tsss-shared: writable by group \d+ \(mode 775\)/],
      ["a link of the user's that leads to the hub's directory", () => {
        fs.symlinkSync(HUB_DIR, path.join(alice.home, "tsss-link"));
        fs.lchownSync(path.join(alice.home, "tsss-link"), alice.uid, alice.gid);
        return { JUPYTERHUB_ROOT_DIR: "~/tsss-link" };
      }, new RegExp(`${HUB_DIR}: owned by `)],
      ["a directory that does not exist", () => ({ JUPYTERHUB_ROOT_DIR: "/tsss-missing/root" }), /^the server's root directory \/tsss-missing\/root \(from JUPYTERHUB_ROOT_DIR\) does not exist/],
    ])("refuses %s, and starts nothing", async (_what, env, error) => {
      expectRefusal(await call(alice, spawnRequestWith(await freePort(), { env: env() })), error);
      expect(liveProcesses(alice.name)).toEqual([]);
    });

    it("refuses the same through an argument (--notebook-dir)", async () => {
      expectRefusal(await call(alice, spawnRequestWith(1, { args: ["--port=1", `--notebook-dir=${HUB_DIR}`] })), /^refusing the server's root directory .* \(from --notebook-dir\)/);
    });

    it("passes the user's own directory, expanded as the user and resolved, and / itself", async () => {
      const work = aliceDir("tsss-work", 0o755);
      const port = await freePort();
      const { pid } = await spawnOk(alice, { args: [`--port=${port}`, "--ServerApp.root_dir=~/tsss-work"], env: { JUPYTERHUB_ROOT_DIR: "~/tsss-work" } });
      const report = await serverReport(port);
      expect(report.argv).toEqual([`--port=${port}`, `--ServerApp.root_dir=${work}`]);
      expect(report.env.JUPYTERHUB_ROOT_DIR).toBe(work);
      await stop(alice, pid);
      const top = await spawnOk(alice, { env: { JUPYTERHUB_ROOT_DIR: "/" } });
      expect((await serverReport(top.port)).env.JUPYTERHUB_ROOT_DIR).toBe("/");
      await stop(alice, top.pid);
    });
  });
});
