import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { assertSpawnableAccount, foreignGroups, parseUidMin, sudoUid, uidMarkingHub } from "../../../src/mediator/accounts.js";
import { findSingleUser, installDirectory } from "../../../src/install/executable.js";
import { describeExit, parseReaperLine, splitLines } from "../../../src/mediator/spawn/reaper-lines.js";
import { shellQuote } from "../../../src/protocol/index.js";
import { DEFAULT_GRACE_MS, effectiveGraceMs, reaperArgv } from "../../../src/mediator/spawn/spawn.js";
import { withOwnerAccess } from "../../../src/mediator/umask.js";
import { VERSION } from "../../../src/version.js";

describe("accounts", () => {
  it("reads UID_MIN from login.defs text", () => {
    expect(parseUidMin("# comment\nUID_MIN\t\t\t 1000\nUID_MAX 60000\n")).toBe(1000);
    expect(parseUidMin("UID_MIN 500 # old RHEL\n")).toBe(500);
    expect(parseUidMin("#UID_MIN 10\n")).toBe(1000);
    expect(parseUidMin("")).toBe(1000);
  });

  it("refuses root and system accounts with a fix", () => {
    expect(() => assertSpawnableAccount({ uid: 0, name: "root" }, 1000)).toThrow(/refusing to act as root.*ts-sudospawner sudoers/);
    expect(() => assertSpawnableAccount({ uid: 33, name: "www-data" }, 1000)).toThrow(/system account www-data \(uid 33 is below UID_MIN 1000\)/);
    expect(() => assertSpawnableAccount({ uid: 65534, name: "nobody" }, 1000)).toThrow(/refusing to act as nobody \(uid 65534\), the unprivileged placeholder/);
    expect(() => assertSpawnableAccount({ uid: 1000, name: "alice" }, 1000)).not.toThrow();
  });

  it("marks the hub user in messages", () => {
    expect(uidMarkingHub(998, 998)).toBe("uid 998 (the hub user that called sudo)");
    expect(uidMarkingHub(5, 998)).toBe("uid 5");
    expect(sudoUid({ SUDO_UID: "998" })).toBe(998);
    expect(sudoUid({ SUDO_UID: "x" })).toBeUndefined();
    expect(sudoUid({})).toBeUndefined();
  });
});

describe("executable resolution", () => {
  const realpath = (p: string) => ({ "/opt/t/bin/ts-sudospawner": "/opt/t/lib/node_modules/ts-sudospawner/dist/cli.cjs" })[p] ?? p;

  it("uses the directory of the path sudo ran when it is this mediator", () => {
    expect(installDirectory("/opt/t/bin/ts-sudospawner", "/opt/t/lib/node_modules/ts-sudospawner/dist/cli.cjs", realpath)).toBe("/opt/t/bin");
  });

  it("refuses a path that is not this mediator, or a relative one", () => {
    expect(() => installDirectory("/home/hub/ts-sudospawner", "/opt/t/lib/node_modules/ts-sudospawner/dist/cli.cjs", realpath)).toThrow(
      /not its installed file/,
    );
    expect(() => installDirectory("bin/ts-sudospawner", "/x", realpath)).toThrow(/not by an absolute path/);
    expect(() => installDirectory(undefined, "/x", realpath)).toThrow(/not by an absolute path/);
  });

  it("prefers sudospawner-singleuser, then jupyterhub-singleuser", () => {
    expect(findSingleUser("/b", (p) => p === "/b/sudospawner-singleuser" || p === "/b/jupyterhub-singleuser")).toBe("/b/sudospawner-singleuser");
    expect(findSingleUser("/b", (p) => p === "/b/jupyterhub-singleuser")).toBe("/b/jupyterhub-singleuser");
    expect(() => findSingleUser("/b", () => false)).toThrow(/no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in \/b; as root, link/);
  });
});

describe("reaper status lines", () => {
  it("parses the three events", () => {
    expect(parseReaperLine("P 4242")).toEqual({ kind: "started", pid: 4242 });
    expect(parseReaperLine("E 2 exec\n")).toEqual({ kind: "failed", errno: 2, stage: "exec" });
    expect(parseReaperLine("X 3 0")).toEqual({ kind: "exited", code: 3, signal: 0 });
  });

  it("rejects malformed lines", () => {
    for (const line of ["", "P", "P 1", "P -5", "P 12 13", "E x exec", "E 2", "X 1", "X a b", "Q 1 2"]) {
      expect(parseReaperLine(line)).toBeUndefined();
    }
  });

  it("splits chunks into lines", () => {
    expect(splitLines("P 1")).toEqual({ lines: [], rest: "P 1" });
    expect(splitLines("P 12\nX 0 1")).toEqual({ lines: ["P 12"], rest: "X 0 1" });
  });

  it("describes exits", () => {
    expect(describeExit(3, 0)).toBe("exited with status 3");
    expect(describeExit(0, 9)).toBe("was killed by signal 9");
  });
});

describe("spawn plan", () => {
  it("builds the reaper command line with the executable after --", () => {
    expect(
      reaperArgv({ executable: "/opt/t/bin/jupyterhub-singleuser", args: ["--port=1", "--", "x"], env: [], cwd: "/home/a", reaperOptions: ["--umask", "077"] }),
    ).toEqual(["tsss-reaper", "--cwd", "/home/a", "--mark-env", "TS_SUDOSPAWNER_PID", "--commit-fd", "4", "--umask", "077", "--", "/opt/t/bin/jupyterhub-singleuser", "--port=1", "--", "x"]);
  });

  it("quotes for logs", () => {
    expect(shellQuote("--port=8888")).toBe("--port=8888");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });
});

describe("the grace of a start", () => {
  it("is the policy's graceSeconds (default 1 s) unless the request asks for less", () => {
    expect(effectiveGraceMs(undefined, undefined)).toBe(DEFAULT_GRACE_MS);
    expect(effectiveGraceMs(undefined, 0)).toBe(0);
    expect(effectiveGraceMs(3000, 0.25)).toBe(250);
    expect(effectiveGraceMs(3000, undefined)).toBe(3000);
  });

  it("never exceeds the policy's bound: a request can only shorten it", () => {
    expect(effectiveGraceMs(undefined, 60)).toBe(DEFAULT_GRACE_MS);
    expect(effectiveGraceMs(0, 5)).toBe(0);
    expect(effectiveGraceMs(200, 1)).toBe(200);
  });
});

describe("version", () => {
  it("keeps VERSION equal to package.json", () => {
    const manifest = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../../../package.json"), "utf8")) as { version: string };
    expect(VERSION).toBe(manifest.version);
  });
});

describe("foreignGroups", () => {
  it("names the groups the process has beyond the user's own (the hub's, under sudo -P)", () => {
    expect(foreignGroups([1001, 27, 999, 999], [1001, 27])).toEqual([999]);
    expect(foreignGroups([1001], [1001, 27, 100])).toEqual([]);
  });
});

describe("the umask a server starts with (src/mediator/umask.ts)", () => {
  it("drops the owner bits and keeps the group and other bits", () => {
    expect([0o777, 0o022, 0o700, 0o027].map(withOwnerAccess)).toEqual([0o077, 0o022, 0o000, 0o027]);
  });
});
