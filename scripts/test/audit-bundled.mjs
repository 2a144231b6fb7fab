#!/usr/bin/env node
// npm audit over exactly what ships: the packages esbuild bundled into dist/ (dist/third-party.json,
// written by scripts/package/build-ts.mjs from esbuild's metafile) and the bundleDependencies. npm audit
// cannot see bundled code in an installed copy, and a plain `npm audit` here would mix in the
// dev-only tools; so this writes a throwaway project whose lockfile holds just these packages, at
// the versions and paths of package-lock.json, and runs `npm audit --package-lock-only` on it.
//
// Exit 0: no high or critical advisory. Exit 1: some (listed). Exit 2: the audit could not be done
// - never a silent pass. Part of `npm test`. Two kinds of exit 2:
//   - a build defect (dist/third-party.json missing or unreadable, a shipped package absent from
//     package-lock.json) or an audit that failed on our side or on the way (npm not runnable, the
//     endpoint unreachable, an answer that is not an audit report): always a failure;
//   - the registry's refusal of the audit request itself (an HTTP answer 401, 403, 404, 405 or 501
//     to npm's audit POST: a registry or proxy that serves only GET). Where that refusal is known
//     (this workplace's registry answers 405), TSSS_AUDIT_REFUSED=warn turns this one case, and
//     only it, into a banner and exit 0. Nothing sets it by default; .ci/run does.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FAILING = new Set(["high", "critical"]);

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  console.error(`\n${"!".repeat(width)}\n${lines.map((l) => `!! ${l}`).join("\n")}\n${"!".repeat(width)}\n`);
}

/** HTTP answers to the audit POST that mean "this registry does not take audit requests". */
const REFUSALS = new Set([401, 403, 404, 405, 501]);

/** The audit could not be done: always a failure. */
function notDone(reason) {
  banner([
    "AUDIT NOT DONE: npm audit of the bundled packages could not run.",
    reason,
    "This is a failure, not a pass: nobody has checked the bundled code for advisories.",
  ]);
  process.exit(2);
}

/** The build is wrong: what ships cannot even be named. Always a failure. */
function defect(reason) {
  banner(["AUDIT NOT DONE: a build defect.", reason, "This is a failure: fix the build (npm run build:ts writes dist/third-party.json)."]);
  process.exit(2);
}

/** The registry refused the audit request: a failure, or with TSSS_AUDIT_REFUSED=warn a warning. */
function refused(status, reason) {
  const warnOnly = process.env.TSSS_AUDIT_REFUSED === "warn";
  banner([
    `AUDIT NOT DONE: the registry refused npm's audit request (HTTP ${status}).`,
    reason,
    warnOnly
      ? "TSSS_AUDIT_REFUSED=warn: exiting 0 for this refusal, but nobody has checked the bundled code for advisories."
      : "This is a failure, not a pass: nobody has checked the bundled code for advisories (TSSS_AUDIT_REFUSED=warn accepts a known refusal).",
  ]);
  process.exit(warnOnly ? 0 : 2);
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

function auditedPackages() {
  const manifest = readJson(path.join(root, "package.json"));
  const lock = readJson(path.join(root, "package-lock.json"));
  let bundled;
  try {
    bundled = readJson(path.join(root, "dist", "third-party.json")).packages;
  } catch (error) {
    defect(`dist/third-party.json is missing or unreadable (${error.message}); run npm run build:ts first`);
  }
  if (!Array.isArray(bundled)) defect("dist/third-party.json has no packages list");
  const paths = [...bundled.map((p) => p.path), ...(manifest.bundleDependencies ?? []).map((name) => `node_modules/${name}`)];
  const packages = {};
  for (const p of paths) {
    const entry = lock.packages[p];
    if (!entry) defect(`${p} ships but is not in package-lock.json`);
    // Only what npm audit needs to place the package: no dev flag, no dependency edges we do not ship.
    packages[p] = { version: entry.version, ...(entry.resolved ? { resolved: entry.resolved } : {}), ...(entry.integrity ? { integrity: entry.integrity } : {}), license: entry.license };
  }
  return { name: manifest.name, version: manifest.version, packages };
}

function main() {
  const { name, version, packages } = auditedPackages();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-audit-"));
  // On "exit", not in a finally: every verdict ends the process with process.exit().
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  // Every package becomes a direct dependency of the throwaway root, nested ones included
  // (their path in the lockfile keeps them where they are).
  const dependencies = Object.fromEntries(
    Object.entries(packages)
      .filter(([p]) => p.split("node_modules/").length === 2)
      .map(([p, e]) => [p.slice("node_modules/".length), e.version]),
  );
  const rootEntry = { name: `${name}-shipped`, version, dependencies };
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(rootEntry, null, 2));
  fs.writeFileSync(
    path.join(dir, "package-lock.json"),
    JSON.stringify({ name: rootEntry.name, version, lockfileVersion: 3, requires: true, packages: { "": rootEntry, ...packages } }, null, 2),
  );
  const list = Object.entries(packages).map(([p, e]) => `${p.replace(/^.*node_modules\//, "")}@${e.version}`);
  console.error(`audit: npm audit of ${list.length} shipped packages: ${list.join(", ")}`);
  // Not the npm_* settings of an `npm test` around us, except where the registry is and how to reach it.
  const keep = /^npm_config_(registry|proxy|https_proxy|noproxy|cafile|ca|strict_ssl)$/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.test(key)));
  const result = spawnSync("npm", ["audit", "--package-lock-only", "--json", "--audit-level=high"], { cwd: dir, env, encoding: "utf8", timeout: 120_000 });
  if (result.error) notDone(`could not run npm: ${result.error.message}`);
  let report;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    notDone(`npm audit gave no JSON answer (exit ${result.status}): ${(result.stderr || result.stdout).trim().slice(0, 600)}`);
  }
  if (report.error || report.message || !report.metadata?.vulnerabilities) {
    const message = report.error?.summary || report.message || JSON.stringify(report).slice(0, 300);
    // npm's JSON for an HTTP error answer carries its statusCode; a network failure has none.
    if (REFUSALS.has(report.statusCode)) refused(report.statusCode, message);
    notDone(`the registry's audit endpoint did not give an audit report: ${message}`);
  }
  const counts = report.metadata.vulnerabilities;
  const audited = report.metadata.dependencies?.total ?? list.length;
  const bad = Object.values(report.vulnerabilities ?? {}).filter((v) => FAILING.has(v.severity));
  console.error(`audit: ${audited} packages; advisories: ${["critical", "high", "moderate", "low", "info"].map((s) => `${s} ${counts[s] ?? 0}`).join(", ")}`);
  if (bad.length > 0) {
    banner([
      `npm audit found ${bad.length} shipped package(s) with high or critical advisories:`,
      ...bad.map((v) => `${v.name} (${v.range}): ${v.severity}; ${v.via.map((x) => (typeof x === "string" ? x : `${x.title} ${x.url}`)).join("; ")}`),
    ]);
    process.exit(1);
  }
  console.error("audit: no high or critical advisory in the shipped packages");
}

main();
