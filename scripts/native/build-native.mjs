#!/usr/bin/env node
// Builds the native addon (build/Release/tsss_native.node) and the static
// reaper (build/Release/tsss-reaper) from source with node-gyp from binding.gyp
// (npm run build:native, always from source).
//
// The npm "install" script (scripts/native/install-native.mjs) installs the prebuilt
// parts when they fit and calls buildFromSource() below when they do not, so
// this must also work for `npm install -g --prefix /opt/x ./ts-sudospawner-*.tgz`
// as root and offline: it uses npm's own node-gyp and the headers installed
// next to the running node, and never downloads anything when those headers exist.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const outputs = ["build/Release/tsss_native.node", "build/Release/tsss-reaper"];
// <prefix>/bin/node -> <prefix>, where npm and the headers are installed too.
const nodePrefix = path.dirname(path.dirname(process.execPath));

function log(message) {
  console.error(`ts-sudospawner: ${message}`);
}

function fail(message) {
  log(`ERROR: ${message}`);
  log("The native build needs a C/C++ toolchain, make, python3 and static glibc:");
  log("  Debian/Ubuntu: apt-get install g++ make python3 libc6-dev");
  log("  Fedora/RHEL:   dnf install gcc-c++ make python3 glibc-static");
  log("and the Node.js headers (include/node/node_api.h) next to the node binary,");
  log("e.g. the Debian package libnode-dev or an official Node.js tarball.");
  process.exit(1);
}

// node-gyp as npm runs it: npm sets npm_config_node_gyp in lifecycle scripts;
// outside npm, use the copy bundled with the npm that sits next to this node.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath &&
      path.join(path.dirname(process.env.npm_execpath), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    path.join(nodePrefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  return candidates.find((candidate) => candidate && existsSync(candidate));
}

function nodeGypArgs(nodeGyp) {
  const args = [nodeGyp, "rebuild", "--jobs=max"];
  // Explicit, so that neither ~/.npmrc nor a missing header cache matters.
  if (existsSync(path.join(nodePrefix, "include", "node", "node_api.h"))) {
    args.push(`--nodedir=${nodePrefix}`);
  } else {
    log(`no headers in ${nodePrefix}/include/node; node-gyp will look for (or download) them itself`);
  }
  return args;
}

function build() {
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) fail("node-gyp not found (looked at $npm_config_node_gyp and next to npm)");
  const args = nodeGypArgs(nodeGyp);
  log(`building native addon with node-gyp (${[nodeGyp, ...args.slice(1)].join(" ")}) ...`);
  // binding.gyp runs `node`: make it this one, through a directory holding only a link to it (not
  // node's own directory, which would put whatever else lives there, /usr/bin, on PATH).
  const nodeDir = mkdtempSync(path.join(tmpdir(), "tsss-node-"));
  symlinkSync(process.execPath, path.join(nodeDir, "node"));
  let result;
  try {
    result = spawnSync(process.execPath, args, {
      cwd: root,
      // stdout stays clean for npm.
      stdio: ["ignore", process.stderr, process.stderr],
      env: { ...process.env, PATH: [nodeDir, process.env.PATH].filter(Boolean).join(path.delimiter) },
    });
  } finally {
    rmSync(nodeDir, { recursive: true, force: true });
  }
  if (result.error) fail(`could not run node-gyp: ${result.error.message}`);
  if (result.status !== 0) fail(`node-gyp failed (${result.signal ?? `exit status ${result.status}`})`);
}

// The mediator trusts these files only when they and every directory above
// are not group/world-writable (src/install/path-trust.ts): whatever the
// umask, build/ and build/Release end up 0755 (the user the mediator runs as
// must reach them) and the outputs 0755.
export function secureOutputs() {
  for (const dir of ["build", "build/Release"]) {
    const full = path.join(root, dir);
    if (existsSync(full)) chmodSync(full, 0o755);
  }
  for (const output of outputs) {
    const file = path.join(root, output);
    if (!existsSync(file)) fail(`build finished but ${output} is missing`);
    chmodSync(file, 0o755);
  }
}

/** node-gyp rebuild of binding.gyp; exits the process with a hint when the toolchain is missing. */
export function buildFromSource() {
  build();
  secureOutputs();
  log(`built ${outputs.join(" and ")} from source`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) buildFromSource();
