#!/usr/bin/env node
// Alternative build of the same sources with cmake-js (npm run build:cmake):
// build-cmake/Release/tsss_native.node and build-cmake/Release/tsss-reaper.
// native/package.json declares napi_versions, which puts cmake-js in
// Node-API mode: it then needs no Node.js headers download and works offline.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = path.join(root, "build-cmake");
const outputs = ["Release/tsss_native.node", "Release/tsss-reaper"].map((file) => path.join(outDir, file));

function log(message) {
  console.error(`ts-sudospawner: ${message}`);
}

function fail(message) {
  log(`ERROR: ${message}`);
  log("The cmake build needs cmake >= 3.15, a C/C++ toolchain and static glibc:");
  log("  Debian/Ubuntu: apt-get install cmake g++ make libc6-dev");
  log("and the cmake-js dev dependency (npm install).");
  process.exit(1);
}

function findCmakeJs() {
  try {
    return createRequire(path.join(root, "package.json")).resolve("cmake-js/bin/cmake-js");
  } catch {
    return fail("cmake-js not found");
  }
}

function build() {
  const args = [findCmakeJs(), "rebuild", "--directory", path.join(root, "native"), "--out", outDir];
  log(`building native addon with cmake-js (${args.join(" ")}) ...`);
  const result = spawnSync(process.execPath, args, {
    cwd: root,
    stdio: ["ignore", process.stderr, process.stderr],
  });
  if (result.error) fail(`could not run cmake-js: ${result.error.message}`);
  if (result.status !== 0) fail(`cmake-js failed (${result.signal ?? `exit status ${result.status}`})`);
}

function finish() {
  for (const file of outputs) {
    if (!existsSync(file)) fail(`build finished but ${path.relative(root, file)} is missing`);
    chmodSync(file, 0o755);
  }
  log(`built ${outputs.map((file) => path.relative(root, file)).join(" and ")}`);
}

build();
finish();
