/**
 * What the mediator's bundle loads before it acts: every kill pays for it (the bench's floor is
 * sudo + `node -e 0`), so node:child_process and node:net (about 5 ms together) load only for a
 * spawn or a Slurm action, never at start-up, for --help or for a kill.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const HEAVY = /^(node:)?(child_process|net)$/;

describe("the mediator bundle's start-up", () => {
  let dir: string;
  let bundle: string;
  let tracer: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-cli-start-"));
    bundle = path.join(dir, "cli.cjs");
    buildSync({ entryPoints: [path.join(ROOT, "src/cli.ts")], bundle: true, platform: "node", format: "cjs", target: "node20", outfile: bundle, logLevel: "silent", absWorkingDir: ROOT });
    tracer = path.join(dir, "trace.cjs");
    // Reports every module request that matches HEAVY, as it happens.
    fs.writeFileSync(
      tracer,
      `const Module = require("node:module");\nconst load = Module._load;\nModule._load = function (request, ...rest) {\n  if (${HEAVY.toString()}.test(request)) process.stderr.write("TSSS-LOADED " + request + "\\n");\n  return load.call(this, request, ...rest);\n};\n`,
    );
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function loaded(args: string[], input = ""): string[] {
    const result = spawnSync(process.execPath, ["-r", tracer, ...args], { input, encoding: "utf8", timeout: 30_000 });
    return result.stderr.split("\n").filter((line) => line.startsWith("TSSS-LOADED ")).map((line) => line.slice("TSSS-LOADED ".length));
  }

  it("the tracer sees a load (so the checks below can fail)", () => {
    expect(loaded(["-e", 'require("node:child_process")'])).toContain("node:child_process");
  });

  it("--help and a kill request load neither node:child_process nor node:net", () => {
    expect(loaded([bundle, "--help"])).toEqual([]);
    expect(loaded([bundle, "--logging=debug"], JSON.stringify({ action: "kill", pid: 4_000_000, signal: 0 }))).toEqual([]);
  });
});
