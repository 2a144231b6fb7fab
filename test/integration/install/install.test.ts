/**
 * Issue 12, the way a locked-down hub host installs: the packed tarball (the fixture's) with
 * `npm install -g --offline`, an EMPTY npm cache and no compiler on PATH, into a prefix of its own;
 * then the mediator from that prefix through real sudo. Also what the tarball must carry (prebuilt
 * parts, LICENSE, notices, SBOM, node-addon-api), the fallback to a source build when the prebuilt
 * addon does not load, a forced source build, and a client-only install that runs no native code.
 *
 * Besides the shared fixture (read only) this suite makes /opt/tsss-install-test, a project in
 * /tmp and the sudoers file tsss-install-test, and removes them in afterAll.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { auditPath, realFs } from "../../../src/install/path-trust.js";
import { waitForDemoServer } from "../../helpers/demo-server.js";
import { installDemoSingleUser, type Installation } from "../../helpers/install.js";
import { freePort } from "../../helpers/ports.js";
import { killRequest, spawnRequest } from "../../helpers/requests.js";
import {
  installSudoers,
  killUserProcesses,
  procState,
  removeSudoers,
  run,
  runMediatorAs,
  userInfo,
  userProcesses,
  waitFor,
} from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("install integration (test/integration/install/install.test.ts)", fx.reason);

const PREFIX = "/opt/tsss-install-test";
const SUDOERS = "tsss-install-test";
const TARGET = `${process.platform}-${process.arch}`;
const NATIVE = ["tsss_native.node", "tsss-reaper"] as const;
const COMPILERS = ["cc", "gcc", "g++", "c++", "clang", "make", "cmake", "python3", "python", "x86_64-linux-gnu-gcc"];

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function commandPath(name: string): string {
  return fs.realpathSync(execFileSync("sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" }).trim());
}

interface Toolbox {
  dir: string;
  /** PATH with node (the one under test), npm and sh: no compiler, no make, no python. */
  bin: string;
  home: string;
  /** Fresh for every install that must not find anything cached. */
  emptyCache(): string;
}

function makeToolbox(): Toolbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-install-"));
  fs.chmodSync(dir, 0o755);
  const bin = path.join(dir, "bin");
  const home = path.join(dir, "home");
  fs.mkdirSync(bin);
  fs.mkdirSync(home);
  fs.symlinkSync(fs.realpathSync(process.execPath), path.join(bin, "node"));
  fs.symlinkSync(commandPath("npm"), path.join(bin, "npm"));
  fs.symlinkSync("/bin/sh", path.join(bin, "sh")); // npm runs install scripts with `sh -c`
  let caches = 0;
  return {
    dir,
    bin,
    home,
    emptyCache: () => {
      const cache = path.join(dir, `cache-${++caches}`);
      fs.mkdirSync(cache);
      return cache;
    },
  };
}

