import { describe, expect, it } from "vitest";
import { effectiveCaps, parseCgroupPolicy } from "../../../../src/mediator/cgroup/policy.js";
import fs from "node:fs";
import path from "node:path";
import { CGROUP_SELINUX_MODULE, cgroupSelinuxModule, propertyArgs, scopeArgv, scopeEnv, scopeRefusedMessage, scopeUnitName } from "../../../../src/mediator/cgroup/scope.js";
import { applyEnvPolicy, toEnvList } from "../../../../src/mediator/env-policy.js";
import { chooseLaunch } from "../../../../src/mediator/launch.js";
import { validatePolicy } from "../../../../src/mediator/policy.js";
import { TRAITLETS } from "../../../../src/mediator/vocabulary/traitlets-table.js";
import { validateRequest } from "../../../../src/protocol/request.js";

const G = 1024 ** 3;
const M = 1024 ** 2;

describe('the policy\'s "cgroup" section', () => {
  it("normalises systemd's syntax to numbers: K/M/G/T base 1024, N%, infinity", () => {
    const policy = parseCgroupPolicy({
      default: { MemoryMax: "2G", MemoryHigh: "1536M", MemorySwapMax: 0, CPUQuota: "100%", CPUWeight: 50, TasksMax: 256 },
      max: { MemoryMax: "4G", MemoryHigh: 4 * G, MemorySwapMax: "1T", CPUQuota: "400%", CPUWeight: 10000, TasksMax: "infinity" },
      OOMPolicy: "kill",
    });
    expect(policy).toEqual({
      default: { MemoryMax: 2 * G, MemoryHigh: 1536 * M, MemorySwapMax: 0, CPUQuota: 100, CPUWeight: 50, TasksMax: 256 },
      max: { MemoryMax: 4 * G, MemoryHigh: 4 * G, MemorySwapMax: 1024 * G, CPUQuota: 400, CPUWeight: 10000, TasksMax: Infinity },
      oomPolicy: "kill",
    });
  });

  it('OOMPolicy defaults to "continue": a kernel beyond MemoryMax dies, the server lives', () => {
    expect(parseCgroupPolicy({ max: { MemoryMax: "1G" } }).oomPolicy).toBe("continue");
  });

  it.each([
    [{ default: { MemoryMax: "3G" }, max: { MemoryMax: "2G" } }, /"cgroup\.default\.MemoryMax" \(3221225472\) is above "cgroup\.max\.MemoryMax" \(2147483648\)/],
    [{ default: { CPUQuota: "300%" }, max: { CPUQuota: "200%" } }, /"cgroup\.default\.CPUQuota" \(300%\) is above/],
    [{ default: { TasksMax: "infinity" }, max: { TasksMax: 10 } }, /"cgroup\.default\.TasksMax" \(infinity\) is above/],
    [{ max: { MemoryLimit: "1G" } }, /"cgroup\.max" has unknown key "MemoryLimit"/],
    [{ max: { CPUQuota: 2 } }, /"cgroup\.max\.CPUQuota" must be a percentage/],
    [{ max: { CPUQuota: "1.5%" } }, /"cgroup\.max\.CPUQuota" must be a percentage/],
    [{ max: { MemoryMax: "4GB" } }, /"cgroup\.max\.MemoryMax" must be bytes/],
    [{ max: { MemoryMax: "-1" } }, /"cgroup\.max\.MemoryMax" must be bytes/],
    [{ max: { MemoryMax: 0 } }, /"cgroup\.max\.MemoryMax" must be bytes of at least 1/],
    [{ max: { MemoryMax: "9999999999999999T" } }, /must be bytes/],
    [{ max: { CPUWeight: 0 } }, /"cgroup\.max\.CPUWeight" must be an integer from 1 to 10000/],
    [{ max: { TasksMax: "512" } }, /"cgroup\.max\.TasksMax" must be a positive integer or "infinity"/],
    [{ OOMPolicy: "ignore" }, /"cgroup\.OOMPolicy" must be one of continue, stop, kill/],
    [{ limits: {} }, /"cgroup" has unknown key "limits"/],
  ])("refuses %j at load, naming the key", (section, message) => {
    expect(() => parseCgroupPolicy(section)).toThrow(message);
  });

  it("a launch profile's cgroup must stay within max, and needs the section", () => {
    const profile = (cgroup: unknown) => ({ profiles: { big: { executable: "/opt/x/jupyterhub-singleuser", cgroup } } });
    expect(() => validatePolicy({ ...profile({ MemoryMax: "8G" }), cgroup: { max: { MemoryMax: "4G" } } })).toThrow(/"profiles\.big\.cgroup\.MemoryMax" \(8589934592\) is above "cgroup\.max\.MemoryMax"/);
    expect(() => validatePolicy(profile({ MemoryMax: "1G" }))).toThrow(/"profiles\.big\.cgroup" needs the top-level "cgroup" section/);
    expect(validatePolicy({ ...profile({ MemoryMax: "3G" }), cgroup: { max: { MemoryMax: "4G" } } }).profiles.big?.cgroup).toEqual({ MemoryMax: 3 * G });
  });
});

