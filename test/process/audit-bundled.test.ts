/**
 * scripts/test/audit-bundled.mjs (the audit step of `npm test`) fails for everything but a clean audit,
 * and TSSS_AUDIT_REFUSED=warn (set by .ci/run, whose registry answers the audit POST with 405)
 * lets through only the registry's refusal of the audit request: never a build defect (a missing
 * dist/third-party.json, a shipped package absent from the lockfile), never an unreachable
 * endpoint or an answer that is no audit report. Each case runs a copy of the script in a project
 * of its own with a fake `npm` that answers what the case needs.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const SCRIPT = path.resolve(import.meta.dirname, "../../scripts/test/audit-bundled.mjs");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-audit-test-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const LOCK = {
  name: "tsss-audit-fixture",
  version: "1.0.0",
  lockfileVersion: 3,
  packages: {
    "": { name: "tsss-audit-fixture", version: "1.0.0" },
    "node_modules/ws": { version: "8.23.0", resolved: "https://registry.npmjs.org/ws/-/ws-8.23.0.tgz", license: "MIT" },
    "node_modules/node-addon-api": { version: "8.9.2", license: "MIT" },
  },
};

const REFUSED_405 = {
  message: "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
  method: "POST",
  statusCode: 405,
  body: "",
  error: { summary: "", detail: "" },
};
const UNREACHABLE = { message: "request to http://127.0.0.1:9/-/npm/v1/security/advisories/bulk failed, reason: connect ECONNREFUSED 127.0.0.1:9", error: { summary: "", detail: "" } };
const SERVER_ERROR = { ...REFUSED_405, message: "500 Internal Server Error - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk", statusCode: 500 };
const CLEAN = { vulnerabilities: {}, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0 }, dependencies: { total: 2 } } };
const HIGH = {
  vulnerabilities: { ws: { name: "ws", severity: "high", range: "<9", via: [{ title: "a made-up advisory", url: "https://example.invalid/1" }] } },
  metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 1, critical: 0, total: 1 }, dependencies: { total: 2 } },
};

interface Case {
  /** What npm audit prints (JSON.stringify'd), or a raw string. */
  answer: unknown;
  /** dist/third-party.json's packages; null: no such file. */
  bundled?: Array<{ path: string }> | null;
  warn?: boolean;
}

let count = 0;
function runAudit({ answer, bundled = [{ path: "node_modules/ws" }], warn = true }: Case): { status: number | null; stderr: string; npmCalled: boolean } {
  const dir = path.join(work, String(++count));
  const tmp = path.join(dir, "tmp");
  fs.mkdirSync(path.join(dir, "scripts", "test"), { recursive: true });
  fs.mkdirSync(tmp);
  fs.mkdirSync(path.join(dir, "bin"));
  fs.copyFileSync(SCRIPT, path.join(dir, "scripts", "test", "audit-bundled.mjs"));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "tsss-audit-fixture", version: "1.0.0", bundleDependencies: ["node-addon-api"] }));
  fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify(LOCK));
  if (bundled) {
    fs.mkdirSync(path.join(dir, "dist"));
    fs.writeFileSync(path.join(dir, "dist", "third-party.json"), JSON.stringify({ packages: bundled }));
  }
  const marker = path.join(dir, "npm-called");
  fs.writeFileSync(path.join(dir, "answer"), typeof answer === "string" ? answer : JSON.stringify(answer));
  fs.writeFileSync(path.join(dir, "bin", "npm"), `#!/bin/sh\ntouch '${marker}'\ncat '${path.join(dir, "answer")}'\nexit 1\n`, { mode: 0o755 });
  const env: NodeJS.ProcessEnv = { PATH: `${path.join(dir, "bin")}:/usr/bin:/bin`, HOME: dir, TMPDIR: tmp };
  if (warn) env.TSSS_AUDIT_REFUSED = "warn";
  const result = spawnSync(process.execPath, [path.join(dir, "scripts", "test", "audit-bundled.mjs")], { env, encoding: "utf8", timeout: 30_000 });
  // Whatever the verdict, the throwaway project is gone (every verdict exits the process).
  expect(fs.readdirSync(tmp), `the audit left ${tmp} behind`).toEqual([]);
  return { status: result.status, stderr: result.stderr, npmCalled: fs.existsSync(marker) };
}

describe("the audit of the bundled packages", () => {
  it("passes a clean audit and fails a high advisory, naming it", () => {
    expect(runAudit({ answer: CLEAN, warn: false }).status).toBe(0);
    const high = runAudit({ answer: HIGH });
    expect(high.status).toBe(1);
    expect(high.stderr).toContain("ws (<9): high; a made-up advisory");
  });

  it("with TSSS_AUDIT_REFUSED=warn, only warns when the registry refuses the audit request (HTTP 405)", () => {
    const result = runAudit({ answer: REFUSED_405 });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("AUDIT NOT DONE: the registry refused npm's audit request (HTTP 405)");
    expect(result.stderr).toContain("TSSS_AUDIT_REFUSED=warn: exiting 0");
  });

  it("fails that refusal without TSSS_AUDIT_REFUSED=warn", () => {
    const result = runAudit({ answer: REFUSED_405, warn: false });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("This is a failure, not a pass");
  });

  it.each([
    ["an unreachable endpoint", UNREACHABLE, "ECONNREFUSED"],
    ["a server error", SERVER_ERROR, "500 Internal Server Error"],
    ["an answer that is not JSON", "npm error something broke", "gave no JSON answer"],
    ["JSON that is no audit report", { hello: "world" }, "did not give an audit report"],
  ])("fails %s even with TSSS_AUDIT_REFUSED=warn", (_, answer, named) => {
    const result = runAudit({ answer });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(named);
    expect(result.stderr).not.toContain("exiting 0");
  });

  it("fails a missing dist/third-party.json, a build defect, even with TSSS_AUDIT_REFUSED=warn, before asking the registry", () => {
    const result = runAudit({ answer: REFUSED_405, bundled: null });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("a build defect");
    expect(result.stderr).toContain("dist/third-party.json is missing");
    expect(result.npmCalled).toBe(false);
  });

  it("fails a shipped package that is not in package-lock.json, a build defect, even with TSSS_AUDIT_REFUSED=warn", () => {
    const result = runAudit({ answer: REFUSED_405, bundled: [{ path: "node_modules/ws" }, { path: "node_modules/left-pad" }] });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("node_modules/left-pad ships but is not in package-lock.json");
    expect(result.npmCalled).toBe(false);
  });
});
