/**
 * The `selinux-execmem` and `selinux-scope` rows of check (src/admin/check/selinux.ts) and the reading of selinuxfs's
 * access answer (src/admin/host/selinux.ts), with the answers a Debian 12 guest gave.
 */
import { describe, expect, it } from "vitest";
import { judgeSelinuxExecmem, judgeSelinuxScope } from "../../../../src/admin/check/selinux.js";
import { parseAllowed, permits, type ScopeFacts, type SelinuxFacts } from "../../../../src/admin/host/selinux.js";

const INITRC = "system_u:system_r:initrc_t:s0";
/** execmem is permission 26 of class process there. */
const EXECMEM = 26;

function on(overrides: Partial<Extract<SelinuxFacts, { on: true }>> = {}): SelinuxFacts {
  return { on: true, enforcing: true, domain: { context: INITRC, from: "its process 412" }, execmem: false, booleans: { allow_execmem: false }, ...overrides };
}

describe("selinuxfs's access answer", () => {
  it("reads the allowed vector, and execmem in it, as Debian's policy answered with allow_execmem off and on", () => {
    expect(permits(parseAllowed("717fffff ffffffff 0 ffa3ff7f 1 0"), EXECMEM)).toBe(false);
    expect(permits(parseAllowed("737fffff ffffffff 0 ffa3ff7f 2 0\n"), EXECMEM)).toBe(true);
    expect(permits(parseAllowed("80000000 ffffffff 0 0 1 0"), 32)).toBe(true);
  });

  it("refuses an answer that is no vector", () => {
    expect(() => parseAllowed("")).toThrow(/unexpected answer/);
    expect(() => parseAllowed("denied")).toThrow(/unexpected answer/);
  });
});

describe("judgeSelinuxExecmem", () => {
  it("skips without SELinux, and passes where the hub's domain may use execmem", () => {
    expect(judgeSelinuxExecmem({ on: false })).toMatchObject({ id: "selinux-execmem", status: "skip", detail: "SELinux is off (no /sys/fs/selinux/enforce)" });
    expect(judgeSelinuxExecmem(on({ execmem: true }))).toMatchObject({ status: "pass", detail: `SELinux is enforcing; ${INITRC} (its process 412) may use execmem`, fix: "" });
  });

  it("fails when enforcing denies it, naming Node's crash and the policy's own boolean", () => {
    const row = judgeSelinuxExecmem(on());
    expect(row.status).toBe("fail");
    expect(row.detail).toContain(`${INITRC} (its process 412) may not use execmem`);
    expect(row.detail).toContain("Check failed: 12 == (*__errno_location ())");
    expect(row.fix).toBe("as root: `setsebool -P allow_execmem on` (it lets unconfined domains, initrc_t among them, use execmem)");
    expect(judgeSelinuxExecmem(on({ booleans: { deny_execmem: true } })).fix).toBe("as root: `setsebool -P deny_execmem off`");
    expect(judgeSelinuxExecmem(on({ booleans: {} })).fix).toContain("allow initrc_t self:process execmem;");
  });

  it("only warns while permissive, and warns when the domain or the answer is unknown", () => {
    expect(judgeSelinuxExecmem(on({ enforcing: false }))).toMatchObject({ status: "warn", detail: expect.stringContaining("permissive now") });
    expect(judgeSelinuxExecmem(on({ domain: undefined }))).toMatchObject({ status: "warn", fix: "start the hub and run check again" });
    expect(judgeSelinuxExecmem(on({ execmem: { error: "EACCES" } }))).toMatchObject({ status: "warn", detail: expect.stringContaining("could not be asked: EACCES") });
  });
});

describe("judgeSelinuxScope (cgroup mode)", () => {
  const MANAGER = "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023";
  const ROOT = "/opt/ts-sudospawner/lib/node_modules/ts-sudospawner";
  const scope = (allowed: ScopeFacts["allowed"]): ScopeFacts => ({ manager: { context: MANAGER, pid: 733 }, allowed });

  it("skips without SELinux, and passes where the policy lets the hub's domain start and read the scope", () => {
    expect(judgeSelinuxScope({ on: false }, undefined, "alice", ROOT)).toMatchObject({ id: "selinux-scope", status: "skip" });
    expect(judgeSelinuxScope(on(), scope({ start: true, status: true }), "alice", ROOT)).toMatchObject({
      status: "pass",
      detail: `SELinux is enforcing; ${INITRC} (its process 412) in alice's manager ${MANAGER} (pid 733) may start a scope and read its status`,
    });
  });

  it("fails enforcing where Debian's policy denies both, naming the shipped module by its installed path", () => {
    const row = judgeSelinuxScope(on(), scope({ start: false, status: false }), "alice", ROOT);
    expect(row).toMatchObject({ status: "fail", title: "SELinux lets the hub's domain ask alice's systemd manager for a scope (cgroup mode)" });
    expect(row.detail).toContain("the policy denies start and status (class system)");
    expect(row.detail).toContain('"Access denied"');
    expect(row.fix).toBe(`as root: \`semodule -i ${ROOT}/examples/selinux/ts-sudospawner-cgroup.cil\` (one rule: initrc_t may start units in, and read their status from, managers in unconfined_t)`);
  });

  it("warns when permissive, and gives a rule of the same form for other domains", () => {
    const row = judgeSelinuxScope(on({ enforcing: false, domain: { context: "system_u:system_r:jupyterhub_t:s0", from: "its process 9" } }), scope({ start: true, status: false }), "alice", ROOT);
    expect(row).toMatchObject({ status: "warn", detail: expect.stringContaining("permissive now, and the policy denies status") });
    expect(row.fix).toContain("`(allow jupyterhub_t unconfined_t (system (start status)))`");
  });

  it("warns when it cannot ask: no manager running, or selinuxfs refused", () => {
    expect(judgeSelinuxScope(on(), { manager: undefined, allowed: undefined }, "alice", ROOT)).toMatchObject({ status: "warn", fix: "run check again with --spawn, which starts it" });
    expect(judgeSelinuxScope(on(), scope({ error: "EACCES" }), "alice", ROOT)).toMatchObject({ status: "warn", detail: expect.stringContaining("could not be asked: EACCES") });
    expect(judgeSelinuxScope(on({ domain: undefined }), undefined, "alice", ROOT)).toMatchObject({ status: "warn", fix: "start the hub and run check again" });
  });
});
