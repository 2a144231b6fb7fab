/**
 * The judgments behind check's hazard rows, on real output of sudo 1.9.13 (`sudo -ll -U HUB`,
 * `cvtsudoers -e -f json`) captured on Debian 12 into test/unit/admin/host/fixtures.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  describeRule,
  envHazards,
  envResetOff,
  exemptGroup,
  keepsDangerous,
  otherRules,
  runasGrants,
  specificDefaultsForMediator,
} from "../../../../src/admin/host/sudo-hazards.js";
import { parseLongListing, splitListEntries, unquoteListedName } from "../../../../src/admin/host/sudo-listing.js";

const fixture = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "fixtures", name), "utf8");
const MEDIATOR = "/opt/tsss-test/bin/ts-sudospawner";
const RULES = parseLongListing(fixture("sudo-ll-rules.txt"));
const DEFAULTS = parseLongListing(fixture("sudo-ll-defaults.txt"));

describe("parseLongListing", () => {
  it("reads every entry of the hub's rules", () => {
    expect(RULES.rules).toEqual([
      { runAsUsers: ['"%tsss domain users"', "TSSS\\carol", "!#0"], runAsGroups: [], options: ["!authenticate"], commands: [MEDIATOR] },
      { runAsUsers: ["root"], runAsGroups: [], options: ["!authenticate"], commands: ["/usr/bin/whoami"] },
      { runAsUsers: ["ALL"], runAsGroups: ["ALL"], options: ["!authenticate"], commands: ["/usr/local/bin/sudospawner"] },
      { runAsUsers: ["tsss-x-al"], runAsGroups: [], options: ["setenv", "!authenticate"], commands: ["/usr/bin/id", "/bin/true", "!/bin/sh"] },
      { runAsUsers: ["tsss-x-al"], runAsGroups: [], options: [], commands: ["/usr/bin/env"] },
    ]);
    expect(RULES.defaults).toEqual(["env_reset", "mail_badpass", "secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin", "use_pty", "!requiretty"]);
  });

  it("reads the Defaults, the specific ones included", () => {
    expect(DEFAULTS.defaults.slice(-4)).toEqual(["exempt_group=tsss-x-grp", "!env_reset", 'env_keep+="NODE_OPTIONS LANG"', "env_keep+=LD_*"]);
    expect(DEFAULTS.specificDefaults).toEqual(['Defaults>tsss-x-al env_keep="PYTHONPATH X"', "Defaults>root env_keep=NODE_OPTIONS", `Defaults!${MEDIATOR} setenv`]);
  });

  it("splits lists at commas outside quotes and escapes", () => {
    expect(splitListEntries('"%a, b", c\\,d, e')).toEqual(['"%a, b"', "c\\,d", "e"]);
    expect(unquoteListedName('"%tsss domain users"')).toBe("%tsss domain users");
    expect(unquoteListedName("TSSS\\carol")).toBe("TSSS\\carol");
  });
});

describe("otherRules", () => {
  it("flags everything but the mediator as the users of the rule", () => {
    const hazards = otherRules(RULES, MEDIATOR);
    expect(hazards.map((hazard) => [describeRule(hazard.rule), hazard.reason, hazard.passwordless])).toEqual([
      ["(root) NOPASSWD: /usr/bin/whoami", "it may run /usr/bin/whoami as root", true],
      ["(ALL : ALL) NOPASSWD: /usr/local/bin/sudospawner", "it may run /usr/local/bin/sudospawner as ALL : ALL", true],
      ["(tsss-x-al) NOPASSWD: SETENV: /usr/bin/id, /bin/true, !/bin/sh", "it may run /usr/bin/id, /bin/true as tsss-x-al", true],
      ["(tsss-x-al) /usr/bin/env", "it may run /usr/bin/env as tsss-x-al", false],
    ]);
  });

  it("flags the mediator as everyone or as root, and passes the generated rule", () => {
    const rule = (runAsUsers: string[]) => ({ defaults: [], specificDefaults: [], rules: [{ runAsUsers, runAsGroups: [], options: ["!authenticate"], commands: [MEDIATOR] }] });
    expect(otherRules(rule(["ALL"]), MEDIATOR)[0]?.reason).toBe("it may run the mediator as every user, not only those who get servers");
    expect(otherRules(rule(["ALL", "!#0"]), MEDIATOR)).toHaveLength(1);
    expect(otherRules(rule(["alice", "root"]), MEDIATOR)[0]?.reason).toBe("it may run the mediator as root");
    expect(otherRules(rule([]), MEDIATOR)).toHaveLength(1);
    expect(otherRules(rule(['"%domain users"', "!#0"]), MEDIATOR)).toEqual([]);
  });
});

describe("Defaults that reach the hub", () => {
  it("exempt_group, and its last setting winning", () => {
    expect(exemptGroup(DEFAULTS)).toBe("tsss-x-grp");
    expect(exemptGroup(RULES)).toBeUndefined();
    expect(exemptGroup({ defaults: ["exempt_group=%wheel", "!exempt_group"], specificDefaults: [], rules: [] })).toBeUndefined();
  });

  it("!env_reset, globally or for the mediator's Runas users", () => {
    expect(envResetOff(DEFAULTS, MEDIATOR)).toBe("!env_reset");
    expect(envResetOff(RULES, MEDIATOR)).toBeUndefined();
    expect(envResetOff({ defaults: ["env_reset"], specificDefaults: ["Defaults>alice !env_reset"], rules: [] }, MEDIATOR)).toBe("!env_reset");
    expect(envResetOff({ defaults: ["env_reset"], specificDefaults: ["Defaults>root !env_reset", "Defaults!/usr/bin/id !env_reset"], rules: [] }, MEDIATOR)).toBeUndefined();
  });

  it("env_keep of loader and interpreter variables, and SETENV, but not Defaults>root", () => {
    expect(specificDefaultsForMediator(DEFAULTS, MEDIATOR)).toEqual(['env_keep="PYTHONPATH X"', "setenv"]);
    const env = envHazards(DEFAULTS, MEDIATOR);
    expect(env.dangerous).toEqual([
      { entry: 'env_keep+="NODE_OPTIONS LANG"', names: ["NODE_OPTIONS"] },
      { entry: "env_keep+=LD_*", names: ["LD_*"] },
      { entry: 'env_keep="PYTHONPATH X"', names: ["PYTHONPATH"] },
    ]);
    expect(env.harmless).toEqual(["LANG", "X"]);
    expect(env.setenv).toEqual(["Defaults setenv", `SETENV on (tsss-x-al, !#0) NOPASSWD: SETENV: ${MEDIATOR}`]);
    expect(envHazards(RULES, MEDIATOR)).toEqual({ dangerous: [], harmless: [], setenv: [] });
  });

  it.each([
    ["NODE_OPTIONS", true],
    ["LD_PRELOAD", true],
    ["PYTHONSTARTUP", true],
    ["BASH_ENV", true],
    ["*", true],
    ["N*", true],
    ["NODE*", true],
    ["LC_*", false],
    ["LANG", false],
    ["DISPLAY", false],
    ["XAUTHORITY", false],
    ["ENVX", false],
  ] as const)("env_keep %s is dangerous: %s", (name, dangerous) => {
    expect(keepsDangerous(name)).toBe(dangerous);
  });
});

describe("runasGrants (cvtsudoers -e -f json)", () => {
  const json = JSON.parse(fixture("cvtsudoers.json")) as unknown;
  const hub = { name: "tsss-x-hub", uid: 1013, groups: ["tsss-x-hub", "tsss-x-grp"], gids: [1015, 1017] };

  it("finds everyone who may become the hub, by name, alias or group, but not (ALL) rules", () => {
    expect(runasGrants(json, hub)).toEqual([
      { users: ["tsss-x-al"], runas: ["tsss-x-hub"], commands: ["ALL"], passwordless: true },
      { users: ["%tsss-x-grp"], runas: ["tsss-x-hub"], commands: ["ALL"], passwordless: false },
      { users: ["tsss-x-al"], runas: ["tsss-x-hub"], commands: ["ALL"], passwordless: false },
    ]);
  });

  it("finds nothing for a hub no rule names", () => {
    expect(runasGrants(json, { name: "tsss-other", uid: 4242, groups: ["tsss-other"], gids: [4242] })).toEqual([]);
    expect(runasGrants({ User_Specs: [{ User_List: [{ username: "root" }], Cmnd_Specs: [{ runasusers: [{ username: "tsss-x-hub" }], Commands: [{ command: "ALL" }] }] }] }, hub)).toEqual([]);
    expect(runasGrants({ User_Specs: [{ User_List: [{ username: "eve" }], Cmnd_Specs: [{ runasusers: [{ username: "tsss-x-hub", negated: true }] }] }] }, hub)).toEqual([]);
  });

  it("matches a uid and a group gid", () => {
    const specs = (member: Record<string, unknown>) => ({ User_Specs: [{ User_List: [{ username: "eve" }], Cmnd_Specs: [{ runasusers: [member], Commands: [{ command: "/bin/sh" }] }] }] });
    expect(runasGrants(specs({ userid: 1013 }), hub)).toHaveLength(1);
    expect(runasGrants(specs({ usergid: 1017 }), hub)).toEqual([{ users: ["eve"], runas: ["%#1017"], commands: ["/bin/sh"], passwordless: false }]);
  });
});