describe("effectiveCaps: the hub can only lower", () => {
  const policy = parseCgroupPolicy({ default: { MemoryMax: "1G", CPUQuota: "100%" }, max: { MemoryMax: "4G", CPUQuota: "200%", TasksMax: 512 } });

  it("without a request: the default, then the max for a key the default leaves out", () => {
    expect(effectiveCaps(policy, undefined, undefined)).toEqual({ MemoryMax: G, CPUQuota: 100, TasksMax: 512 });
  });

  it("a lower request wins, a higher one does not", () => {
    expect(effectiveCaps(policy, undefined, { MemoryMax: 256 * M, CPUQuota: 400, TasksMax: 64 })).toEqual({ MemoryMax: 256 * M, CPUQuota: 100, TasksMax: 64 });
    expect(effectiveCaps(policy, undefined, { MemoryMax: 8 * G })).toMatchObject({ MemoryMax: G });
  });

  it("a profile's values replace the default's, and are lowered the same way", () => {
    expect(effectiveCaps(policy, { MemoryMax: 3 * G }, undefined)).toEqual({ MemoryMax: 3 * G, CPUQuota: 100, TasksMax: 512 });
    expect(effectiveCaps(policy, { MemoryMax: 3 * G }, { MemoryMax: 2 * G })).toMatchObject({ MemoryMax: 2 * G });
  });

  it("a request can cap what the policy leaves unbounded", () => {
    expect(effectiveCaps(parseCgroupPolicy({}), undefined, { TasksMax: 100 })).toEqual({ TasksMax: 100 });
  });

  it("chooseLaunch carries the caps only with the section, from the request's cgroup field", () => {
    const request = { action: "spawn" as const, args: [], env: {}, cgroup: { MemoryMax: 128 * M } };
    const user = { name: "alice", home: "/home/alice" };
    expect(chooseLaunch(request, validatePolicy({}), user, TRAITLETS).cgroupCaps).toBeUndefined();
    expect(chooseLaunch(request, validatePolicy({ cgroup: { max: { MemoryMax: "1G" } } }), user, TRAITLETS).cgroupCaps).toEqual({ MemoryMax: 128 * M });
  });
});

describe("the request's cgroup field", () => {
  const spawn = (cgroup: unknown) => validateRequest({ action: "spawn", args: [], env: {}, cgroup });

  it("takes MemoryMax, CPUQuota and TasksMax as positive integers", () => {
    expect(spawn({ MemoryMax: 268435456, CPUQuota: 150, TasksMax: 64 })).toMatchObject({ cgroup: { MemoryMax: 268435456, CPUQuota: 150, TasksMax: 64 } });
  });

  it.each([
    [{ MemoryHigh: 1 }, /unknown cgroup cap "MemoryHigh"/],
    [{ OOMPolicy: "continue" }, /unknown cgroup cap "OOMPolicy"/],
    [{ MemoryMax: "1G" }, /cgroup cap MemoryMax must be a positive integer/],
    [{ CPUQuota: 1.5 }, /cgroup cap CPUQuota must be a positive integer/],
    [{ TasksMax: 0 }, /cgroup cap TasksMax must be a positive integer/],
    [{ TasksMax: 2 ** 53 }, /cgroup cap TasksMax must be a positive integer/],
    [[], /"cgroup" must be an object/],
  ])("refuses %j", (cgroup, message) => {
    expect(() => spawn(cgroup)).toThrow(message);
  });

  it("is not part of a submit", () => {
    expect(() => validateRequest({ action: "submit", args: [], env: {}, cgroup: {} })).toThrow(/unknown key "cgroup" in submit request/);
  });
});

