import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/mediator/logger.js";

const pino = (createRequire(import.meta.url)("pino") as typeof import("pino")).pino;

/** Run a logger in a child process (records go to fd 2) and return what it wrote there. */
function stderrOf(body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-logger-"));
  try {
    const entry = path.join(dir, "entry.ts");
    const logger = path.resolve(import.meta.dirname, "../../src/mediator/logger.ts");
    fs.writeFileSync(entry, `import { createLogger } from ${JSON.stringify(logger)};\nimport { pino } from "pino";\n${body}\n`);
    const bundle = path.join(dir, "run.cjs");
    buildSync({ entryPoints: [entry], bundle: true, platform: "node", format: "cjs", outfile: bundle, logLevel: "silent", nodePaths: [path.resolve(import.meta.dirname, "../../node_modules")] });
    return spawnSync(process.execPath, [bundle], { encoding: "utf8" }).stderr;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("createLogger", () => {
  it("does not load pino while nothing at an enabled level is written", () => {
    let loads = 0;
    const logger = createLogger("info", "text", "t", () => {
      loads++;
      return pino;
    });
    logger.debug("not shown");
    expect(loads).toBe(0);
  });

  it("writes JupyterHub-style text lines, and falls back when pino cannot be loaded", () => {
    const text = stderrOf(`createLogger("info", "text", "t", () => pino).info("hello"); createLogger("info", "text", "t", () => { throw new Error("Cannot find module pino.cjs"); }).error("still told");`);
    const lines = text.trim().split("\n");
    expect(lines[0]).toMatch(/^\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ts-sudospawner\] hello$/);
    expect(lines[1]).toMatch(/^\[W .*\] logging without pino: Cannot find module pino.cjs; reinstall ts-sudospawner$/);
    expect(lines[2]).toMatch(/^\[E .*\] still told$/);
  });
});
