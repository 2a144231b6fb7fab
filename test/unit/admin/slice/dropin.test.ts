import { describe, expect, it } from "vitest";
import { dropinPath, dropinText, parseUserCaps, sliceUnit, userTarget, type UserCapProperty } from "../../../../src/admin/slice/dropin.js";
import { parseCgroupPolicy } from "../../../../src/mediator/cgroup/policy.js";
import { isSudoSpawnerError } from "../../../../src/errors.js";

const G = 1024 ** 3;
const alice = { kind: "user" as const, name: "Alice.Smith@corp.example.com", uid: 1234567 };

/** The [Slice] lines of the text, without the header comment. */
const sliceLines = (text: string) => text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));

/** The thrown error's code and message. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isSudoSpawnerError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("nothing was thrown");
}

describe("the user-cap drop-in's values", () => {
  it.each([
    ["MemoryMax", "4G", `MemoryMax=${4 * G}`],
    ["MemoryMax", "512", "MemoryMax=512"],
    ["MemoryMax", "300M", `MemoryMax=${300 * 1024 ** 2}`],
    ["MemoryMax", "infinity", "MemoryMax=infinity"],
    ["MemoryHigh", "6G", `MemoryHigh=${6 * G}`],
    ["CPUQuota", "200%", "CPUQuota=200%"],
    ["TasksMax", "2048", "TasksMax=2048"],
    ["TasksMax", "infinity", "TasksMax=infinity"],
  ] as const)("%s %s is written as %s", (name, text, line) => {
    expect(sliceLines(dropinText(alice, parseUserCaps({ [name]: text })))).toEqual(["[Slice]", line]);
  });

  it("writes every cap given, in a fixed order, after a header naming the tool", () => {
    const text = dropinText({ kind: "all-users" }, parseUserCaps({ TasksMax: "2048", CPUQuota: "400%", MemoryMax: "8G", MemoryHigh: "6G" }));
    expect(text.split("\n")[0]).toMatch(/^# Written by `ts-sudospawner user-cap`/);
    expect(sliceLines(text)).toEqual(["[Slice]", `MemoryMax=${8 * G}`, `MemoryHigh=${6 * G}`, "CPUQuota=400%", "TasksMax=2048"]);
    expect(text.endsWith("TasksMax=2048\n")).toBe(true);
  });

  it("keeps the user's name out of the file: the header names the uid only", () => {
    const text = dropinText(alice, { MemoryMax: G });
    expect(text).not.toContain(alice.name);
    expect(text).toContain(`user-${alice.uid}.slice`);
  });

  it("needs at least one cap", () => {
    expect(thrown(() => parseUserCaps({}))).toMatchObject({ code: "USAGE", message: expect.stringMatching(/^no cap given: .*--memory-max .*--remove/) });
  });

  // Each bad value in the policy's JSON form, and as the command line gives it.
  const BAD: [UserCapProperty, unknown, string][] = [
    ["MemoryMax", "4GB", "4GB"],
    ["MemoryMax", "-1", "-1"],
    ["MemoryMax", 0, "0"],
    ["MemoryMax", "1.5G", "1.5G"],
    ["MemoryHigh", "lots", "lots"],
    ["CPUQuota", 200, "200"],
    ["CPUQuota", "1.5%", "1.5%"],
    ["CPUQuota", "0%", "0%"],
    ["TasksMax", 0, "0"],
    ["TasksMax", "many", "many"],
    ["TasksMax", 2 ** 53, String(2 ** 53)],
  ];

  it.each(BAD)("refuses %s %j with the policy's own words, as a USAGE error naming the option", (name, json, text) => {
    const policy = thrown(() => parseCgroupPolicy({ max: { [name]: json } }));
    const cli = thrown(() => parseUserCaps({ [name]: text }));
    expect(policy.code).toBe("POLICY");
    expect(cli.code).toBe("USAGE");
    const mustBe = (message: string, after: string) => message.slice(message.indexOf(after) + after.length);
    const words = mustBe(policy.message, `"cgroup.max.${name}" `);
    expect(words).toMatch(/^must be /);
    expect(cli.message).toBe(`${{ MemoryMax: "--memory-max", MemoryHigh: "--memory-high", CPUQuota: "--cpu-quota", TasksMax: "--tasks-max" }[name]} ${JSON.stringify(text)}: ${words}`);
  });
});

describe("whose slice", () => {
  it("one user's drop-in goes into user-UID.slice.d, every user's into user-.slice.d", () => {
    expect(sliceUnit(alice)).toBe("user-1234567.slice");
    expect(dropinPath(alice)).toBe("/etc/systemd/system/user-1234567.slice.d/50-ts-sudospawner.conf");
    expect(sliceUnit({ kind: "all-users" })).toBe("user-.slice");
    expect(dropinPath({ kind: "all-users" })).toBe("/etc/systemd/system/user-.slice.d/50-ts-sudospawner.conf");
  });

  it("takes an ordinary user, a directory-service name included", () => {
    expect(userTarget({ name: "Alice.Smith@corp.example.com", uid: 1234567 }, 1000)).toEqual(alice);
    expect(userTarget({ name: "bob", uid: 1000 }, 1000)).toEqual({ kind: "user", name: "bob", uid: 1000 });
  });

  it.each([
    [{ name: "toor", uid: 0 }, 1000, /^refusing to cap toor \(uid 0\): root's/],
    [{ name: "nobody", uid: 65534 }, 1000, /^refusing to cap nobody \(uid 65534\), the unprivileged placeholder/],
    [{ name: "nfsnobody", uid: 65534 }, 1000, /placeholder/],
    [{ name: "www-data", uid: 33 }, 1000, /^refusing to cap system account www-data \(uid 33\), below UID_MIN 1000/],
    [{ name: "carol", uid: 1500 }, 2000, /below UID_MIN 2000/],
  ])("refuses %j (UID_MIN %d) as the mediator does", (account, uidMin, message) => {
    expect(thrown(() => userTarget(account, uidMin))).toEqual({ code: "FORBIDDEN_USER", message: expect.stringMatching(message) });
  });
});
