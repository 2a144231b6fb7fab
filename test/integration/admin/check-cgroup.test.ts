/**
 * `ts-sudospawner check` and the policy's "cgroup" section, as root against the real installed
 * command and the shared fixture's sudo rule, on these test machines (cgroup v1, no systemd as
 * PID 1): one row without the section; with it, the cgroup v2 row fails naming the kernel option,
 * and the other cgroup rows say why they cannot pass here. The VM tier (test/vm/) proves them
 * passing on a real systemd host. The site policy is put back after the suite (SitePolicyGuard).
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCheckJson, type CheckRun } from "../../helpers/check-run.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("check and cgroup limits (test/integration/admin/check-cgroup.test.ts)", fx.available ? undefined : fx.reason);
/** This machine's own mount at /sys/fs/cgroup; the v2 row is asserted against it. */
const UNIFIED = /^\S+ \S+ \S+ \S+ \/sys\/fs\/cgroup \S+.* - cgroup2 /m.test(fs.readFileSync("/proc/self/mountinfo", "utf8"));

function check(user: string): CheckRun {
  return runCheckJson(fx.mediator, fx.hub, user);
}

describe.skipIf(skip)("check and the policy's cgroup section (root, real sudo, this host)", () => {
  const policy = new SitePolicyGuard();
  const user = fx.users[0] as string;
  beforeAll(() => policy.backup());
  afterAll(() => policy.restore());

  it("shows one row, off, without a cgroup section, between the spawn and the Slurm rows", () => {
    policy.write({ minUid: 1000 });
    const run = check(user);
    expect(run.ids.filter((id) => id.startsWith("cgroup"))).toEqual(["cgroup"]);
    expect(run.ids.indexOf("cgroup")).toBeGreaterThan(run.ids.indexOf("spawn-and-kill"));
    expect(run.ids.indexOf("cgroup")).toBeLessThan(run.ids.indexOf("slurm-mode"));
    expect(run.rows.cgroup).toMatchObject({ status: "pass", detail: 'off (no "cgroup" section in /etc/ts-sudospawner/config.json)' });
    expect(run.ids.at(-1)).toBe("selinux-execmem"); // no scope row without cgroup mode
  });

  it.skipIf(UNIFIED)("with a cgroup section on a cgroup v1 host, fails the v2 row naming systemd.unified_cgroup_hierarchy=1", () => {
    policy.write({ cgroup: { default: { MemoryMax: "1G" } } });
    const run = check(user);
    expect(run.ids.filter((id) => id.startsWith("cgroup"))).toEqual(["cgroup-v2", "cgroup-delegation", "cgroup-user-manager", "cgroup-placement"]);
    expect(run.status).toBe(1);
    const v2 = run.rows["cgroup-v2"];
    expect(v2?.status).toBe("fail");
    // These machines are v1 or hybrid (cgroup2 only at /sys/fs/cgroup/unified): either fails.
    expect(v2?.detail).toMatch(/^\/sys\/fs\/cgroup is tmpfs (\(cgroup v1\)|with cgroup2 only at \/sys\/fs\/cgroup\/unified \(hybrid\))/);
    expect(v2?.fix).toContain("systemd.unified_cgroup_hierarchy=1");
    expect(run.rows["cgroup-placement"]).toMatchObject({ status: "skip", detail: "not requested" });
    // SELinux's rows come last: with cgroup mode, the scope row beside the execmem one.
    expect(run.ids.slice(-2)).toEqual(["selinux-execmem", "selinux-scope"]);
    expect(run.rows["selinux-scope"]).toMatchObject({ status: "skip", detail: "SELinux is off (no /sys/fs/selinux/enforce)" });
  });

  it("a policy the mediator would refuse fails the cgroup row with its message", () => {
    policy.write({ cgroup: { default: { MemoryMax: "2G" }, max: { MemoryMax: "1G" } } });
    const row = check(user).rows.cgroup;
    expect(row?.status).toBe("fail");
    expect(row?.detail).toContain('"cgroup.default.MemoryMax" (2147483648) is above "cgroup.max.MemoryMax"');
  });
});
