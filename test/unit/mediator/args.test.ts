import { describe, expect, it } from "vitest";
import { parseLogLevel, parseMediatorArgs } from "../../../src/mediator/args.js";
import { SudoSpawnerError } from "../../../src/errors.js";

describe("parseMediatorArgs", () => {
  it("defaults to run mode at info level with text logs", () => {
    expect(parseMediatorArgs([])).toEqual({ mode: "run", logLevel: "info", logFormat: "text" });
  });

  it.each([
    [["--logging=INFO"], "info"],
    [["--logging=DEBUG"], "debug"],
    [["--logging", "warning"], "warning"],
    [["--logging=Warn"], "warning"],
    [["--logging=critical"], "critical"],
    [["--logging=none"], "none"],
    [["--logging=error"], "error"],
  ])("accepts %j as %s, in any case and both spellings", (argv, level) => {
    expect(parseMediatorArgs(argv).logLevel).toBe(level);
  });

  it("accepts --log-format in both forms", () => {
    expect(parseMediatorArgs(["--log-format=json"]).logFormat).toBe("json");
    expect(parseMediatorArgs(["--log-format", "text"]).logFormat).toBe("text");
  });

  it("recognises help and version, help winning", () => {
    expect(parseMediatorArgs(["--help"]).mode).toBe("help");
    expect(parseMediatorArgs(["-h", "--logging=debug"]).mode).toBe("help");
    expect(parseMediatorArgs(["--version"]).mode).toBe("version");
    expect(parseMediatorArgs(["--version", "--help"]).mode).toBe("help");
  });

  it.each([
    [["--config=/tmp/x.json"], /unknown argument "--config=\/tmp\/x.json"/],
    [["spawn"], /unknown argument "spawn"/],
    [["--logging"], /--logging needs a value/],
    [["--logging=verbose"], /invalid --logging level "verbose"/],
    [["--log-format=yaml"], /invalid --log-format "yaml"/],
    [["-x"], /unknown argument "-x"/],
  ])("rejects %j with a usage error", (argv, message) => {
    let caught: unknown;
    try {
      parseMediatorArgs(argv);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SudoSpawnerError);
    expect((caught as SudoSpawnerError).code).toBe("USAGE");
    expect((caught as Error).message).toMatch(message);
  });

  it("parseLogLevel lists the valid levels in its error", () => {
    expect(() => parseLogLevel("loud")).toThrow(/debug, info, warning, error, critical, none/);
  });
});
