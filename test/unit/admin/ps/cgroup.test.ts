import { describe, expect, it } from "vitest";
import { parseCpuUsageUsec, parseMemoryCurrent, readCgroupUse, unifiedCgroupPath } from "../../../../src/admin/ps/cgroup.js";

describe("unifiedCgroupPath", () => {
  it("takes the 0:: line of a cgroup v2 host", () => {
    expect(unifiedCgroupPath("0::/user.slice/user-1001.slice/user@1001.service/app.slice/tsss-1.scope\n")).toBe(
      "/user.slice/user-1001.slice/user@1001.service/app.slice/tsss-1.scope",
    );
  });

  it("takes the 0:: line among a hybrid host's v1 lines", () => {
    expect(unifiedCgroupPath("4:memory:/process_api/abc\n1:cpu:/\n0::/\n")).toBe("/");
  });

  it("finds nothing on a pure v1 host, and never a path with . or .. parts", () => {
    expect(unifiedCgroupPath("4:memory:/x\n1:cpu:/\n")).toBeUndefined();
    expect(unifiedCgroupPath("0::/a/../b\n")).toBeUndefined();
    expect(unifiedCgroupPath("0::relative\n")).toBeUndefined();
  });
});

describe("cgroup files", () => {
  it("reads memory.current as bytes", () => {
    expect(parseMemoryCurrent("123456789\n")).toBe(123456789);
    expect(parseMemoryCurrent("max\n")).toBeUndefined();
  });

  it("reads usage_usec from cpu.stat, not another *_usec line", () => {
    expect(parseCpuUsageUsec("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")).toBe(2500000);
    expect(parseCpuUsageUsec("user_usec 2000000\nsystem_usec 500000\n")).toBeUndefined();
  });

  it("reads nothing where the host has no cgroup v2", () => {
    expect(readCgroupUse(process.pid, "/sys/fs/cgroup", false)).toBeUndefined();
  });
});
