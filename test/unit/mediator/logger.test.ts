import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { describe, expect, it } from "vitest";
import { createLogger, formatRecord, formatTextLine } from "../../../src/mediator/logger.js";

const TIME = new Date(2026, 10, 25, 7, 30, 0, 5).getTime();

function captured(level: Parameters<typeof createLogger>[0], format: Parameters<typeof createLogger>[1]) {
  const lines: string[] = [];
  return { lines, logger: createLogger(level, format, "ts-sudospawner", (line) => lines.push(line)) };
}

describe("the mediator's log lines", () => {
  it("formats one JupyterHub-style text line per record, control characters escaped", () => {
    expect(formatTextLine(30, TIME, "hello")).toBe("[I 2026-11-25 07:30:00.005 ts-sudospawner] hello\n");
    expect(formatTextLine(40, TIME, "a\nb")).toBe("[W 2026-11-25 07:30:00.005 ts-sudospawner] a\\nb\n");
    expect(formatTextLine(50, TIME, "x")).toMatch(/^\[E /);
    expect(formatTextLine(20, TIME, "x")).toMatch(/^\[D /);
  });

  it("formats a JSON line with a numeric level, the name, the pid and the escaped message", () => {
    const line = formatRecord({ level: 40, time: TIME, name: "ts-sudospawner", pid: 42, msg: "a\nb\u001b[31m" }, "json");
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(line)).toEqual({ level: 40, time: TIME, name: "ts-sudospawner", pid: 42, msg: "a\\nb\\e[31m" });
  });

  it("writes only the records at or above its level, each as one line", () => {
    const { lines, logger } = captured("warning", "text");
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    expect(lines.map((line) => line.slice(0, 2))).toEqual(["[W", "[E"]);
    expect(lines.every((line) => line.endsWith("\n") && line.indexOf("\n") === line.length - 1)).toBe(true);
  });

  it("writes debug records at debug, and nothing at none", () => {
    const debug = captured("debug", "json");
    debug.logger.debug("here");
    expect(JSON.parse(debug.lines[0] ?? "")).toMatchObject({ level: 20, msg: "here", pid: process.pid });
    const none = captured("none", "text");
    none.logger.error("never");
    expect(none.lines).toEqual([]);
  });

  it("reaches stderr before an exit that follows at once (the mediator's last error line)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-logger-"));
    try {
      const entry = path.join(dir, "entry.ts");
      const logger = path.resolve(import.meta.dirname, "../../../src/mediator/logger.ts");
      const long = "x".repeat(200_000); // more than a pipe holds: the write must wait for the reader
      fs.writeFileSync(entry, `import { createLogger } from ${JSON.stringify(logger)};\ncreateLogger("info", "text").error("last words ${long}");\nprocess.exit(1);\n`);
      const bundle = path.join(dir, "run.cjs");
      buildSync({ entryPoints: [entry], bundle: true, platform: "node", format: "cjs", outfile: bundle, logLevel: "silent" });
      const run = spawnSync(process.execPath, [bundle], { encoding: "utf8", maxBuffer: 1 << 20 });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^\\[E \\S+ \\S+ ts-sudospawner\\] last words x{200000}\\n$`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
