#!/usr/bin/env node
// `npm test` after the build: every suite of the project, arranged so that a CI run on a 2-core
// machine stays within its budget. The parts and how they overlap:
//
//   1. as root: `npm pack` once; every part installs that tarball (TSSS_TEST_TARBALL);
//   2. the VM tier (vitest.vm.config.ts) starts at once, in the background, at nice 10: qemu TCG
//      is CPU-bound for about ten minutes, and the other suites leave a core idle much of the time
//      (they wait for servers, pip and the registry); at nice 10 it takes what they leave;
//   3. `vitest run`: unit, process, integration and e2e, on the system node;
//   4. the audit of the bundled packages (scripts/test/audit-bundled.mjs);
//   5. the Node matrix (scripts/test/test-node-matrix.mjs) and the pytest suite
//      (scripts/test/test-python.mjs) side by side: the matrix holds the host's run lock, pytest only
//      a venv of its own;
//   6. the VM tier's result.
//
// A failed part does not stop the others: one run reports every failure. The output of parts that
// run beside another is streamed with a prefix ("vm tier |", "python |"). Prints each part's time
// and fails when any part failed, ending with what each failed part said of its failures.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { FailureDigest } from "./failure-digest.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs");
const started = Date.now();
const children = new Set();
const results = [];

function log(message) {
  console.error(`npm test: ${message}`);
}

const elapsed = (since) => `${Math.round((Date.now() - since) / 1000)} s`;

/**
 * Run `file args` in a process group of its own; resolves with { name, ok, seconds, digest }. Its
 * output is streamed line by line, with `prefix` when it runs beside another part, and what it
 * says about failures is kept for the end of the run (scripts/test/failure-digest.mjs).
 */
function runPart(name, file, args, { env = process.env, prefix } = {}) {
  const since = Date.now();
  log(`${name}: starting (${elapsed(started)} into the run)`);
  const colour = process.stdout.isTTY && !("NO_COLOR" in env) ? { FORCE_COLOR: "1" } : {};
  const child = spawn(file, args, { cwd: root, env: { ...env, ...colour }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const digest = new FailureDigest();
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
      digest.add(line);
      out.write(prefix ? `${prefix} | ${line}\n` : `${line}\n`);
    });
  }
  return new Promise((resolve) => {
    child.on("error", (error) => log(`${name}: could not start: ${error.message}`));
    child.on("close", (status, signal) => {
      children.delete(child);
      const result = { name, ok: status === 0, status: status ?? signal, seconds: (Date.now() - since) / 1000, digest: digest.lines };
      log(`${name}: ${result.ok ? "passed" : `FAILED (${result.status})`} after ${elapsed(since)}`);
      results.push(result);
      resolve(result);
    });
  });
}

function stopChildren(signal) {
  for (const child of children) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    stopChildren(signal);
    setTimeout(() => process.exit(128 + (os.constants.signals[signal] ?? 0)), 2000).unref();
  });
}

/** As root: the one tarball of the run; undefined otherwise (the root suites then skip loudly). */
async function packOnce() {
  if (process.getuid?.() !== 0) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-pack-"));
  const since = Date.now();
  log("packing ts-sudospawner once for every part (npm pack builds the prebuilt native parts)...");
  const child = spawn("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  const status = await new Promise((resolve) => child.on("close", resolve));
  const name = out.trim().split("\n").pop();
  if (status !== 0 || !name) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`npm pack failed (exit status ${status})`);
  }
  log(`packed ${name} in ${elapsed(since)}`);
  return { dir, tarball: path.join(dir, name) };
}

async function main() {
  const pack = await packOnce();
  const env = pack ? { ...process.env, TSSS_TEST_TARBALL: pack.tarball } : process.env;
  try {
    const vmTier = runPart("the VM tier", "nice", ["-n", "10", process.execPath, vitest, "run", "-c", "vitest.vm.config.ts"], { env, prefix: "vm tier" });
    await runPart("vitest (unit, process, integration, e2e)", process.execPath, [vitest, "run"], { env });
    await runPart("the audit of the bundled packages", process.execPath, ["scripts/test/audit-bundled.mjs"], { env });
    await Promise.all([
      runPart("the Node matrix", process.execPath, ["scripts/test/test-node-matrix.mjs"], { env }),
      runPart("the Python tests", process.execPath, ["scripts/test/test-python.mjs"], { env, prefix: "python" }),
    ]);
    if (children.size > 0) log("waiting for the VM tier...");
    await vmTier;
  } finally {
    if (pack) fs.rmSync(pack.dir, { recursive: true, force: true });
  }
  log(`summary after ${elapsed(started)}:`);
  for (const r of results) log(`  ${r.ok ? "passed" : `FAILED (${r.status})`}  ${r.seconds.toFixed(0).padStart(5)} s  ${r.name}`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return;
  log("what each failed part said of its failures (its whole output is above):");
  for (const r of failed) {
    log(`  ${r.name}:`);
    for (const line of r.digest.length > 0 ? r.digest : ["(no failing test named: see its output above for the exit status's cause)"]) log(`    ${line}`);
  }
  process.exit(1);
}

main().catch((error) => {
  log(`ERROR: ${error instanceof Error ? error.message : String(error)}`);
  stopChildren("SIGTERM");
  process.exit(1);
});
