import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chooseLaunch } from "../../../src/mediator/launch.js";
import { EMPTY_POLICY, effectiveLimits, reaperOptions, serverLogPath, validatePolicy } from "../../../src/mediator/policy.js";
import { loadPolicy } from "../../../src/mediator/policy-file.js";
import type { FsView, NodeInfo } from "../../../src/install/path-trust.js";
import { TRAITLETS } from "../../../src/mediator/vocabulary/traitlets-table.js";

const alice = { name: "alice", home: "/home/alice" };
const spawn = (extra: Record<string, unknown> = {}) => ({ action: "spawn" as const, args: ["--port=9"], env: {}, ...extra });

describe("validatePolicy", () => {
  it("accepts a complete policy", () => {
    const policy = validatePolicy({
      singleuser: "/usr/bin/jupyterhub-singleuser",
      profiles: { lab: { executable: "/opt/conda/bin/jupyterhub-singleuser", args: ["--SingleUserNotebookApp.default_url=/lab"], limits: { nofile: 512 } } },
      env: { deny: ["SECRET"], denyPatterns: ["AWS_*"], allow: ["JUPYTERHUB_*", "PATH"] },
      limits: { nofile: 1024, nproc: 256, as: 8589934592, cpu: 36000, core: 0 },
      umask: "0077",
      nice: 5,
      graceSeconds: 2.5,
      minUid: 2000,
      serverLog: "{home}/.jupyterhub-singleuser.log",
    });
    expect(policy).toEqual({
      singleuser: "/usr/bin/jupyterhub-singleuser",
      profiles: { lab: { description: "", executable: "/opt/conda/bin/jupyterhub-singleuser", args: ["--SingleUserNotebookApp.default_url=/lab"], limits: { nofile: 512 } } },
      env: { deniedNames: ["SECRET"], deniedPatterns: ["AWS_*"], allowPatterns: ["JUPYTERHUB_*", "PATH"] },
      limits: { nofile: 1024, nproc: 256, as: 8589934592, cpu: 36000, core: 0 },
      umask: 0o77,
      nice: 5,
      graceMs: 2500,
      minUid: 2000,
      serverLog: "{home}/.jupyterhub-singleuser.log",
    });
  });

  it("accepts an empty policy", () => {
    expect(validatePolicy({})).toEqual(EMPTY_POLICY);
  });

  it.each([
    [[], /the policy must be an object/],
    [{ singelusr: "/x" }, /unknown key "singelusr"/],
    [{ singleuser: "jupyterhub-singleuser" }, /"singleuser" must be a normalised absolute path/],
    [{ singleuser: "/opt/../tmp/x" }, /"singleuser" must be a normalised absolute path/],
    [{ profiles: { "../x": { executable: "/bin/true" } } }, /not a valid profile name/],
    [{ profiles: { lab: { executable: "/bin/true", shell: true } } }, /"profiles.lab" has unknown key "shell"/],
    [{ profiles: { lab: {} } }, /"profiles.lab".executable must be a normalised absolute path/],
    [{ limits: { nofile: -1 } }, /"limits".nofile must be an integer/],
    [{ limits: { stack: 1 } }, /unknown key "stack"/],
    [{ umask: 77 }, /"umask" must be an octal string/],
    [{ umask: "0999" }, /"umask" must be an octal string/],
    [{ nice: -5 }, /"nice" must be an integer from 0 to 19/],
    [{ graceSeconds: 600 }, /"graceSeconds" must be a number from 0 to 60/],
    [{ minUid: 0 }, /"minUid" must be an integer from 1/],
    [{ serverLog: "{home}/../../etc/x" }, /"serverLog" must be an absolute path template without ".."/],
    [{ env: { allow: ["A=B"] } }, /"env.allow"\[0\] is not a valid entry/],
  ])("rejects %j", (value, message) => {
    expect(() => validatePolicy(value)).toThrow(message);
  });
});

describe("limits", () => {
  it("lets the hub lower a limit, never raise it", () => {
    expect(effectiveLimits({ nofile: 1024, nproc: 100 }, { nofile: 4096, nproc: 50, cpu: 60 })).toEqual({ nofile: 1024, nproc: 50, cpu: 60 });
    expect(effectiveLimits({ core: 0 }, undefined)).toEqual({ core: 0 });
  });

  it("renders reaper options", () => {
    expect(reaperOptions({ nofile: 1024, core: 0 }, { umask: 0o77, nice: 5 }, "/home/a/x.log")).toEqual([
      "--rlimit", "NOFILE=1024:1024", "--rlimit", "CORE=0:0", "--umask", "0077", "--nice", "5", "--log-file", "/home/a/x.log",
    ]);
    expect(reaperOptions({}, {}, undefined)).toEqual([]);
  });

  it("expands the server log template", () => {
    expect(serverLogPath("{home}/.logs/{user}.log", "alice", "/home/alice")).toBe("/home/alice/.logs/alice.log");
  });
});

