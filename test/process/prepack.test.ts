/**
 * `npm pack` in a fresh checkout (no node_modules yet): the prepack step stops at once and says
 * the command that works, `npm ci && npm pack`, instead of failing inside the build with
 * "esbuild: not found". The passing pack of a prepared checkout is the integration fixture's
 * (test/global-setup.ts packs the tarball every root suite installs).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/install.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** The files a fresh clone has that the pack step reads first, without node_modules. */
function freshCheckout(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-pack-"));
  dirs.push(dir);
  for (const file of ["package.json", "package-lock.json", "scripts"]) fs.cpSync(path.join(REPO_ROOT, file), path.join(dir, file), { recursive: true });
  return dir;
}

describe("npm pack from a fresh checkout", () => {
  it("stops in prepack, naming what is missing and `npm ci && npm pack`", () => {
    const dir = freshCheckout();
    const result = spawnSync("npm", ["pack", "--foreground-scripts"], { cwd: dir, encoding: "utf8", env: { ...process.env, npm_config_cache: path.join(dir, ".npm") } });
    const output = `${result.stdout}${result.stderr}`;
    expect(result.status, output).not.toBe(0);
    expect(output).toContain("`npm ci && npm pack`");
    expect(output).toMatch(/missing: [^)]*esbuild/);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".tgz"))).toEqual([]);
  });

  it("passes the check once the build tools are installed (as after npm ci)", () => {
    const dir = freshCheckout();
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
    const result = spawnSync(process.execPath, ["scripts/package/prepack-check.mjs"], { cwd: dir, encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
  });
});
