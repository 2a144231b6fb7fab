#!/usr/bin/env node
// npm audit over exactly what ships: the packages esbuild bundled into dist/ (dist/third-party.json,
// written by scripts/build-ts.mjs from esbuild's metafile) and the bundleDependencies. npm audit
// cannot see bundled code in an installed copy, and a plain `npm audit` here would mix in the
// dev-only tools; so this writes a throwaway project whose lockfile holds just these packages, at
// the versions and paths of package-lock.json, and runs `npm audit --package-lock-only` on it.
//
// Exit 0: no high or critical advisory. Exit 1: some (listed). Exit 2: the audit could not be done
// (endpoint unreachable or refusing, unreadable answer) - never a silent pass. Part of `npm test`.
// Where the registry's audit endpoint is known to be blocked (a proxy that allows only GET), a CI
// may set TSSS_AUDIT_UNREACHABLE=warn: the same banner, exit 0. Nothing sets it by default.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FAILING = new Set(["high", "critical"]);

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  console.error(`\n${"!".repeat(width)}\n${lines.map((l) => `!! ${l}`).join("\n")}\n${"!".repeat(width)}\n`);
}

function unavailable(reason) {
  const warnOnly = process.env.TSSS_AUDIT_UNREACHABLE === "warn";
  banner([
    "AUDIT NOT DONE: npm audit of the bundled packages could not run.",
    reason,
    warnOnly
      ? "TSSS_AUDIT_UNREACHABLE=warn: exiting 0 anyway, but nobody has checked the bundled code for advisories."
      : "This is a failure, not a pass: nobody has checked the bundled code for advisories.",
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
    unavailable(`dist/third-party.json is missing (${error.message}); run npm run build:ts first`);
  }
  const paths = [...bundled.map((p) => p.path), ...(manifest.bundleDependencies ?? []).map((name) => `node_modules/${name}`)];
  const packages = {};
  for (const p of paths) {
    const entry = lock.packages[p];
    if (!entry) unavailable(`${p} is not in package-lock.json`);
    // Only what npm audit needs to place the package: no dev flag, no dependency edges we do not ship.
    packages[p] = { version: entry.version, ...(entry.resolved ? { resolved: entry.resolved } : {}), ...(entry.integrity ? { integrity: entry.integrity } : {}), license: entry.license };
  }
  return { name: manifest.name, version: manifest.version, packages };
}

function main() {
  const { name, version, packages } = auditedPackages();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-audit-"));
  try {
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
    if (result.error) unavailable(`could not run npm: ${result.error.message}`);
    let report;
    try {
      report = JSON.parse(result.stdout);
    } catch {
      unavailable(`npm audit gave no JSON answer (exit ${result.status}): ${(result.stderr || result.stdout).trim().slice(0, 600)}`);
    }
    if (report.error || report.message || !report.metadata?.vulnerabilities) {
      const message = report.error?.summary || report.message || JSON.stringify(report).slice(0, 300);
      unavailable(`the registry's audit endpoint did not answer: ${message}`);
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
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
