import { describe, expect, it } from "vitest";
import { diagnoseSudoFailure, runasForCommand, runasGroup } from "../../../../src/admin/check/diagnose.js";

const ctx = { hub: "rhea", user: "alice", mediator: "/opt/tsss/bin/ts-sudospawner", singleUser: "/opt/jupyterhub/bin/jupyterhub-singleuser" };
const LISTING = `Matching Defaults entries for rhea on vm:
    env_reset, secure_path=/usr/bin

User rhea may run the following commands on vm:
    (%jupyterhub, !#0) NOPASSWD: /opt/tsss/bin/ts-sudospawner
    (root) NOPASSWD: /usr/sbin/whoami
`;

/** Real \`sudo -ll -U rhea\` output (sudo 1.9.13; the group and user names of a directory service). */
const LONG_LISTING = `Matching Defaults entries for rhea on vm:
    env_reset, mail_badpass, secure_path=/usr/local/sbin\\:/usr/bin, use_pty, !requiretty

User rhea may run the following commands on vm:

Sudoers entry:
    RunAsUsers: "%tsss domain users", TSSS\\carol, !#0
    Options: !authenticate
    Commands:
\t/opt/tsss/bin/ts-sudospawner

Sudoers entry:
    RunAsUsers: root
    Options: !authenticate
    Commands:
\t/usr/bin/whoami
`;

describe("runasForCommand", () => {
  it("finds the Runas list of the rule naming the command", () => {
    expect(runasForCommand(LISTING, "/opt/tsss/bin/ts-sudospawner")).toBe("%jupyterhub, !#0");
    expect(runasForCommand(LISTING, "/usr/sbin/whoami")).toBe("root");
    expect(runasForCommand(LISTING, "/opt/other/bin/ts-sudospawner")).toBeUndefined();
  });

  it("reads the long listing too", () => {
    expect(runasForCommand(LONG_LISTING, "/opt/tsss/bin/ts-sudospawner")).toBe('"%tsss domain users", TSSS\\carol, !#0');
    expect(runasForCommand(LONG_LISTING, "/usr/bin/whoami")).toBe("root");
    expect(runasForCommand(LONG_LISTING, "/opt/other/bin/ts-sudospawner")).toBeUndefined();
  });

  it("finds the group of a Runas list, quoted or not", () => {
    expect(runasGroup("%jupyterhub, !#0")).toBe("jupyterhub");
    expect(runasGroup('"%tsss domain users", TSSS\\carol, !#0')).toBe("tsss domain users");
    expect(runasGroup("alice, %#1000, !#0")).toBeUndefined();
  });
});

describe("diagnoseSudoFailure (real messages)", () => {
  it("a refusal with the rule present means the user is not in the Runas group", () => {
    const d = diagnoseSudoFailure("sudo: a password is required\n", { ...ctx, listing: LISTING });
    expect(d.cause).toBe("rhea may run /opt/tsss/bin/ts-sudospawner only as (%jupyterhub, !#0), which does not include alice");
    expect(d.fix).toBe("as root: `usermod -aG jupyterhub alice` (or add alice to jupyterhub in the directory service)");
  });

  it("names a directory-service group shell-quoted", () => {
    const d = diagnoseSudoFailure("sudo: a password is required\n", { ...ctx, user: "CORP\\dave", listing: LONG_LISTING });
    expect(d.cause).toBe('rhea may run /opt/tsss/bin/ts-sudospawner only as ("%tsss domain users", TSSS\\carol, !#0), which does not include CORP\\dave');
    expect(d.fix).toBe("as root: `usermod -aG 'tsss domain users' 'CORP\\dave'` (or add CORP\\dave to tsss domain users in the directory service)");
  });

  it("a refusal with no rule for the path means the rule is missing or names another path", () => {
    const d = diagnoseSudoFailure("sudo: a password is required\n", { ...ctx, listing: "User rhea is not allowed to run sudo on vm.\n" });
    expect(d.cause).toMatch(/^no sudoers rule lets rhea run \/opt\/tsss\/bin\/ts-sudospawner without a password/);
    expect(d.fix).toBe("as root: `ts-sudospawner sudoers --hub-user rhea --group GROUP --mediator /opt/tsss/bin/ts-sudospawner --install`");
  });

  it("a refusal seen by the hub itself lists every possible reason", () => {
    const d = diagnoseSudoFailure("sudo: a password is required\n", ctx);
    expect(d.cause).toMatch(/the rule is missing, names another path, or alice is not in its Runas list/);
    expect(d.fix).toMatch(/check the group with `id alice`$/);
  });

  it("node missing from secure_path (both quote styles of env)", () => {
    for (const message of ["/usr/bin/env: 'node': No such file or directory", "/usr/bin/env: ‘node’: No such file or directory"]) {
      const d = diagnoseSudoFailure(message, { ...ctx, nodeFix: "FIX" });
      expect(d.cause).toBe("sudo runs the mediator with PATH=secure_path, and node is not in any of its directories");
      expect(d.fix).toBe("FIX");
    }
  });

  it("names the server of the site's venv (check --venv) in the link it asks for", () => {
    const d = diagnoseSudoFailure("no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in /opt/tsss/bin", { ...ctx, singleUser: "/srv/jhub-5/bin/jupyterhub-singleuser" });
    expect(d.fix).toBe("as root: `ln -s /srv/jhub-5/bin/jupyterhub-singleuser /opt/tsss/bin/jupyterhub-singleuser` (the venv's jupyterhub-singleuser by its full path)");
  });

  it.each([
    ["sudo: sorry, you must have a tty to run sudo", /requiretty/, "add `Defaults:rhea !requiretty` (the generated rule has it)"],
    ["sudo: unknown user alice", /does not know one of the users/, /getent passwd NAME/],
    ["refusing to act as root: single-user servers must run as ordinary users.", /refuses to run servers as root/, /restrict the Runas list/],
    ["cannot load the native addon /x/tsss_native.node (...)", /native addon/, /npm rebuild/],
    ["no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in /opt/tsss/bin", /no single-user executable/, 'as root: `ln -s /opt/jupyterhub/bin/jupyterhub-singleuser /opt/tsss/bin/jupyterhub-singleuser` (the venv\'s jupyterhub-singleuser by its full path)'],
    [
      "home directory /home/alice of alice does not exist; create it",
      /has no home directory/,
      "as root: `mkhomedir_helper alice`; to create homes on first spawn, for rhea's sudo calls only: `printf '%s\\n' 'session [success=1 default=ignore] pam_succeed_if.so quiet ruser != rhea' 'session optional pam_mkhomedir.so skel=/etc/skel umask=0077' >> /etc/pam.d/sudo`",
    ],
    ["sudo: unable to execute /opt/tsss/bin/ts-sudospawner: Permission denied", /cannot read or execute the mediator/, /chmod -R a\+rX PREFIX/],
    ["sudo: /opt/tsss/bin/ts-sudospawner: command not found", /sudo cannot find \/opt\/tsss\/bin\/ts-sudospawner: it does not exist, or rhea cannot search/, /chmod a\+x DIR/],
    ["something else entirely", /its output says why/, /--logging=debug/],
  ])("%s", (output, cause, fix) => {
    const d = diagnoseSudoFailure(output, ctx);
    expect(d.cause).toMatch(cause);
    if (typeof fix === "string") expect(d.fix).toBe(fix);
    else expect(d.fix).toMatch(fix);
  });
});
