import { describe, expect, it } from "vitest";
import { formatBytes, formatPsJson, formatPsTable, serverLabel, type PsRow } from "../../../../src/admin/ps/report.js";
import { bootTime, serverNameIn, startedIso } from "../../../../src/admin/ps/servers.js";

const row = (pid: number, server: string | undefined, extra: Partial<PsRow> = {}): PsRow => ({
  server: { pid, uid: 1001, user: "alice", server, startTicks: 1, started: "2026-12-05T12:00:00.000Z", cgroup: undefined },
  ...extra,
});

describe("the ps table", () => {
  it("shows users, names, pids and start times, with - for cgroup use on a v1 host", () => {
    const text = formatPsTable([row(4242, ""), row(5151, "gpu")], { hub: false });
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^USER\s+SERVER\s+PID\s+STARTED\s+MEMORY\s+CPU$/);
    expect(lines[1]).toMatch(/^alice\s+\(default\)\s+4242\s+2026-12-05T12:00:00.000Z\s+-\s+-$/);
    expect(lines[2]).toMatch(/^alice\s+gpu\s+5151\s/);
  });

  it("escapes what a server's user put into its name: no escape sequence or bidi override reaches root's terminal", () => {
    const text = formatPsTable([row(7, "x\u001b]0;PWNED\u0007\u001b[2J\u202eFAKE\u2028ROW", { hub: "starting" })], { hub: true });
    expect(text).toContain("x\\e]0;PWNED\\x07\\e[2J\\u202eFAKE\\u2028ROW");
    expect(text).not.toMatch(/[\u001b\u0007\u202e\u2028]/);
  });

  it("adds the hub's verdict and each stop's outcome", () => {
    const text = formatPsTable([row(1, "", { hub: "known" }), row(2, "x", { hub: "orphan", stop: { stopped: true, detail: "stopped by SIGTERM" } })], { hub: true });
    expect(text).toMatch(/HUB\s+STOP\n/);
    expect(text).toMatch(/known\s+-\n/);
    expect(text).toMatch(/orphan\s+stopped: stopped by SIGTERM\n/);
  });

  it("says so when nothing runs", () => {
    expect(formatPsTable([], { hub: false })).toMatch(/no server started by ts-sudospawner/);
  });

  it("prints JSON with nulls where nothing is known", () => {
    const parsed = JSON.parse(formatPsJson([row(4242, undefined, { hub: "orphan" })])) as { servers: Record<string, unknown>[] };
    expect(parsed.servers[0]).toMatchObject({ user: "alice", server: null, pid: 4242, memoryBytes: null, cpuUsec: null, hub: "orphan" });
  });

  it("labels and sizes", () => {
    expect(serverLabel(undefined)).toBe("-");
    expect(formatBytes(512)).toBe("512B");
    expect(formatBytes(3 * 1024 * 1024 * 1024)).toBe("3.0G");
  });
});

describe("server facts from /proc", () => {
  it("reads the server name the mediator set, and none when there is none", () => {
    expect(serverNameIn(Buffer.from("A=1\0TS_SUDOSPAWNER_PID=7\0TS_SUDOSPAWNER_SERVER=gpu\0"))).toBe("gpu");
    expect(serverNameIn(Buffer.from("TS_SUDOSPAWNER_SERVER=\0"))).toBe("");
    expect(serverNameIn(Buffer.from("TS_SUDOSPAWNER_PID=7\0"))).toBeUndefined();
  });

  it("turns start ticks into an ISO time from the boot time", () => {
    expect(bootTime("cpu 1 2 3\nbtime 1700000000\nprocesses 9\n")).toBe(1700000000);
    expect(startedIso(250, 1700000000, 100)).toBe("2023-11-14T22:13:22.500Z");
  });
});
