/**
 * What the mediator's bundle loads before it acts: every kill pays for it (the bench's floor is
 * sudo + `node -e 0`), so node:child_process and node:net (about 5 ms together) load only for a
 * spawn or a Slurm action, never at start-up, for --help or for a kill. --help and --version load
 * nothing at all beyond dist/cli.cjs: not the mediator's bundle (compiling it is about 3 ms), not
 * node:crypto.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const HEAVY = /^(node:)?(child_process|net)$/;
const TRACED = /^(node:)?(child_process|net|crypto)$|\/mediator\.cjs$/;

describe("the mediator bundle's start-up", () => {
  let dir: string;
  let bundle: string;
  let tracer: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-cli-start-"));
    bundle = path.join(dir, "cli.cjs");
    const options = { bundle: true, platform: "node", format: "cjs", target: "node20", logLevel: "silent", absWorkingDir: ROOT } as const;
    buildSync({ ...options, entryPoints: [path.join(ROOT, "src/cli.ts")], outfile: bundle });
    buildSync({ ...options, entryPoints: [path.join(ROOT, "src/mediator/main.ts")], outfile: path.join(dir, "mediator.cjs") });
    tracer = path.join(dir, "trace.cjs");
    // Reports every module request that matches TRACED, as it happens.
    fs.writeFileSync(
      tracer,
      `const Module = require("node:module");\nconst load = Module._load;\nModule._load = function (request, ...rest) {\n  if (${TRACED.toString()}.test(request)) process.stderr.write("TSSS-LOADED " + request + "\\n");\n  return load.call(this, request, ...rest);\n};\n`,
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

  it("--help and --version load neither the mediator's bundle nor node:crypto", () => {
    expect(loaded([bundle, "--help"])).toEqual([]);
    expect(loaded([bundle, "--version", "--logging=debug"])).toEqual([]);
  });

  it("a kill request loads the mediator's bundle, but neither node:child_process nor node:net", () => {
    const requests = loaded([bundle, "--logging=debug"], JSON.stringify({ action: "kill", pid: 4_000_000, signal: 0 }));
    expect(requests.filter((request) => request.endsWith("/mediator.cjs"))).toHaveLength(1);
    expect(requests.filter((request) => HEAVY.test(request))).toEqual([]);
  });
});
