import { describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../../src/errors.js";
import { assertUsername, buildSudoCommand, defaultSudoArgs, describeCommand, normaliseLogLevel } from "../../../src/hub/command-line.js";

const MEDIATOR = "/opt/ts-sudospawner/bin/ts-sudospawner";

describe("sudo command line", () => {
  it("is exactly what the Python SudoSpawner runs", () => {
    const command = buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR });
    expect([command.file, ...command.args]).toEqual(["sudo", "-u", "alice", "-nH", MEDIATOR, "--logging=INFO"]);
    expect(command.tool).toBe("sudo");
  });

  it("keeps a dotted user name as one argument", () => {
    expect(buildSudoCommand({ user: "j.doe", mediatorPath: MEDIATOR }).args.slice(0, 2)).toEqual(["-u", "j.doe"]);
  });

  it("supports doas (no -H) and dzdo and an absolute tool path", () => {
    expect(buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR, sudo: "doas" }).args).toEqual(["-u", "alice", "-n", MEDIATOR, "--logging=INFO"]);
    expect(buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR, sudo: "/usr/bin/dzdo" }).args).toEqual(["-u", "alice", "-nH", MEDIATOR, "--logging=INFO"]);
    expect(buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR, sudo: "/usr/local/bin/doas" }).tool).toBe("doas");
    expect(defaultSudoArgs("/usr/bin/doas")).toEqual(["-n"]);
  });

  it("uses custom sudo arguments and log levels", () => {
    const command = buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR, sudoArgs: ["-n", "-H", "-E"], logLevel: "debug" });
    expect(command.args).toEqual(["-u", "alice", "-n", "-H", "-E", MEDIATOR, "--logging=DEBUG"]);
    expect(normaliseLogLevel("Warning")).toBe("WARNING");
    expect(normaliseLogLevel(" none ")).toBe("NONE");
    expect(() => normaliseLogLevel("verbose")).toThrow(/invalid mediator log level "verbose"/);
  });

  it("allows a bare mediator name (looked up on secure_path) but not a relative path", () => {
    expect(buildSudoCommand({ user: "alice", mediatorPath: "ts-sudospawner" }).args).toContain("ts-sudospawner");
    expect(() => buildSudoCommand({ user: "alice", mediatorPath: "bin/ts-sudospawner" })).toThrow(/relative: use the absolute path/);
    expect(() => buildSudoCommand({ user: "alice", mediatorPath: "" })).toThrow(/empty/);
    expect(() => buildSudoCommand({ user: "alice", mediatorPath: "--help" })).toThrow(/looks like an option/);
  });

  it.each(["", "-u", "#0", "%wheel", "+netgroup", " a", "a\tb", "a\nb", "a:b", "../x", "x\0"])("refuses the user name %j", (name) => {
    let caught: unknown;
    try {
      assertUsername(name);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SudoSpawnerError);
    expect((caught as SudoSpawnerError).code).toBe("USAGE");
    expect((caught as SudoSpawnerError).message).toMatch(/invalid user name/);
  });

  it.each(["alice", "j.doe", "tsss-b.ob", "_svc", "user@realm", "machine$", "42", "Alice.Smith@corp.example.com", "CORP\\alice", "TSSSBOB", "John Smith"])(
    "accepts the user name %j",
    (name) => {
      expect(() => assertUsername(name)).not.toThrow();
      expect(buildSudoCommand({ user: name, mediatorPath: MEDIATOR }).args.slice(0, 2)).toEqual(["-u", name]);
    },
  );

  it("describes the command shell-quoted", () => {
    expect(describeCommand({ file: "sudo", args: ["-u", "alice", "/opt/a b/ts-sudospawner"] })).toBe("sudo -u alice '/opt/a b/ts-sudospawner'");
  });
});