interface NpmRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** npm with nothing from this environment: only the given PATH, a fresh HOME, no user npmrc. */
function npm(toolbox: Toolbox, args: string[], options: { path?: string; env?: Record<string, string>; cwd?: string } = {}): NpmRun {
  const env = {
    PATH: options.path ?? toolbox.bin,
    HOME: toolbox.home,
    npm_config_userconfig: path.join(toolbox.home, "no-npmrc"),
    npm_config_update_notifier: "false",
    LANG: "C",
    ...options.env,
  };
  const result = spawnSync("npm", args, { cwd: options.cwd ?? toolbox.dir, env, encoding: "utf8", timeout: 600_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function installArgs(cache: string, prefix: string, tarball: string): string[] {
  return ["install", "-g", "--offline", "--cache", cache, "--prefix", prefix, "--no-audit", "--no-fund", "--foreground-scripts", tarball];
}

function installation(prefix: string): Installation {
  const binDir = path.join(prefix, "bin");
  return { prefix, binDir, mediator: path.join(binDir, "ts-sudospawner"), packageDir: path.join(prefix, "lib/node_modules/ts-sudospawner") };
}

function tarballFiles(tarball: string): string[] {
  return execFileSync("tar", ["tzf", tarball], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }).split("\n").filter(Boolean);
}

function tarballFile(tarball: string, name: string): Buffer {
  return execFileSync("tar", ["xzOf", tarball, `package/${name}`], { maxBuffer: 64 * 1024 * 1024 });
}

interface SbomComponent {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  licenses?: Array<{ license?: { id: string }; expression?: string }>;
  hashes?: Array<{ alg: string; content: string }>;
  properties?: Array<{ name: string; value: string }>;
}

interface Sbom {
  bomFormat: string;
  specVersion: string;
  serialNumber: string;
  metadata: { component: SbomComponent };
  components: SbomComponent[];
  dependencies: Array<{ ref: string; dependsOn: string[] }>;
}

function sbomHash(sbom: Sbom, name: string): string | undefined {
  return sbom.components.find((c) => c.type === "file" && c.name === name)?.hashes?.find((h) => h.alg === "SHA-256")?.content;
}

function expectTrusted(file: string): void {
  const audit = auditPath(file, realFs, { trustedUids: new Set([0]) });
  expect(audit.exists, file).toBe(true);
  expect(audit.problems, file).toEqual([]);
  const stats = fs.statSync(file);
  expect(stats.uid).toBe(0);
  expect(stats.mode & 0o777).toBe(0o755);
}

describe.skipIf(skip)("the packed tarball", () => {
  it("carries the prebuilt parts, LICENSE, the third-party notices, the SBOM and node-addon-api", () => {
    const files = tarballFiles(fx.tarball);
    for (const name of [
      "LICENSE",
      "dist/THIRD-PARTY-NOTICES.txt",
      "dist/sbom.cdx.json",
      "prebuilds/manifest.json",
      `prebuilds/${TARGET}/tsss_native.node`,
      `prebuilds/${TARGET}/tsss-reaper`,
      "scripts/native/install-native.mjs",
      "scripts/native/verify-native.mjs",
      "node_modules/node-addon-api/napi.h",
      "node_modules/node-addon-api/LICENSE.md",
    ]) {
      expect(files, name).toContain(`package/${name}`);
    }
    expect(tarballFile(fx.tarball, "LICENSE").toString()).toMatch(/^BSD 3-Clause License\n\nCopyright \(c\) 2026, the ts-sudospawner authors\n/);
    // Nothing from the build tree ships: the install makes build/ itself.
    expect(files.filter((f) => f.startsWith("package/build/"))).toEqual([]);
    const manifest = JSON.parse(tarballFile(fx.tarball, "package.json").toString()) as { bundleDependencies?: string[]; dependencies?: Record<string, string> };
    expect(manifest.bundleDependencies).toEqual(Object.keys(manifest.dependencies ?? {}));
  });

  it("names every bundled package in the notices and the SBOM, and the SBOM has the prebuilt files' hashes", () => {
    const notices = tarballFile(fx.tarball, "dist/THIRD-PARTY-NOTICES.txt").toString();
    const sbom = JSON.parse(tarballFile(fx.tarball, "dist/sbom.cdx.json").toString()) as Sbom;
    const bundled = (JSON.parse(tarballFile(fx.tarball, "dist/third-party.json").toString()) as { packages: Array<{ name: string; version: string; license: string }> }).packages;
    const names = bundled.map((p) => p.name);
    for (const name of ["commander", "ws"]) expect(names).toContain(name);
    for (const p of bundled) {
      expect(notices).toContain(`\n${p.name} ${p.version}\nLicence: ${p.license}\n`);
      const component = sbom.components.find((c) => c.type === "library" && c.name === p.name && c.version === p.version);
      expect(component, p.name).toBeDefined();
      expect(component?.hashes?.[0]?.alg).toBe("SHA-512");
    }
    expect(notices).toMatch(/Permission is hereby granted, free of charge/); // the MIT texts themselves
    expect(sbom).toMatchObject({ bomFormat: "CycloneDX", specVersion: "1.5" });
    expect(sbom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sbom.metadata.component).toMatchObject({ name: "ts-sudospawner", licenses: [{ license: { id: "BSD-3-Clause" } }] });
    const addonApi = sbom.components.find((c) => c.name === "node-addon-api");
    expect(addonApi?.properties?.[0]?.value).toMatch(/^installed as node_modules\/node-addon-api \(bundleDependencies/);
    for (const file of NATIVE) {
      const name = `prebuilds/${TARGET}/${file}`;
      expect(sbomHash(sbom, name), name).toBe(createHash("sha256").update(tarballFile(fx.tarball, name)).digest("hex"));
    }
    expect(sbomHash(sbom, "dist/cli.cjs")).toBe(createHash("sha256").update(tarballFile(fx.tarball, "dist/cli.cjs")).digest("hex"));
  });
});

describe.skipIf(skip)("an offline install with an empty npm cache and no compiler", () => {
  let toolbox: Toolbox;
  let install: Installation;
  let first: NpmRun;
  let installSeconds = 0;

  beforeAll(() => {
    fs.rmSync(PREFIX, { recursive: true, force: true });
    removeSudoers(SUDOERS);
    toolbox = makeToolbox();
    fs.mkdirSync(PREFIX, { mode: 0o755 });
    fs.chmodSync(PREFIX, 0o755);
    const started = Date.now();
    first = npm(toolbox, installArgs(toolbox.emptyCache(), PREFIX, fx.tarball));
    installSeconds = (Date.now() - started) / 1000;
    process.stderr.write(`install test: offline install without a compiler took ${installSeconds.toFixed(1)} s on ${process.version}\n`);
    install = installation(PREFIX);
  }, 600_000);

  afterAll(() => {
    for (const user of fx.users) killUserProcesses(user);
    removeSudoers(SUDOERS);
    fs.rmSync(PREFIX, { recursive: true, force: true });
    if (toolbox) fs.rmSync(toolbox.dir, { recursive: true, force: true });
  });

  it("has really no compiler, make or python on the install's PATH", () => {
    for (const tool of COMPILERS) {
      const found = spawnSync("sh", ["-c", 'command -v "$1"', "sh", tool], { env: { PATH: toolbox.bin } });
      expect(found.status, `${tool} must not be on PATH`).not.toBe(0);
    }
  });

  it("succeeds, and says it used the prebuilt parts", () => {
    expect(first.status, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stderr).toContain(`ts-sudospawner: installed the prebuilt native parts for ${TARGET} (no compiler used)`);
    expect(first.stderr).not.toMatch(/node-gyp|building from source/);
  });

  it("puts the prebuilt files where the mediator looks, root-owned and passing its path-trust audit", () => {
    const release = path.join(install.packageDir, "build/Release");
    expect(fs.readdirSync(release).sort()).toEqual([...NATIVE].sort()); // nothing of a node-gyp build
    for (const file of NATIVE) {
      const installed = path.join(release, file);
      expectTrusted(installed);
      expect(sha256(installed)).toBe(sha256(path.join(install.packageDir, "prebuilds", TARGET, file)));
    }
    for (const dir of ["build", "build/Release"]) expect(fs.statSync(path.join(install.packageDir, dir)).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(path.join(install.packageDir, "node_modules/node-addon-api/napi.h"))).toBe(true);
    // verify-native.mjs (the admin guide's check) agrees: both are the SBOM's prebuilt files.
    const verify = run(process.execPath, [path.join(install.packageDir, "scripts/native/verify-native.mjs")]);
    expect(verify.status, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`tsss_native.node: sha256 [0-9a-f]{64} \\(uid 0, mode 755\\) = the SBOM's prebuilds/${TARGET}/tsss_native.node: the prebuilt file`));
  });

  it("answers --help and spawns and stops a server through real sudo, on the node under test", async () => {
    installDemoSingleUser(install);
    installSudoers(
      SUDOERS,
      [`# ts-sudospawner install test (removed after the suite)`, `Defaults:${fx.hub} !requiretty`, `${fx.hub} ALL=(%${fx.group}) NOPASSWD: ${install.mediator}`, ""].join("\n"),
    );
    const alice = userInfo(fx.users[0] as string);
    const help = run("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, install.mediator, "--help"]);
    expect(help.stderr).toBe("");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^ts-sudospawner \d+\.\d+\.\d+ - start and stop JupyterHub single-user servers/);

    // The mediator itself (alice's process running the installed bundle) runs on this node.
    const port = await freePort();
    const watcher = watchMediatorExe(alice.name, install.mediator);
    const spawned = await runMediatorAs(fx.hub, alice.name, install.mediator, spawnRequest(port));
    // Before their exec, sudo's child and `env` carry the mediator's path too: only what runs it counts.
    const exes = [...watcher.stop()].filter((exe) => !["/usr/bin/sudo", "/usr/bin/env"].includes(exe));
    expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    expect(exes, "the node that ran the mediator").toEqual([fs.realpathSync(process.execPath)]);
    const pid = spawned.answer?.pid as number;
    await waitForDemoServer(port);
    const reaper = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^PPid:\s+(\d+)$/m)?.[1];
    expect(fs.readlinkSync(`/proc/${reaper}/exe`)).toBe(path.join(install.packageDir, "build/Release/tsss-reaper"));
    const stopped = await runMediatorAs(fx.hub, alice.name, install.mediator, killRequest(pid, 15));
    expect(stopped.answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to be gone`);
    await waitFor(() => userProcesses(alice.name).every((p) => procState(p) === "Z" || procState(p) === undefined), 5_000, "alice's processes to end");
  });

  it("fails clearly, offline and without a compiler, when the prebuilt addon does not load", () => {
    withBrokenPrebuiltAddon(install.packageDir, () => {
      const rebuilt = npm(toolbox, ["rebuild", "-g", "--offline", "--cache", toolbox.emptyCache(), "--prefix", PREFIX, "--foreground-scripts", "ts-sudospawner"]);
      expect(rebuilt.status).not.toBe(0);
      expect(rebuilt.stderr).toMatch(/ts-sudospawner: not using prebuilt native parts: the prebuilt addon does not load in this node .*; building from source instead/);
      expect(rebuilt.stderr).toMatch(/ts-sudospawner: ERROR: node-gyp failed/);
      expect(rebuilt.stderr).toContain("The native build needs a C/C++ toolchain, make, python3 and static glibc");
      // TS_SUDOSPAWNER_NATIVE=prebuilt never tries to compile.
      const strict = npm(toolbox, ["rebuild", "-g", "--offline", "--cache", toolbox.emptyCache(), "--prefix", PREFIX, "--foreground-scripts", "ts-sudospawner"], {
        env: { TS_SUDOSPAWNER_NATIVE: "prebuilt" },
      });
      expect(strict.status).not.toBe(0);
      expect(strict.stderr).toMatch(/ts-sudospawner: ERROR: TS_SUDOSPAWNER_NATIVE=prebuilt but the prebuilt addon does not load/);
      expect(strict.stderr).not.toMatch(/node-gyp/);
    });
  });

  it("builds from source, offline, when the prebuilt addon does not load and a compiler is there; and when forced", () => {
    const fullPath = `${toolbox.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
    withBrokenPrebuiltAddon(install.packageDir, () => {
      const rebuilt = npm(toolbox, ["rebuild", "-g", "--offline", "--cache", toolbox.emptyCache(), "--prefix", PREFIX, "--foreground-scripts", "ts-sudospawner"], { path: fullPath });
      expect(rebuilt.status, rebuilt.stderr).toBe(0);
      expect(rebuilt.stderr).toMatch(/not using prebuilt native parts: the prebuilt addon does not load in this node/);
      expect(rebuilt.stderr).toContain("ts-sudospawner: built build/Release/tsss_native.node and build/Release/tsss-reaper from source");
    });
    for (const file of NATIVE) expectTrusted(path.join(install.packageDir, "build/Release", file));
    const forced = npm(toolbox, ["rebuild", "-g", "--offline", "--cache", toolbox.emptyCache(), "--prefix", PREFIX, "--foreground-scripts", "--build-from-source", "ts-sudospawner"], {
      path: fullPath,
    });
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain("ts-sudospawner: npm --build-from-source: building from source, not using prebuilt native parts");
    for (const file of NATIVE) expectTrusted(path.join(install.packageDir, "build/Release", file));
    // The source-built reaper is not the prebuilt file, and verify-native.mjs says so.
    const verify = run(process.execPath, [path.join(install.packageDir, "scripts/native/verify-native.mjs")]);
    expect(verify.status).toBe(1);
    expect(verify.stdout).toMatch(/tsss-reaper: sha256 [0-9a-f]{64} \(uid 0, mode 755\) differs from the SBOM's prebuilds\/.*: built from source, or changed since/);
    const help = run("sudo", ["-u", fx.hub, "sudo", "-n", "-u", fx.users[0] as string, install.mediator, "--help"]);
    expect(help.status, help.stderr).toBe(0);
  });
});

describe.skipIf(skip)("a client-only install (TS_SUDOSPAWNER_NATIVE=skip)", () => {
  let toolbox: Toolbox;
  let project: string;

  beforeAll(() => {
    toolbox = makeToolbox();
    project = path.join(toolbox.dir, "hub-app");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "hub-app", version: "1.0.0", private: true, type: "module" }));
  });

  afterAll(() => {
    if (toolbox) fs.rmSync(toolbox.dir, { recursive: true, force: true });
  });

  it("installs offline without a compiler, builds and runs nothing native, and the client imports", () => {
    const installed = npm(toolbox, ["install", "--offline", "--cache", toolbox.emptyCache(), "--no-audit", "--no-fund", "--foreground-scripts", fx.tarball], {
      cwd: project,
      env: { TS_SUDOSPAWNER_NATIVE: "skip" },
    });
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stderr).toContain("ts-sudospawner: TS_SUDOSPAWNER_NATIVE=skip: no native parts built or installed (a client-only install");
    expect(installed.stderr).not.toMatch(/prebuilt native parts for|node-gyp|from source/);
    const packageDir = path.join(project, "node_modules/ts-sudospawner");
    expect(fs.existsSync(path.join(packageDir, "build"))).toBe(false);

    // The client loads no .node file: nothing native is mapped into the importing process.
    const script = [
      'import { SudoSpawner } from "ts-sudospawner";',
      "import fs from 'node:fs';",
      "const maps = fs.readFileSync('/proc/self/maps', 'utf8');",
      "console.log(JSON.stringify({ type: typeof SudoSpawner, native: maps.split('\\n').filter((l) => l.endsWith('.node')) }));",
    ].join("\n");
    const imported = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: project, encoding: "utf8", env: { PATH: toolbox.bin } });
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual({ type: "function", native: [] });
    // A CommonJS hub loads it too (require of an ES module: Node 20.19 and later).
    const required = spawnSync(process.execPath, ["-e", 'console.log(typeof require("ts-sudospawner").SudoSpawner)'], { cwd: project, encoding: "utf8", env: { PATH: toolbox.bin } });
    expect([required.status, required.stdout.trim()], required.stderr).toEqual([0, "function"]);
  });
});

