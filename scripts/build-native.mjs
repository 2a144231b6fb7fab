#!/usr/bin/env node
// Builds the native addon (build/Release/tsss_native.node) and the static
// reaper (build/Release/tsss-reaper) with node-gyp from binding.gyp.
//
// This is the package's npm "install" script, so it must also work for
// `npm install -g --prefix /opt/x ./ts-sudospawner-*.tgz` as root and offline:
// it uses npm's own node-gyp and the headers installed next to the running
// node, and never downloads anything when those headers exist.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
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
  const result = spawnSync(process.execPath, args, {
    cwd: root,
    // stdout stays clean for npm; binding.gyp runs `node`, so make it this one.
    stdio: ["ignore", process.stderr, process.stderr],
    env: { ...process.env, PATH: [path.dirname(process.execPath), process.env.PATH].filter(Boolean).join(path.delimiter) },
  });
  if (result.error) fail(`could not run node-gyp: ${result.error.message}`);
  if (result.status !== 0) fail(`node-gyp failed (${result.signal ?? `exit status ${result.status}`})`);
}

function finish() {
  for (const output of outputs) {
    const file = path.join(root, output);
    if (!existsSync(file)) fail(`build finished but ${output} is missing`);
    chmodSync(file, 0o755);
  }
  log(`built ${outputs.join(" and ")}`);
}

build();
finish();
