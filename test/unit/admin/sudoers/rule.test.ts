import { describe, expect, it } from "vitest";
import {
  commandAliasName,
  generateSnippet,
  parseUserList,
  runasList,
  SLURM_NOTE,
  sudoersName,
  validateAccountName,
  validateCommandPath,
} from "../../../../src/admin/sudoers/rule.js";
import { SudoSpawnerError } from "../../../../src/errors.js";

const MEDIATOR = "/opt/ts-sudospawner/bin/ts-sudospawner";

function usageError(fn: () => unknown): SudoSpawnerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SudoSpawnerError);
    expect((error as SudoSpawnerError).code).toBe("USAGE");
    return error as SudoSpawnerError;
  }
  throw new Error("expected a USAGE error");
}

describe("validateAccountName", () => {
  it.each(["rhea", "jupyterhub", "b.ob", "tsss-alice", "_svc", "a", "user_1", "host01$", "a".repeat(256), "Alice.Smith@corp.example.com", "CORP\\alice", "ALICE", "domain users", "1alice", ".alice", "a$b", "alice,root", '"alice"'])(
    "accepts %j",
    (name) => {
      expect(validateAccountName(name, "user")).toBe(name);
    },
  );

  it.each([
    ["root", "the user must not be root"],
    ["#0", /invalid user name "#0": it begins with "#"/],
    ["#1000", /invalid user name/],
    ["%wheel", /invalid user name/],
    ["!root", /invalid user name/],
    ["+netgroup", /invalid user name/],
    ["-alice", /invalid user name/],
    ["alice\tbob", /invalid user name/],
    ["al\nroot", /invalid user name/],
    ["alice:x", /invalid user name/],
    [" alice", /invalid user name/],
    ["", /invalid user name "": it is empty/],
    ["a".repeat(257), /longer than 256 characters/],
  ])("rejects %j", (name, message) => {
    expect(usageError(() => validateAccountName(name, "user")).message).toMatch(message);
  });

  it("names the kind of name in the message", () => {
    expect(usageError(() => validateAccountName("root", "hub user")).message).toBe("the hub user must not be root");
    expect(usageError(() => validateAccountName("a\tb", "group")).message).toMatch(/^invalid group name "a\\tb": it contains a control character/);
  });
});

describe("sudoersName", () => {
  it.each([
    ["alice", "user", "alice"],
    ["tsss-b.ob", "user", "tsss-b.ob"],
    ["host01$", "user", "host01$"],
    ["Alice.Smith@corp.example.com", "user", "Alice.Smith@corp.example.com"],
    ["jupyterhub", "group", "%jupyterhub"],
    ["TSSSBOB", "user", '"TSSSBOB"'],
    ["A_1", "user", '"A_1"'],
    ["CORP\\alice", "user", '"CORP\\alice"'],
    ["John Smith", "user", '"John Smith"'],
    ["domain users", "group", '"%domain users"'],
    ["jupyter@corp.example.com", "group", "%jupyter@corp.example.com"],
    ['a"b', "user", '"a\\"b"'],
    ['a\\"b', "user", '"a\\\\"b"'],
    ["a,b", "user", '"a,b"'],
    ["rhea ALL=(ALL) NOPASSWD ALL #", "hub user", '"rhea ALL=(ALL) NOPASSWD ALL #"'],
    ["élodie", "user", '"élodie"'],
  ] as const)("spells %j (%s) as %s", (name, kind, spelled) => {
    expect(sudoersName(name, kind)).toBe(spelled);
  });

  it("refuses what sudoers cannot spell, with the by-hand form", () => {
    expect(usageError(() => sudoersName("ALL", "user", 1234)).message).toBe(
      'the user name "ALL" cannot be written into a sudoers rule: sudoers reads it as "everyone"; write the rule by hand with the numeric id instead of the name: #1234 (`id -u ALL` prints it), and check it with `visudo -cf FILE`',
    );
    expect(usageError(() => sudoersName("CORP\\", "group")).message).toBe(
      "the group name \"CORP\\\\\" cannot be written into a sudoers rule: a backslash at the end of a quoted name would escape the closing quote; write the rule by hand with the numeric id instead of the name: %#GID (`getent group 'CORP\\'` prints it), and check it with `visudo -cf FILE`",
    );
    expect(usageError(() => sudoersName("#0", "user")).message).toMatch(/^invalid user name "#0"/);
  });
});