describe("chooseLaunch", () => {
  it("uses the mediator's neighbour when the policy names nothing", () => {
    expect(chooseLaunch(spawn(), EMPTY_POLICY, alice, TRAITLETS)).toEqual({ executable: undefined, args: ["--port=9"], fixed: new Set(), rootDirOptions: [], reaperOptions: [], logFile: undefined });
  });

  it("uses the policy's executable, limits and log", () => {
    const policy = validatePolicy({ singleuser: "/usr/bin/jupyterhub-singleuser", limits: { nofile: 100 }, serverLog: "{home}/s.log" });
    expect(chooseLaunch(spawn({ limits: { nofile: 50 } }), policy, alice, TRAITLETS)).toEqual({
      executable: "/usr/bin/jupyterhub-singleuser",
      args: ["--port=9"],
      fixed: new Set(),
      rootDirOptions: [],
      reaperOptions: ["--rlimit", "NOFILE=50:50", "--log-file", "/home/alice/s.log"],
      logFile: "/home/alice/s.log",
    });
  });

  it("picks a profile by name, its args first", () => {
    const policy = validatePolicy({ profiles: { voila: { executable: "/opt/v/bin/voila-singleuser", args: ["--strip"] } } });
    expect(chooseLaunch(spawn({ profile: "voila" }), policy, alice, TRAITLETS)).toMatchObject({ executable: "/opt/v/bin/voila-singleuser", args: ["--strip", "--port=9"] });
  });

  it("refuses unknown profiles, naming the configured ones", () => {
    const policy = validatePolicy({ profiles: { lab: { executable: "/x" } } });
    expect(() => chooseLaunch(spawn({ profile: "root-shell" }), policy, alice, TRAITLETS)).toThrow(/unknown launch profile "root-shell"; the site policy defines lab/);
    expect(() => chooseLaunch(spawn({ profile: "lab" }), EMPTY_POLICY, alice, TRAITLETS)).toThrow(/defines no profiles/);
    expect(() => chooseLaunch(spawn({ profile: "__proto__" }), policy, alice, TRAITLETS)).toThrow(/unknown launch profile/);
  });
});

describe("loadPolicy", () => {
  const dir = (uid = 0, mode = 0o755): NodeInfo => ({ uid, gid: 0, mode, kind: "directory" });
  const file = (uid = 0, mode = 0o644): NodeInfo => ({ uid, gid: 0, mode, kind: "file" });
  const view = (nodes: Record<string, NodeInfo>): FsView => ({ lstat: (p) => nodes[p], readlink: () => "" });

  it("is empty when there is no file", () => {
    expect(loadPolicy("/etc/tsss-none/config.json", view({ "/": dir(), "/etc": dir() }))).toBe(EMPTY_POLICY);
  });

  it("refuses a file or directory writable by others or not owned by root", () => {
    const base = { "/": dir(), "/etc": dir() };
    expect(() => loadPolicy("/etc/p/c.json", view({ ...base, "/etc/p": dir(0, 0o775), "/etc/p/c.json": file() }))).toThrow(
      /refusing the policy \/etc\/p\/c.json: \/etc\/p: writable by group 0/,
    );
    expect(() => loadPolicy("/etc/p/c.json", view({ ...base, "/etc/p": dir(), "/etc/p/c.json": file(1000) }))).toThrow(/owned by uid 1000/);
  });

  it("reads and validates a real root-owned file (when run as root)", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-policy-"));
    try {
      fs.chmodSync(tmp, 0o755);
      const target = path.join(tmp, "config.json");
      fs.writeFileSync(target, JSON.stringify({ nice: 3 }), { mode: 0o644 });
      if (process.getuid?.() === 0) {
        expect(loadPolicy(target).nice).toBe(3);
        fs.writeFileSync(target, "{nice: 3");
        expect(() => loadPolicy(target)).toThrow(/is not valid JSON|not valid JSON/);
      } else {
        expect(() => loadPolicy(target)).toThrow(/owned by uid/);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
