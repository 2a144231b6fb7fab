/**
 * The VM tier's reading of SELinux denials (test/vm/selinux.ts): raw audit lines as a Debian 12 guest
 * printed them, and the admin guide's table of the denials it explains.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { auditTime, execmemWithin, explainedDenials, GUIDE_DENIALS_HEADING, parseDenial, unexplainedDenials } from "../../vm/selinux.js";

const KERNEL =
  '[   22.406404] audit: type=1400 audit(1796643341.040:3): avc:  denied  { relabelfrom } for  pid=207 comm="systemd-tmpfile" name="mtab" dev="vda" ino=181 scontext=system_u:system_r:systemd_tmpfiles_t:s0 tcontext=system_u:object_r:etc_t:s0 tclass=lnk_file permissive=0';
const AUDITD =
  'type=AVC msg=audit(1796643351.924:27): avc:  denied  { read write } for  pid=269 comm="useradd" path="/dev/ttyS1" dev="devtmpfs" ino=87 scontext=system_u:system_r:useradd_t:s0 tcontext=system_u:object_r:tty_device_t:s0 tclass=chr_file permissive=0';
const USER_AVC =
  "type=USER_AVC msg=audit(1796643341.500:9): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:init_t:s0 msg='avc:  denied  { status } for auid=n/a uid=0 gid=0 cmdline=\"\" scontext=system_u:system_r:initrc_t:s0 tcontext=system_u:system_r:init_t:s0 tclass=system exe=\"/usr/lib/systemd/systemd\" sauid=0 hostname=? addr=? terminal=?'";
const SELINUX_ERR = "type=SELINUX_ERR msg=audit(1796643351.000:30): op=security_compute_sid invalid_context=\"system_u:system_r:foo_t:s0\"";

const GUIDE = [
  "### Denials of Debian's policy",
  "",
  "| process | domain | target type | class | permissions | why |",
  "| --- | --- | --- | --- | --- | --- |",
  "| `systemd-tmpfile` | `systemd_tmpfiles_t` | `*` | `lnk_file` | `relabelfrom` | the boot's own, not ours |",
  "| `*` | `initrc_t` | `init_t` | `system` | `status reload` | a unit's status |",
  "",
  "After the table.",
].join("\n");

describe("parseDenial", () => {
  it("reads a kernel-log AVC and an auditd AVC with several permissions", () => {
    expect(parseDenial(KERNEL)).toMatchObject({ comm: "systemd-tmpfile", permissions: ["relabelfrom"], sourceType: "systemd_tmpfiles_t", targetType: "etc_t", targetClass: "lnk_file" });
    expect(parseDenial(AUDITD)).toMatchObject({ comm: "useradd", permissions: ["read", "write"], sourceType: "useradd_t", targetType: "tty_device_t", targetClass: "chr_file" });
  });

  it("names a user-space AVC by its executable, and reads no SELINUX_ERR as an AVC", () => {
    expect(parseDenial(USER_AVC)).toMatchObject({ comm: "systemd", permissions: ["status"], sourceType: "initrc_t", targetType: "init_t", targetClass: "system" });
    expect(parseDenial(SELINUX_ERR)).toBeUndefined();
  });
});

describe("auditTime and execmemWithin", () => {
  const EXECMEM =
    "type=AVC msg=audit(1796647135.312:834): avc:  denied  { execmem } for  pid=1681 comm=\"node\" scontext=system_u:system_r:initrc_t:s0 tcontext=system_u:system_r:initrc_t:s0 tclass=process permissive=1";

  it("reads the kernel's stamp, and tells an execmem denial inside a window from one outside it or another denial", () => {
    expect(auditTime(EXECMEM)).toBe(1796647135.312);
    expect(auditTime("no stamp")).toBeUndefined();
    expect(execmemWithin(EXECMEM, 1796647134, 1796647136)).toBe(true);
    expect(execmemWithin(EXECMEM, 1796647136, 1796647140)).toBe(true); // a second's slack
    expect(execmemWithin(EXECMEM, 1796647137, 1796647140)).toBe(false);
    expect(execmemWithin(AUDITD, 0, 2e9)).toBe(false);
  });
});

describe("explainedDenials and unexplainedDenials", () => {
  it("reads the table under the heading, up to its end", () => {
    expect(explainedDenials(GUIDE, "### Denials of Debian's policy")).toEqual([
      { comm: "systemd-tmpfile", sourceType: "systemd_tmpfiles_t", targetType: "*", targetClass: "lnk_file", permissions: ["relabelfrom"] },
      { comm: "*", sourceType: "initrc_t", targetType: "init_t", targetClass: "system", permissions: ["status", "reload"] },
    ]);
  });

  it("keeps what no row explains: another domain or class, a permission beyond the row's, an SELINUX_ERR", () => {
    const rows = explainedDenials(GUIDE, "### Denials of Debian's policy");
    expect(unexplainedDenials([KERNEL, USER_AVC], rows)).toEqual([]);
    expect(unexplainedDenials([AUDITD, SELINUX_ERR], rows)).toEqual([AUDITD, SELINUX_ERR]);
    expect(unexplainedDenials([KERNEL.replace("relabelfrom", "relabelfrom relabelto")], rows)).toHaveLength(1);
    expect(unexplainedDenials([KERNEL.replace("tclass=lnk_file", "tclass=file")], rows)).toHaveLength(1);
  });

  it("refuses a missing heading and a row without its explanation", () => {
    expect(() => explainedDenials(GUIDE, "### Nothing")).toThrow(/no "### Nothing"/);
    expect(() => explainedDenials(GUIDE.replace("| a unit's status |", "| |"), "### Denials of Debian's policy")).toThrow(/incomplete row/);
  });
});

describe("the admin guide's table (docs/admin-guide.md, section 8)", () => {
  it("parses, and no row lets through the domain the hub, the mediator and the servers run in", () => {
    const guide = fs.readFileSync(path.resolve(import.meta.dirname, "../../../docs/admin-guide.md"), "utf8");
    const rows = explainedDenials(guide, GUIDE_DENIALS_HEADING);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.sourceType === "initrc_t")).toEqual([]);
  });
});