describe("the systemd-run command line", () => {
  it("numbers as systemd takes them, OOMPolicy last, the reaper's argv after --", () => {
    const argv = scopeArgv({
      unit: scopeUnitName(1001, "a1b2c3"),
      caps: { MemoryMax: 256 * M, CPUQuota: 150, TasksMax: Infinity, CPUWeight: 20 },
      oomPolicy: "continue",
      reaperPath: "/opt/ts/lib/tsss-reaper",
      reaperArgv: ["tsss-reaper", "--cwd", "/home/a", "--", "/bin/server", "--port=1"],
    });
    expect(argv).toEqual([
      "systemd-run",
      "--user",
      "--scope",
      "--quiet",
      "--collect",
      "--unit=ts-sudospawner-1001-a1b2c3.scope",
      ...["-p", "MemoryMax=268435456", "-p", "CPUQuota=150%", "-p", "CPUWeight=20", "-p", "TasksMax=infinity", "-p", "OOMPolicy=continue"],
      "--",
      "/opt/ts/lib/tsss-reaper",
      ...["--cwd", "/home/a", "--", "/bin/server", "--port=1"],
    ]);
  });

  it("gets the server's environment and the user's runtime dir, computed from the uid, in place of any other", () => {
    const env = ["LANG=C.UTF-8", "XDG_RUNTIME_DIR=/tmp/hub", "JUPYTERHUB_API_TOKEN=t"];
    expect(scopeEnv(env, 1001)).toEqual(["LANG=C.UTF-8", "JUPYTERHUB_API_TOKEN=t", "XDG_RUNTIME_DIR=/run/user/1001"]);
  });

  it("never gets what systemd-run reads (the bus, its settings): no policy admits it into the server's environment", () => {
    const requested = { DBUS_SESSION_BUS_ADDRESS: "unix:path=/tmp/fake", SYSTEMD_LOG_LEVEL: "debug", XDG_RUNTIME_DIR: "/tmp/hub", LANG: "C.UTF-8" };
    const { env } = applyEnvPolicy(requested, { name: "alice", home: "/home/alice", shell: "/bin/sh" }, { allowPatterns: ["DBUS_*", "SYSTEMD_*", "XDG_*"] });
    expect(scopeEnv(toEnvList(env), 1001).filter((entry) => /^(?:DBUS_|SYSTEMD_|XDG_)/.test(entry))).toEqual(["XDG_RUNTIME_DIR=/run/user/1001"]);
  });

  it("the properties come from numbers only", () => {
    expect(propertyArgs({}, "stop")).toEqual(["-p", "OOMPolicy=stop"]);
    expect(() => scopeUnitName(1, "x; rm")).toThrow(/not a hex string/);
  });
});

describe("a scope the user's manager refuses", () => {
  const unit = "ts-sudospawner-1001-abc.scope";
  const MODULE = cgroupSelinuxModule("/opt/ts-sudospawner/lib/node_modules/ts-sudospawner/");

  it("points at systemd-run's own message in the hub's log", () => {
    expect(scopeRefusedMessage(unit, false, MODULE)).toBe(`systemd-run could not start the server's scope ${unit} (its message is in the hub's log just above); nothing was started`);
  });

  it("under SELinux enforcing also names the shipped policy module, which leaves no trace in the audit log otherwise", () => {
    const message = scopeRefusedMessage(unit, true, MODULE);
    expect(message.startsWith(scopeRefusedMessage(unit, false, MODULE))).toBe(true);
    expect(message).toContain('SELinux is enforcing: if that message is "Access denied"');
    expect(message).toContain("`semodule -i /opt/ts-sudospawner/lib/node_modules/ts-sudospawner/examples/selinux/ts-sudospawner-cgroup.cil`");
  });

  it("names a module the package ships, with the one rule the admin guide shows", () => {
    const root = path.resolve(import.meta.dirname, "../../../..");
    const module = fs.readFileSync(path.join(root, CGROUP_SELINUX_MODULE), "utf8");
    const rules = module.split("\n").filter((line) => line.trim() !== "" && !line.startsWith(";"));
    expect(rules).toEqual(["(allow initrc_t unconfined_t (system (start status)))"]);
    expect(fs.readFileSync(path.join(root, "docs/admin-guide.md"), "utf8")).toContain("`allow initrc_t unconfined_t (system (start status))`");
  });
});
