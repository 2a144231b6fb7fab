#!/usr/bin/env node
// The Node matrix of `npm test`: the unit and process suites, and the integration files that
// drive every entry point of the mediator through real sudo (MATRIX_INTEGRATION below), again on
// each other supported Node. test/e2e, the VM tier and the rest of test/integration run once, on
// the system node, in `vitest run`. Their official binaries come from the npm registry itself:
// `npm pack node-linux-<arch>@<major>` holds package/bin/node and package/include/node.
//
//   node scripts/test/test-node-matrix.mjs            Node 22 and 24 (TSSS_NODE_MATRIX="22,24")
//   TSSS_NODE_MATRIX=24 node scripts/...         one of them; TSSS_NODE_MATRIX=none skips loudly
//                                                (with CI set: fails, see scripts/test/prerequisites.mjs)
//
// Each run puts that node first on PATH; as root it also sets TSSS_TEST_NODE_ON_PATH=1, so the
// integration fixture (test/helpers/node-under-test.ts) links it to /usr/local/bin/node for the run
// and checks through sudo that the mediator runs on it; the link is removed afterwards (here too,
// whatever happened). The built addon in build/Release (Node-API 8) is loaded as it is: it is the
// same file on every Node. Prints the time per Node; fails when any run failed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MissingPrerequisite, prerequisiteMissing } from "./prerequisites.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = path.join(os.tmpdir(), "tsss-node-matrix");
const LINK = "/usr/local/bin/node";
const BACKUP = "/usr/local/bin/.node.tsss-test-backup";
const MARK = "/usr/local/bin/.node.tsss-test-link";

/**
 * The integration files each further Node runs: together they reach every path of the mediator
 * that touches the runtime (stdin, the addon, fork and exec through the reaper, signals, files,
 * the admin commands, the hub client, Slurm mode). What they leave out runs once on the system
 * node: the 10,000-input fuzz (its parser is pure code the unit suite runs on every Node), load
 * and policy breadth (policy, vocabulary, stress, sandbox, security-claims), the Slurm cluster
 * files, the Python-sudospawner migration, and what does not depend on Node at all (prebuilt
 * parts, SBOM). A listed file that does not exist fails the run.
 */
export const MATRIX_INTEGRATION = [
  "test/integration/spawn/mediator.test.ts",
  "test/integration/security/hardening.test.ts",
  "test/integration/install/install.test.ts",
  "test/integration/spawn/faults.test.ts",
  "test/integration/spawn/pid-reuse.test.ts",
  "test/integration/spawn/reconcile.test.ts",
  "test/integration/accounts/accounts.test.ts",
  "test/integration/accounts/homes.test.ts",
  "test/integration/admin/admin.test.ts",
  "test/integration/admin/check-hazards.test.ts",
  "test/integration/admin/check-cgroup.test.ts",
  "test/integration/spawn/exec-size.test.ts",
  "test/integration/spawn/server-log-full.test.ts",
  "test/integration/hub/hub-client.test.ts",
  "test/integration/slurm/slurm.test.ts",
];

function log(message) {
  console.error(`node matrix: ${message}`);
}

function fail(message) {
  log(`ERROR: ${message}`);
  process.exit(1);
}

/** The same undo as test/helpers/node-under-test.ts, for a run that died before its teardown. */
function restoreNodeLink() {
  if (fs.existsSync(MARK)) {
    fs.rmSync(LINK, { force: true });
    fs.rmSync(MARK, { force: true });
  }
  if (fs.existsSync(BACKUP) && !fs.existsSync(LINK)) fs.renameSync(BACKUP, LINK);
}

/** `^20.19.0 || ^22.12.0 || ^24.0.0`: enough of semver for the engines field we write. */
function satisfiesEngines(version, range) {
  const [major, minor, patch] = version.replace(/^v/, "").split(".").map(Number);
  return range.split("||").some((part) => {
    const m = /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(part);
    if (!m) fail(`cannot read the engines range part "${part}"`);
    const [wantMajor, wantMinor, wantPatch] = m.slice(1).map(Number);
    return major === wantMajor && (minor > wantMinor || (minor === wantMinor && patch >= wantPatch));
  });
}

/** The highest of `npm view ... version --json` (one string, or an array in no useful order). */
export function newestVersion(versions) {
  const list = Array.isArray(versions) ? versions : [versions];
  const key = (v) => v.split(".").map(Number);
  return list.reduce((best, v) => {
    const [a, b] = [key(v), key(best)];
    for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i] ? v : best;
    return best;
  });
}

/** node-linux-<arch>@<major> from the npm registry, unpacked once per exact version (bin/node and
 *  the top-level headers in include/node, enough for node-gyp --nodedir with a Node-API addon). */