/** Make the installed package's prebuilt addon unloadable, keeping its manifest entry consistent. */
/** Run `body` with a prebuilt addon that does not load (its manifest hash updated to match), then put both back. */
function withBrokenPrebuiltAddon(packageDir: string, body: () => void): void {
  const file = path.join(packageDir, "prebuilds", TARGET, "tsss_native.node");
  const manifestFile = path.join(packageDir, "prebuilds/manifest.json");
  const good = fs.readFileSync(file);
  const manifestText = fs.readFileSync(manifestFile, "utf8");
  try {
    fs.writeFileSync(file, Buffer.from("\x7fELF this is not a shared object\n"));
    const manifest = JSON.parse(manifestText) as { targets: Record<string, { files: Record<string, { sha256: string }> }> };
    (manifest.targets[TARGET] as { files: Record<string, { sha256: string }> }).files["tsss_native.node"] = { sha256: sha256(file) };
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
    body();
  } finally {
    fs.writeFileSync(file, good);
    fs.writeFileSync(manifestFile, manifestText);
  }
}

/** Collects /proc/PID/exe of `user`'s processes running `mediator` until stopped. */
function watchMediatorExe(user: string, mediator: string): { stop(): Set<string> } {
  const exes = new Set<string>();
  const uid = userInfo(user).uid;
  const timer = setInterval(() => {
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.statSync(`/proc/${entry}`).uid !== uid) continue;
        const argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
        if (argv.some((arg) => arg === mediator || arg.endsWith("/ts-sudospawner/dist/cli.cjs"))) exes.add(fs.readlinkSync(`/proc/${entry}/exe`));
      } catch {
        // gone meanwhile
      }
    }
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return exes;
    },
  };
}

