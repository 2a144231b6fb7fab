import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { judgeUnit, listSetting, serviceSettings, unitRunsAs } from "../../../../src/admin/host/unit-file.js";

const unit = (text: string, file = "/etc/systemd/system/jupyterhub.service") => serviceSettings([{ file, text }]);

describe("the hub's systemd unit", () => {
  it("defaults to KillMode=control-group, which kills the servers", () => {
    const verdict = judgeUnit(unit("[Service]\nUser=jupyterhub\nExecStart=/usr/bin/jupyterhub\n"));
    expect(verdict.killMode).toEqual({ value: "control-group" });
    expect(verdict.noNewPrivileges).toEqual([]);
  });

  it("reads the last KillMode, drop-ins after the unit", () => {
    const settings = serviceSettings([
      { file: "/etc/systemd/system/jh.service", text: "[Unit]\nKillMode=none\n[Service]\nUser=jupyterhub\nKillMode=mixed\n" },
      { file: "/etc/systemd/system/jh.service.d/override.conf", text: "[Service]\n# keep the servers\nKillMode=process\n" },
    ]);
    expect(judgeUnit(settings).killMode).toEqual({ value: "process", setting: { value: "process", file: "/etc/systemd/system/jh.service.d/override.conf", line: 3 } });
  });

  it("finds NoNewPrivileges, explicit or implied for a non-root service", () => {
    const verdict = judgeUnit(unit("[Service]\nUser=jupyterhub\nNoNewPrivileges=yes\nRestrictSUIDSGID=true\nSystemCallFilter=@system-service\nPrivateDevices=no\n"));
    expect(verdict.noNewPrivilegesKeys).toEqual(["NoNewPrivileges", "SystemCallFilter", "RestrictSUIDSGID"]);
    expect(verdict.noNewPrivileges[0]).toEqual({ value: "yes", file: "/etc/systemd/system/jupyterhub.service", line: 4 - 1 });
    expect(judgeUnit(unit("[Service]\nUser=jupyterhub\nNoNewPrivileges=no\nSystemCallFilter=@system-service\nSystemCallFilter=\n")).noNewPrivilegesKeys).toEqual([]);
    // Root services are not given no_new_privs by these settings.
    expect(judgeUnit(unit("[Service]\nRestrictSUIDSGID=yes\n")).noNewPrivilegesKeys).toEqual([]);
  });

  it("collects SupplementaryGroups and knows whose unit it is", () => {
    const settings = unit("[Service]\nUser=1001\nSupplementaryGroups=shadow\nSupplementaryGroups=ssl-cert extra\n");
    expect(judgeUnit(settings).supplementaryGroups).toEqual(["shadow", "ssl-cert", "extra"]);
    expect(listSetting(unit("[Service]\nSupplementaryGroups=a\nSupplementaryGroups=\nSupplementaryGroups=b\n"), "SupplementaryGroups").map((s) => s.value)).toEqual(["b"]);
    expect(unitRunsAs(settings, { name: "jupyterhub", uid: 1001 })).toBe(true);
    expect(unitRunsAs(settings, { name: "jupyterhub", uid: 1002 })).toBe(false);
  });

  it("passes the shipped example unit", () => {
    const text = fs.readFileSync(path.resolve(import.meta.dirname, "../../../../examples/jupyterhub/jupyterhub.service"), "utf8");
    const settings = unit(text);
    const verdict = judgeUnit(settings);
    expect(verdict.killMode.value).toBe("process");
    expect(verdict.noNewPrivileges).toEqual([]);
    expect(verdict.user?.value).toBe("jupyterhub");
    expect(verdict.supplementaryGroups).toContain("shadow");
    expect(verdict.workingDirectory?.value).toBe("/var/lib/jupyterhub");
  });
});