describe("parseUserList", () => {
  it("splits, trims and de-duplicates", () => {
    expect(parseUserList("alice, bob,alice ,b.ob")).toEqual(["alice", "bob", "b.ob"]);
  });

  it.each([
    ["", /--users needs at least one user name/],
    [",", /--users needs at least one user name/],
    ["alice,,bob", /--users "alice,,bob" has an empty entry/],
    ["alice,root", /the user must not be root/],
    ["alice,#0", /invalid user name "#0"/],
  ])("rejects %j", (list, message) => {
    expect(usageError(() => parseUserList(list)).message).toMatch(message);
  });
});

describe("validateCommandPath", () => {
  it.each([MEDIATOR, "/usr/sbin/mkhomedir_helper", "/opt/node-v20.1/bin/ts-sudospawner", "/a/b+c@d/e"])("accepts %j", (p) => {
    expect(validateCommandPath(p, "the mediator path")).toBe(p);
  });

  it.each([
    ["bin/ts-sudospawner", /is not an absolute path/],
    ["./ts-sudospawner", /is not an absolute path/],
    ["/opt/x/../x/bin/ts-sudospawner", /is not in normal form.*use "\/opt\/x\/bin\/ts-sudospawner"/],
    ["/opt//x/bin/ts-sudospawner", /is not in normal form/],
    ["/opt/./x/ts-sudospawner", /is not in normal form/],
    ["/opt/x/bin/", /is not in normal form.*use "\/opt\/x\/bin"/],
    ["/opt/my dir/ts-sudospawner", /characters sudoers would interpret/],
    ["/opt/x/ts-sudospawner, /bin/sh", /characters sudoers would interpret/],
    ["/opt/x:y/ts-sudospawner", /characters sudoers would interpret/],
    ["/opt/x=y/ts-sudospawner", /characters sudoers would interpret/],
    ["/opt/x\\y/ts-sudospawner", /characters sudoers would interpret/],
    ["/opt/*/ts-sudospawner", /characters sudoers would interpret/],
    ["/opt/x/ts-sudospawner?", /characters sudoers would interpret/],
    ["/opt/[x]/ts-sudospawner", /characters sudoers would interpret/],
    ["/opt/x/ts-sudospawner\nroot ALL=(ALL) ALL", /characters sudoers would interpret/],
    ['/opt/"x"/ts', /characters sudoers would interpret/],
  ])("rejects %j", (p, message) => {
    expect(usageError(() => validateCommandPath(p, "the mediator path")).message).toMatch(message);
  });
});

