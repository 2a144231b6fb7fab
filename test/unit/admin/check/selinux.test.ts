/**
 * The `selinux-execmem` row of check (src/admin/check/selinux.ts) and the reading of selinuxfs's
 * access answer (src/admin/host/selinux.ts), with the answers a Debian 12 guest gave.
 */
import { describe, expect, it } from "vitest";
import { judgeSelinuxExecmem } from "../../../../src/admin/check/selinux.js";
import { parseAllowed, permits, type SelinuxFacts } from "../../../../src/admin/host/selinux.js";

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