export function fetchNode(major) {
  const pkg = `node-linux-${process.arch}@${major}`;
  fs.mkdirSync(CACHE, { recursive: true, mode: 0o755 });
  const view = spawnSync("npm", ["view", pkg, "version", "--json"], { encoding: "utf8", cwd: CACHE });
  if (view.status !== 0) fail(`npm view ${pkg} failed: ${view.stderr.trim()}`);
  const version = newestVersion(JSON.parse(view.stdout));
  const dir = path.join(CACHE, `node-v${version}`);
  const node = path.join(dir, "bin", "node");
  if (!fs.existsSync(path.join(dir, ".complete"))) {
    const started = Date.now();
    fs.rmSync(dir, { recursive: true, force: true });
    const download = fs.mkdtempSync(path.join(CACHE, "download-"));
    try {
      const packed = spawnSync("npm", ["pack", `node-linux-${process.arch}@${version}`, "--silent", "--pack-destination", download], { encoding: "utf8", cwd: download });
      if (packed.status !== 0) fail(`npm pack node-linux-${process.arch}@${version} failed: ${packed.stderr.trim()}`);
      const tarball = path.join(download, packed.stdout.trim().split("\n").pop());
      fs.mkdirSync(dir, { recursive: true });
      const untar = spawnSync("tar", ["xzf", tarball, "-C", dir, "--strip-components=1", "--no-same-owner", "--exclude=package/include/node/*/*", "package/bin/node", "package/include"], { encoding: "utf8" });
      if (untar.status !== 0) fail(`unpacking ${tarball} failed: ${untar.stderr.trim()}`);
    } finally {
      fs.rmSync(download, { recursive: true, force: true });
    }
    // Root-owned and not writable by others: the mediator's install audit looks at the node sudo runs.
    spawnSync("chmod", ["-R", "go-w", dir]);
    for (const d of [CACHE, dir, path.dirname(node)]) fs.chmodSync(d, 0o755);
    fs.writeFileSync(path.join(dir, ".complete"), `${version}\n`);
    log(`fetched ${pkg} -> ${version} in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
  }
  const reported = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout?.trim();
  if (reported !== `v${version}`) fail(`${node} says ${reported ?? "nothing"}, expected v${version}`);
  return { version: `v${version}`, node, dir };
}

function runSuites(target) {
  const isRoot = process.getuid?.() === 0;
  const env = {
    ...process.env,
    PATH: `${path.dirname(target.node)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    TSSS_NODE_MATRIX_RUN: target.version,
    ...(isRoot ? { TSSS_TEST_NODE_ON_PATH: "1" } : {}),
  };
  // npm test's own settings (npm_node_execpath, npm_config_node_gyp...) name the system node's tools.
  for (const key of Object.keys(env)) if (/^npm_(node_execpath|execpath)$/i.test(key)) delete env[key];
  const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs");
  const args = [vitest, "run", "--project", "unit", "--project", "process", "--project", "integration", "test/unit/", "test/process/", ...MATRIX_INTEGRATION];
  log(`${target.version}: ${target.node} ${args.map((a) => path.relative(root, a) || a).join(" ")}`);
  const started = Date.now();
  const result = spawnSync(target.node, args, { cwd: root, env, stdio: "inherit" });
  const seconds = (Date.now() - started) / 1000;
  if (isRoot) restoreNodeLink();
  return { ...target, seconds, ok: result.status === 0, status: result.status ?? result.signal };
}

function main() {
  const wanted = (process.env.TSSS_NODE_MATRIX ?? "22,24").trim();
  if (wanted === "none" || wanted === "") {
    try {
      prerequisiteMissing("the Node matrix (scripts/test/test-node-matrix.mjs)", `TSSS_NODE_MATRIX=${wanted || '""'}: only the system node was tested`);
    } catch (error) {
      if (error instanceof MissingPrerequisite) fail(error.message);
      throw error;
    }
    return;
  }
  const engines = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).engines.node;
  if (!satisfiesEngines(process.version, engines)) fail(`the system node ${process.version} is outside engines ${engines}`);
  const missing = MATRIX_INTEGRATION.filter((file) => !fs.existsSync(path.join(root, file)));
  if (missing.length > 0) fail(`MATRIX_INTEGRATION names files that do not exist: ${missing.join(", ")}`);
  const majors = wanted.split(",").map((v) => v.trim());
  const targets = majors.map(fetchNode);
  for (const target of targets) {
    if (!satisfiesEngines(target.version, engines)) fail(`${target.version} is outside engines ${engines}: widen engines only for what is tested`);
  }
  for (const outside of ["v18.20.0", "v21.7.0", "v23.11.0", "v25.0.0"]) {
    if (satisfiesEngines(outside, engines)) fail(`engines ${engines} admits the untested ${outside}`);
  }
  const onSignal = (signal) => {
    if (process.getuid?.() === 0) restoreNodeLink();
    process.kill(process.pid, signal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const results = targets.map(runSuites);
  log(`summary (unit, process and ${MATRIX_INTEGRATION.length} integration files; the system node ${process.version} ran every suite in \`vitest run\` before):`);
  for (const r of results) log(`  ${r.version.padEnd(10)} ${r.ok ? "passed" : `FAILED (${r.status})`}  ${r.seconds.toFixed(0)} s`);
  if (!results.every((r) => r.ok)) process.exit(1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
