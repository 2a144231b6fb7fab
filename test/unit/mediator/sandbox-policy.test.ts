/**
 * The `sandbox` key of the site policy: its validation, and the reaper options it becomes. The
 * reaper sets no_new_privs unless told otherwise, so a policy without the key adds no option.
 */
import { describe, expect, it } from "vitest";
import { chooseLaunch } from "../../../src/mediator/launch.js";
import { EMPTY_POLICY, reaperOptions, sandboxOptions, validatePolicy } from "../../../src/mediator/policy.js";
import { describeSandbox } from "../../../src/mediator/spawn/spawn.js";
import { TRAITLETS } from "../../../src/mediator/vocabulary/traitlets-table.js";

const alice = { name: "alice", home: "/home/alice" };

describe("the sandbox policy", () => {
  it("defaults to no_new_privs only", () => {
    expect(validatePolicy({ sandbox: {} }).sandbox).toEqual({ noNewPrivileges: true, privateTmp: false, readOnlyPaths: [] });
    expect(validatePolicy({}).sandbox).toBeUndefined();
  });

  it("reads every key", () => {
    const policy = validatePolicy({
      sandbox: { noNewPrivileges: false, privateTmp: true, readOnlyPaths: ["/opt/shared", "/srv/data"], leftoverGraceSeconds: 2.5 },
    });
    expect(policy.sandbox).toEqual({ noNewPrivileges: false, privateTmp: true, readOnlyPaths: ["/opt/shared", "/srv/data"], leftoverGraceMs: 2500 });
  });

  it.each([
    [{ sandbox: [] }, '"sandbox" must be an object'],
    [{ sandbox: { privateTMP: true } }, '"sandbox" has unknown key "privateTMP" (allowed: noNewPrivileges, privateTmp, readOnlyPaths, leftoverGraceSeconds)'],
    [{ sandbox: { noNewPrivileges: "no" } }, '"sandbox.noNewPrivileges" must be true or false'],
    [{ sandbox: { privateTmp: 1 } }, '"sandbox.privateTmp" must be true or false'],
    [{ sandbox: { readOnlyPaths: "/opt" } }, '"sandbox.readOnlyPaths" must be an array of at most 64 paths'],
    [{ sandbox: { readOnlyPaths: Array.from({ length: 65 }, (_, i) => `/p${i}`) } }, '"sandbox.readOnlyPaths" must be an array of at most 64 paths'],
    [{ sandbox: { readOnlyPaths: ["relative"] } }, '"sandbox.readOnlyPaths"[0] must be a normalised absolute path'],
    [{ sandbox: { readOnlyPaths: ["/opt/../etc"] } }, '"sandbox.readOnlyPaths"[0] must be a normalised absolute path'],
    [{ sandbox: { readOnlyPaths: ["/opt", "/"] } }, '"sandbox.readOnlyPaths"[1] must not be "/"'],
    [{ sandbox: { leftoverGraceSeconds: 61 } }, '"sandbox.leftoverGraceSeconds" must be a number from 0 to 60'],
    [{ sandbox: { leftoverGraceSeconds: "3" } }, '"sandbox.leftoverGraceSeconds" must be a number from 0 to 60'],
  ])("refuses %j", (policy, message) => {
    expect(() => validatePolicy(policy)).toThrow(message);
  });

  it("becomes reaper options, after the others", () => {
    expect(sandboxOptions(undefined)).toEqual([]);
    expect(sandboxOptions({ noNewPrivileges: true, privateTmp: false, readOnlyPaths: [] })).toEqual([]);
    expect(sandboxOptions({ noNewPrivileges: false, privateTmp: true, readOnlyPaths: ["/a", "/b"], leftoverGraceMs: 0 })).toEqual([
      "--allow-new-privs", "--private-tmp", "--read-only", "/a", "--read-only", "/b", "--leftover-grace-ms", "0",
    ]);
    const sandbox = { noNewPrivileges: true, privateTmp: true, readOnlyPaths: ["/opt/shared"] };
    expect(reaperOptions({ nofile: 64 }, { umask: 0o77, sandbox }, "/home/a/x.log")).toEqual([
      "--rlimit", "NOFILE=64:64", "--umask", "0077", "--log-file", "/home/a/x.log", "--private-tmp", "--read-only", "/opt/shared",
    ]);
  });

  it("applies to every spawn, profile or not; the hub cannot name a sandbox", () => {
    const policy = validatePolicy({ sandbox: { privateTmp: true }, profiles: { lab: { executable: "/opt/lab" } } });
    for (const profile of [undefined, "lab"]) {
      const launch = chooseLaunch({ action: "spawn", args: [], env: {}, ...(profile ? { profile } : {}) }, policy, alice, TRAITLETS);
      expect(launch.reaperOptions).toEqual(["--private-tmp"]);
    }
    expect(chooseLaunch({ action: "spawn", args: [], env: {} }, EMPTY_POLICY, alice, TRAITLETS).reaperOptions).toEqual([]);
  });

  it("is described in the log as the reaper will apply it", () => {
    expect(describeSandbox([])).toBe("no_new_privs");
    expect(describeSandbox(["--rlimit", "CORE=0:0", "--private-tmp", "--read-only", "/opt/a", "--read-only", "/srv"])).toBe(
      "no_new_privs, a private /tmp, read-only /opt/a, /srv",
    );
    expect(describeSandbox(["--allow-new-privs"])).toBe("none (the site policy turned no_new_privs off)");
  });
});
