import { describe, expect, it } from "vitest";
import {
  cgroupOffRow,
  expectedFiles,
  judgeCgroupV2,
  judgeDelegation,
  judgePlacement,
  judgeUserManager,
  lingerRuleGroup,
  mountType,
  neededControllers,
  spawnableGroup,
  unifiedCgroup,
} from "../../../../../src/admin/check/cgroup/rows.js";
import { lingerRuleText } from "../../../../../src/admin/linger/rule.js";
import { parseCgroupPolicy } from "../../../../../src/mediator/cgroup/policy.js";
import type { CheckRow } from "../../../../../src/admin/check/report.js";

/** A systemd host with the unified hierarchy (Debian 12). */
const V2 = [
  "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
  "26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
].join("\n");
/** cgroup v1 (these test machines): a tmpfs with one hierarchy per controller below it. */
const V1 = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
].join("\n");
/** systemd's hybrid mode: v1 controllers, cgroup2 only for systemd's own tracking. */
const HYBRID = `${V1}\n40 31 0:40 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate`;

const POLICY = parseCgroupPolicy({ default: { MemoryMax: "256M", CPUQuota: "50%", TasksMax: 64 }, max: { MemoryMax: "512M", CPUQuota: "100%", TasksMax: 128 } });
const ALICE = { name: "alice", uid: 1001 };

describe("row 1: cgroup v2 at /sys/fs/cgroup, from /proc/self/mountinfo", () => {
  it("reads the filesystem type after the separator, optional fields and all", () => {
    expect(mountType(V2, "/sys/fs/cgroup")).toBe("cgroup2");
    expect(mountType(V1, "/sys/fs/cgroup")).toBe("tmpfs");
    expect(mountType(V1, "/sys/fs/cgroup/unified")).toBeUndefined();
  });

  it("passes on the unified hierarchy", () => {
    expect(judgeCgroupV2(V2)).toMatchObject({ id: "cgroup-v2", status: "pass", fix: "" });
  });

  it("fails on v1, on a hybrid host and without a mount, naming systemd.unified_cgroup_hierarchy=1", () => {
    for (const [text, said] of [
      [V1, "/sys/fs/cgroup is tmpfs (cgroup v1)"],
      [HYBRID, "with cgroup2 only at /sys/fs/cgroup/unified (hybrid)"],
      ["", "nothing is mounted at /sys/fs/cgroup"],
      [undefined, "could not read /proc/self/mountinfo"],
    ] as const) {
      const row = judgeCgroupV2(text);
      expect(row.status).toBe("fail");
      expect(row.detail).toContain(said);
      expect(row.fix).toContain("systemd.unified_cgroup_hierarchy=1");
    }
  });
});

describe("row 2: controllers delegated to user@.service", () => {
  const show = (stdout: string, status: number | null = 0) => ({ status, stdout, stderr: "" });

  it("needs a controller for each kind of cap the policy, or any profile, sets", () => {
    expect(neededControllers(POLICY)).toEqual(["cpu", "memory", "pids"]);
    expect(neededControllers(parseCgroupPolicy({ max: { MemoryMax: "1G" } }))).toEqual(["memory"]);
    expect(neededControllers(parseCgroupPolicy({ max: { MemoryMax: "1G" } }), [{ CPUWeight: 50 }])).toEqual(["cpu", "memory"]);
  });

  it("passes when Debian's user@.service delegates pids memory cpu", () => {
    const row = judgeDelegation("user@1001.service", show("Delegate=yes\nDelegateControllers=cpu memory pids\n"), ["cpu", "memory", "pids"]);
    expect(row).toMatchObject({ id: "cgroup-delegation", status: "pass", fix: "" });
  });

  it("fails naming a user@.service.d drop-in when a needed controller is not delegated", () => {
    const row = judgeDelegation("user@1001.service", show("Delegate=yes\nDelegateControllers=memory pids\n"), ["cpu", "memory", "pids"]);
    expect(row.status).toBe("fail");
    expect(row.detail).toContain("need cpu too");
    expect(row.fix).toContain("/etc/systemd/system/user@.service.d/");
    expect(row.fix).toContain("Delegate=cpu memory pids");
  });

  it("fails when nothing is delegated, or systemctl cannot answer", () => {
    expect(judgeDelegation("user@1001.service", show("Delegate=no\nDelegateControllers=\n"), ["memory"]).status).toBe("fail");
    const down = judgeDelegation("user@1001.service", { status: 1, stdout: "", stderr: "System has not been booted with systemd as init system (PID 1). Can't operate." }, ["memory"]);
    expect(down.status).toBe("fail");
    expect(down.detail).toContain("System has not been booted with systemd");
  });
});