describe("runasList", () => {
  it("always ends with the uid-0 exclusion", () => {
    expect(runasList({ kind: "group", group: "jupyterhub" })).toBe("%jupyterhub, !#0");
    expect(runasList({ kind: "users", users: ["alice", "b.ob"] })).toBe("alice, b.ob, !#0");
    expect(runasList({ kind: "group", group: "domain users" })).toBe('"%domain users", !#0');
    expect(runasList({ kind: "users", users: ["CORP\\alice", "Alice.Smith@corp.example.com", "BOB"] })).toBe('"CORP\\alice", Alice.Smith@corp.example.com, "BOB", !#0');
  });

  it("refuses an empty list, root and ALL", () => {
    expect(usageError(() => runasList({ kind: "users", users: [] })).message).toMatch(/needs a group or at least one user/);
    expect(usageError(() => runasList({ kind: "group", group: "root" })).message).toBe("the group must not be root");
    expect(usageError(() => runasList({ kind: "users", users: ["ALL"] }, () => 77)).message).toMatch(/^the user name "ALL" cannot be written into a sudoers rule: .* #77 /);
  });
});

describe("commandAliasName", () => {
  it("derives an alias name sudoers accepts from any valid hub name", () => {
    expect(commandAliasName("rhea")).toBe("TSSS_MEDIATOR_RHEA");
    expect(commandAliasName("tsss-b.ob")).toBe("TSSS_MEDIATOR_TSSS_B_OB");
    expect(commandAliasName("svc$")).toBe("TSSS_MEDIATOR_SVC_");
    expect(commandAliasName("jupyter-hub_01")).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });
});

describe("generateSnippet", () => {
  const base = { hubUser: "rhea", runas: { kind: "group", group: "jupyterhub" } as const, mediatorPath: MEDIATOR, generator: "ts-sudospawner 9.9.9" };

  it("produces the exact rule for a group", () => {
    const text = generateSnippet(base);
    const rules = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    expect(rules).toEqual([
      `Cmnd_Alias TSSS_MEDIATOR_RHEA = ${MEDIATOR}`,
      "Defaults:rhea !requiretty",
      "rhea ALL=(%jupyterhub, !#0) NOPASSWD: TSSS_MEDIATOR_RHEA",
    ]);
    expect(text.endsWith("\n")).toBe(true);
    expect(text).toContain("generated by ts-sudospawner 9.9.9");
    expect(text).toContain(`c.TsSudoSpawner.mediator_path (or c.SudoSpawner.sudospawner_path) must be exactly ${MEDIATOR}`);
  });

  it("produces the exact rule for a list of users", () => {
    const text = generateSnippet({ ...base, hubUser: "tsss-hub", runas: { kind: "users", users: ["tsss-alice", "tsss-b.ob"] } });
    expect(text).toContain("tsss-hub ALL=(tsss-alice, tsss-b.ob, !#0) NOPASSWD: TSSS_MEDIATOR_TSSS_HUB\n");
    expect(text).toContain("as the users tsss-alice, tsss-b.ob;");
  });

  it("is the same rule for Slurm mode: no SETENV or other way to pass -E, no rule for the job commands", () => {
    for (const runas of [base.runas, { kind: "users", users: ["tsss-alice"] } as const]) {
      const text = generateSnippet({ ...base, runas });
      // What sudo reads: comments are not part of the rule.
      const rules = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
      const userSpec = rules.find((line) => line.includes("NOPASSWD"));
      // The only tag is NOPASSWD: no SETENV (which also allows `sudo -E` and VAR=value), no EXEC/MAIL games.
      expect(userSpec).toMatch(/\) NOPASSWD: TSSS_MEDIATOR_RHEA$/);
      expect(rules.join("\n")).not.toMatch(/SETENV|setenv|env_keep|env_reset|env_check|env_delete|env_file|\bALL$/);
      expect(rules.join("\n")).not.toMatch(/sbatch|squeue|scancel|srun|salloc|slurm/i);
      // The command list is the mediator alone.
      expect(rules.filter((line) => line.startsWith("Cmnd_Alias"))).toEqual([`Cmnd_Alias TSSS_MEDIATOR_RHEA = ${MEDIATOR}`]);
      // And the explanation says so, for the admin who would otherwise add a rule for sbatch.
      expect(text).toContain(["", ...SLURM_NOTE, ""].join("\n"));
      expect(text).toContain("# The same rule serves Slurm mode");
    }
  });

  it("never grants ALL or root", () => {
    const text = generateSnippet(base);
    const rules = text.split("\n").filter((line) => !line.startsWith("#"));
    expect(rules.join("\n")).not.toMatch(/\(ALL|\bALL\)|\(root|NOPASSWD: ALL/);
  });

  it("quotes directory-service names wherever they appear", () => {
    const text = generateSnippet({ ...base, hubUser: "CORP\\jhub", runas: { kind: "group", group: "domain users" } });
    const rules = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    expect(rules).toEqual([
      `Cmnd_Alias TSSS_MEDIATOR_CORP_JHUB = ${MEDIATOR}`,
      'Defaults:"CORP\\jhub" !requiretty',
      '"CORP\\jhub" ALL=("%domain users", !#0) NOPASSWD: TSSS_MEDIATOR_CORP_JHUB',
    ]);
    expect(text).toContain("# Lets the hub user CORP\\jhub run the mediator, and nothing else, as the members of group domain users;");
  });

  it.each([
    [{ hubUser: "root" }, "the hub user must not be root"],
    [{ hubUser: "rhea\nroot ALL=(ALL) NOPASSWD: ALL" }, /invalid hub user name/],
    [{ hubUser: "ALL" }, /the hub user name "ALL" cannot be written into a sudoers rule/],
    [{ runas: { kind: "group", group: "ALL" } }, /the group name "ALL" cannot be written into a sudoers rule/],
    [{ runas: { kind: "group", group: "%jupyter" } }, /invalid group name/],
    [{ runas: { kind: "users", users: ["alice", "root"] } }, "the user must not be root"],
    [{ runas: { kind: "users", users: ["rhea"] } }, "the hub user rhea must not be one of the users it spawns servers for"],
    [{ mediatorPath: "ts-sudospawner" }, /is not an absolute path/],
    [{ mediatorPath: "/opt/x/bin/ts-sudospawner, ALL" }, /characters sudoers would interpret/],
  ])("rejects %j", (override, message) => {
    expect(usageError(() => generateSnippet({ ...base, ...override } as Parameters<typeof generateSnippet>[0])).message).toMatch(message);
  });
});
