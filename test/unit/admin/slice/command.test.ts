import { describe, expect, it } from "vitest";
import { runUserCap, type UserCapHost, type UserCapOptions } from "../../../../src/admin/slice/command.js";
import { runAdminCli } from "../../../../src/admin/cli.js";
import type { Account } from "../../../../src/system/account.js";

const ACCOUNTS: Account[] = [
  { name: "Alice.Smith@corp.example.com", uid: 1234567, gid: 100, home: "/home/alice", shell: "/bin/bash" },
  { name: "toor", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" },
];

/** A host with the accounts above and no root; it records what was looked up and run. */
function fakeHost(root = false) {
  const calls = { lookups: [] as string[], systemctl: [] as string[][] };
  const host: UserCapHost = {
    lookupAccount: (name) => {
      calls.lookups.push(name);
      return ACCOUNTS.find((account) => account.name === name);
    },
    uidMin: () => 1000,
    isRoot: () => root,
    systemctl: (args) => {
      calls.systemctl.push([...args]);
      return { status: 0, stdout: "", stderr: "" };
    },
  };
  return { host, calls };
}

function capture() {
  const io = { stdout: "", stderr: "", out: (text: string) => void (io.stdout += text), err: (text: string) => void (io.stderr += text) };
  return io;
}

const base: UserCapOptions = { allUsers: false, caps: { MemoryMax: "8G" }, install: false, remove: false };

describe("ts-sudospawner user-cap", () => {
  it("prints one user's drop-in, looked up by a directory-service name as given, and its path on stderr", () => {
    const { host, calls } = fakeHost();
    const io = capture();
    expect(runUserCap({ ...base, user: "Alice.Smith@corp.example.com" }, io, host)).toBe(0);
    expect(calls.lookups).toEqual(["Alice.Smith@corp.example.com"]);
    expect(io.stdout).toContain(`[Slice]\nMemoryMax=${8 * 1024 ** 3}\n`);
    expect(io.stderr).toMatch(/^\/etc\/systemd\/system\/user-1234567\.slice\.d\/50-ts-sudospawner\.conf: run again as root with --install/);
    expect(calls.systemctl).toEqual([]);
  });

  it("prints every user's drop-in with --all-users, looking nobody up", () => {
    const { host, calls } = fakeHost();
    const io = capture();
    expect(runUserCap({ ...base, allUsers: true }, io, host)).toBe(0);
    expect(calls.lookups).toEqual([]);
    expect(io.stderr).toMatch(/^\/etc\/systemd\/system\/user-\.slice\.d\/50-ts-sudospawner\.conf: /);
  });

  it.each([
    [{ ...base }, "USAGE", /either --user NAME or --all-users/],
    [{ ...base, user: "Alice.Smith@corp.example.com", allUsers: true }, "USAGE", /either --user NAME or --all-users/],
    [{ ...base, user: "root" }, "USAGE", /must not be root/],
    [{ ...base, user: "-alice" }, "USAGE", /invalid user name/],
    [{ ...base, user: "toor" }, "FORBIDDEN_USER", /refusing to cap toor \(uid 0\)/],
    [{ ...base, user: "ghost" }, "NOT_FOUND", /the user ghost does not exist \(getent passwd ghost finds nothing\): create the account/],
    [{ ...base, user: "ghost", caps: {}, remove: true }, "NOT_FOUND", /ghost does not exist .*: the drop-in of an account since deleted goes with rm \/etc\/systemd\/system\/user-UID\.slice\.d\/50-ts-sudospawner\.conf and systemctl daemon-reload$/],
    [{ ...base, allUsers: true, caps: {} }, "USAGE", /^no cap given/],
    [{ ...base, allUsers: true, caps: { CPUQuota: "4" } }, "USAGE", /^--cpu-quota "4": must be a percentage/],
    [{ ...base, allUsers: true, install: true, remove: true }, "USAGE", /--install and --remove exclude each other/],
    [{ ...base, allUsers: true, remove: true }, "USAGE", /--remove .* takes no caps/],
    [{ ...base, allUsers: true, install: true }, "USAGE", /--install changes \/etc\/systemd\/system\/user-\.slice\.d\/50-ts-sudospawner\.conf: run it as root/],
    [{ ...base, allUsers: true, caps: {}, remove: true }, "USAGE", /--remove changes .*: run it as root/],
  ] as const)("refuses %j (%s)", (options, code, message) => {
    const { host, calls } = fakeHost();
    expect(() => runUserCap(options, capture(), host)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
    expect(calls.systemctl).toEqual([]);
  });
});

describe("its command line", () => {
  it("takes the caps under their systemd names' options", async () => {
    const io = capture();
    const status = await runAdminCli(
      ["user-cap", "--all-users", "--memory-max", "8G", "--memory-high", "6G", "--cpu-quota", "400%", "--tasks-max", "2048"],
      { selfPath: "/x", invokedPath: undefined },
      io,
    );
    expect(status).toBe(0);
    expect(io.stdout).toContain(`[Slice]\nMemoryMax=${8 * 1024 ** 3}\nMemoryHigh=${6 * 1024 ** 3}\nCPUQuota=400%\nTasksMax=2048\n`);
  });

  it("--help tells the per-user cap from the policy's per-server caps", async () => {
    const io = capture();
    expect(await runAdminCli(["user-cap", "--help"], { selfPath: "/x", invokedPath: undefined }, io)).toBe(0);
    expect(io.stdout).toMatch(/"cgroup" section caps each server on its own/);
    expect(io.stdout).toMatch(/user-cap caps the sum of everything a user runs/);
  });
});