describe("row 3: the user's manager can be had", () => {
  it("passes when the manager runs, or when polkit allows the user's own linger", () => {
    expect(judgeUserManager(ALICE, { kind: "running" }, undefined)).toMatchObject({ id: "cgroup-user-manager", status: "pass" });
    expect(judgeUserManager(ALICE, { kind: "pkcheck", status: 0, output: "" }, undefined).status).toBe("pass");
  });

  it("fails when polkit refuses, naming linger-rule with the rule's group", () => {
    const row = judgeUserManager(ALICE, { kind: "pkcheck", status: 1, output: "Not authorized.\n" }, "jupyter");
    expect(row.status).toBe("fail");
    expect(row.detail).toContain("pkcheck exit 1: Not authorized.");
    expect(row.fix).toContain("ts-sudospawner linger-rule --group jupyter --install");
    expect(row.fix).toContain("loginctl enable-linger alice");
  });

  it("fails without polkitd, naming apt-get install polkitd; skips as the hub", () => {
    const row = judgeUserManager(ALICE, { kind: "no-polkitd" }, undefined);
    expect(row.status).toBe("fail");
    expect(row.fix).toContain("apt-get install polkitd");
    expect(row.fix).toContain("linger-rule --group GROUP --install");
    expect(judgeUserManager(ALICE, { kind: "not-root" }, undefined).status).toBe("skip");
  });

  it("else names the %group the hub may run the mediator as, that the user is in", () => {
    const listing = [
      "User hub may run the following commands on host:",
      "",
      "Sudoers entry:",
      "    RunAsUsers: %staff",
      "    Commands:",
      "        /usr/bin/id",
      "",
      "Sudoers entry:",
      '    RunAsUsers: "%lab users", %jupyter, !#0',
      "    Options: !authenticate",
      "    Commands:",
      "        /opt/t/bin/ts-sudospawner",
      "",
    ].join("\n");
    expect(spawnableGroup(listing, "/opt/t/bin/ts-sudospawner", ["alice", "jupyter"])).toBe("jupyter");
    expect(spawnableGroup(listing, "/opt/t/bin/ts-sudospawner", ["lab users"])).toBe("lab users");
    expect(spawnableGroup(listing, "/opt/t/bin/ts-sudospawner", ["staff"])).toBeUndefined();
  });

  it("reads the group back from the rule linger-rule writes, odd names included", () => {
    expect(lingerRuleGroup(lingerRuleText("jupyter"))).toBe("jupyter");
    expect(lingerRuleGroup(lingerRuleText('a "b"\\c'))).toBe('a "b"\\c');
    expect(lingerRuleGroup("polkit.addRule(function () {});")).toBeUndefined();
  });
});

describe("row 4 (--spawn): the server's cgroup and caps", () => {
  const scope = "/user.slice/user-1001.slice/user@1001.service/app.slice/ts-sudospawner-1001-0a1b2c.scope";
  const running = { pid: 4242, cgroup: scope, memoryMax: String(256 * 1024 * 1024), cpuMax: "50000 100000", pidsMax: "64" };
  const spawnRow: CheckRow = { id: "spawn-and-kill", title: "spawn", status: "fail", detail: "spawn failed: NO_USER_MANAGER ...", fix: "linger-rule ..." };

  it("takes the unified line of /proc/PID/cgroup", () => {
    expect(unifiedCgroup(`0::${scope}\n`)).toBe(scope);
    expect(unifiedCgroup("4:memory:/user.slice\n1:name=systemd:/user.slice\n")).toBeUndefined();
  });

  it("cgroupfs spells the policy's caps as bytes, QUOTA PERIOD and a count; an absent or infinite cap as max", () => {
    expect(expectedFiles({ MemoryMax: 256 * 1024 * 1024, CPUQuota: 50, TasksMax: 64 })).toEqual({ memoryMax: "268435456", cpuMax: "50000 100000", pidsMax: "64" });
    expect(expectedFiles({ MemoryMax: Infinity })).toEqual({ memoryMax: "max", cpuMax: "max 100000", pidsMax: "max" });
  });

  it("passes for a scope below user@UID.service with the policy's default caps", () => {
    expect(judgePlacement(ALICE, POLICY, running, undefined)).toMatchObject({ id: "cgroup-placement", status: "pass" });
  });

  it("fails for a server outside the user's manager, or with other caps", () => {
    expect(judgePlacement(ALICE, POLICY, { ...running, cgroup: "/system.slice/jupyterhub.service" }, undefined).status).toBe("fail");
    expect(judgePlacement(ALICE, POLICY, { ...running, cgroup: scope.replaceAll("1001", "1002") }, undefined).status).toBe("fail");
    const uncapped = judgePlacement(ALICE, POLICY, { ...running, memoryMax: "max" }, undefined);
    expect(uncapped.status).toBe("fail");
    expect(uncapped.detail).toContain("want memory.max 268435456");
  });

  it("fails with the spawn row's cause when no server ran", () => {
    const row = judgePlacement(ALICE, POLICY, undefined, spawnRow);
    expect(row.status).toBe("fail");
    expect(row.detail).toContain("NO_USER_MANAGER");
    expect(row.fix).toBe("linger-rule ...");
  });
});

it("without a cgroup section: one row, off", () => {
  expect(cgroupOffRow()).toMatchObject({ id: "cgroup", title: "cgroup limits", status: "pass" });
  expect(cgroupOffRow().detail).toMatch(/^off \(no "cgroup" section/);
});
