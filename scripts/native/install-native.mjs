#!/usr/bin/env node
// The package's npm "install" script: puts the native addon and the reaper where the mediator
// looks for them (build/Release/tsss_native.node and build/Release/tsss-reaper, see
// src/install/layout.ts), root-owned when installed as root and never group/world-writable.
//
// TS_SUDOSPAWNER_NATIVE chooses how (npm's --build-from-source means "source" too):
//   auto      (default) the prebuilt files of this platform-arch from prebuilds/, when they are
//             there, match their manifest, this is glibc >= 2.28, the addon loads in this very node
//             and the reaper runs; otherwise a build from source with node-gyp (needs g++, make,
//             python3, static glibc)
//   prebuilt  the prebuilt files or fail: never compiles
//   source    always build from source
//   skip      nothing native at all: a client-only install (import { SudoSpawner } on a hub host);
//             such a copy cannot run the mediator. `npm install --ignore-scripts` does the same.
// It says which one it did on stderr. It never downloads anything.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FILES = ["tsss_native.node", "tsss-reaper"];
const MODES = ["auto", "prebuilt", "source", "skip"];
const GLIBC_FLOOR = "2.28";

function log(message) {
  console.error(`ts-sudospawner: ${message}`);
}

function fail(message) {
  log(`ERROR: ${message}`);
  process.exit(1);
}

function chosenMode() {
  const raw = (process.env.TS_SUDOSPAWNER_NATIVE ?? "").trim().toLowerCase();
  if (raw !== "" && !MODES.includes(raw)) fail(`TS_SUDOSPAWNER_NATIVE=${raw} is not one of ${MODES.join(", ")}`);
  if (raw !== "") return { mode: raw, why: `TS_SUDOSPAWNER_NATIVE=${raw}` };
  if (process.env.npm_config_build_from_source === "true") return { mode: "source", why: "npm --build-from-source" };
  return { mode: "auto", why: "" };
}

function sha256(file) {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function versionAtLeast(version, floor) {
  const a = version.split(".").map(Number);
  const b = floor.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

// Run in a child node, so that an addon that crashes on load fails the check, not the install.
const ADDON_CHECK = `
const addon = require(process.argv[1]);
for (const name of ["spawnReaper", "kill", "reap", "strerror"]) {
  if (typeof addon[name] !== "function") throw new Error("no function " + name);
}
if (addon.kill(process.pid, 0) !== 0) throw new Error("kill(self, 0) failed");
if (typeof addon.strerror(2) !== "string") throw new Error("strerror failed");
process.stdout.write("ok");
`;

/** Why the prebuilt files of this platform cannot be used, or their paths when they can. */
function examinePrebuilt() {
  const target = `${process.platform}-${process.arch}`;
  const dir = path.join(root, "prebuilds", target);
  const files = FILES.map((file) => path.join(dir, file));
  if (!files.every((file) => fs.existsSync(file))) return { reason: `this package has no prebuilt files for ${target}` };
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(root, "prebuilds", "manifest.json"), "utf8"));
  } catch (error) {
    return { reason: `prebuilds/manifest.json is unreadable (${error.message})` };
  }
  for (const file of files) {
    const expected = manifest.targets?.[target]?.files?.[path.basename(file)]?.sha256;
    if (sha256(file) !== expected) return { reason: `prebuilds/${target}/${path.basename(file)} does not match its SHA-256 in prebuilds/manifest.json` };
  }
  const glibc = process.report?.getReport().header.glibcVersionRuntime;
  if (!glibc) return { reason: "this system's C library is not glibc (the prebuilt addon needs glibc >= 2.28)" };
  if (!versionAtLeast(glibc, GLIBC_FLOOR)) return { reason: `this is glibc ${glibc}; the prebuilt addon needs ${GLIBC_FLOOR} or newer` };

  const [addon, reaper] = files;
  const loaded = spawnSync(process.execPath, ["-e", ADDON_CHECK, addon], { encoding: "utf8", timeout: 60_000 });
  if (loaded.status !== 0 || loaded.stdout !== "ok") {
    const detail = (loaded.stderr || loaded.error?.message || `exit ${loaded.status ?? loaded.signal}`).trim().split("\n").slice(0, 6).join(" | ");
    return { reason: `the prebuilt addon does not load in this node (${process.execPath}, ${process.version}): ${detail}` };
  }
  // A trivial run: start this node as the "server", expect its start and exit status 7 on fd 3.
  const ran = spawnSync(reaper, ["--status-fd", "3", "--cwd", "/", "--", process.execPath, "-e", "process.exitCode = 7"], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    encoding: "utf8",
    timeout: 60_000,
  });
  const status = ran.output?.[3] ?? "";
  if (ran.status !== 0 || !/^P \d+\nX 7 0\n$/.test(status)) {
    const detail = (ran.error?.message ?? `exit ${ran.status ?? ran.signal}, status ${JSON.stringify(status)}, stderr ${JSON.stringify((ran.stderr ?? "").slice(0, 200))}`).trim();
    return { reason: `the prebuilt reaper does not run here: ${detail}` };
  }
  return { target, addon, reaper };
}

/** Copy next to the final name, then rename: a running reaper is never written to (ETXTBSY). */
function installFile(from, to) {
  const staging = path.join(path.dirname(to), `.${path.basename(to)}.${process.pid}.tmp`);
  fs.rmSync(staging, { force: true });
  fs.copyFileSync(from, staging);
  fs.chmodSync(staging, 0o755);
  fs.renameSync(staging, to);
}

function installPrebuilt(found) {
  const release = path.join(root, "build", "Release");
  fs.mkdirSync(release, { recursive: true });
  for (const dir of [path.join(root, "build"), release]) fs.chmodSync(dir, 0o755);
  installFile(found.addon, path.join(release, FILES[0]));
  installFile(found.reaper, path.join(release, FILES[1]));
  for (const file of FILES) {
    const installed = path.join(release, file);
    const stats = fs.statSync(installed);
    if (stats.uid !== process.geteuid() || (stats.mode & 0o022) !== 0) fail(`${installed} did not end up owned by uid ${process.geteuid()} and not group/world-writable`);
  }
  log(`installed the prebuilt native parts for ${found.target} (no compiler used): build/Release/${FILES[0]} sha256 ${sha256(found.addon)}, build/Release/${FILES[1]} sha256 ${sha256(found.reaper)}`);
}

async function main() {
  const { mode, why } = chosenMode();
  if (mode === "skip") {
    log(`${why}: no native parts built or installed (a client-only install: \`import { SudoSpawner } from "ts-sudospawner"\` works; this copy cannot run the mediator)`);
    return;
  }
  if (mode !== "source") {
    const found = examinePrebuilt();
    if (!("reason" in found)) {
      installPrebuilt(found);
      return;
    }
    if (mode === "prebuilt") fail(`${why} but ${found.reason}`);
    log(`not using prebuilt native parts: ${found.reason}; building from source instead`);
  } else {
    log(`${why}: building from source, not using prebuilt native parts`);
  }
  const { buildFromSource } = await import("./build-native.mjs");
  buildFromSource();
}

await main();
