/**
 * `ts-sudospawner check` finds what an old sudospawner setup leaves behind, one row per hazard,
 * each set up for real: sudoers drop-ins (and a line in /etc/sudoers itself) installed and removed,
 * a secure_path directory the hub owns, unit files in a temporary directory (and one in
 * /etc/systemd/system that check finds by its User=), and the shadow group.
 *
 * Own names: the hub tsss-hz-hub (with the generated rule for the shared install), tsss-hz-other,
 * the groups tsss-hz-exempt and tsss-hz-ops, sudoers files tsss-hz-*, the log directory
 * /var/tmp/tsss-hz-logs; all removed in afterAll, and /etc/sudoers and the site policy are put back
 * byte for byte.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { CheckReport, CheckRow } from "../../../src/admin/check/report.js";
import { REPO_ROOT } from "../../helpers/install.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { ensureGroup, ensureUser, installSudoers, removeGroup, removeSudoers, removeUser, userInfo } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("check hazards (test/integration/admin/check-hazards.test.ts)", fx.reason);

const HUB = "tsss-hz-hub";
const OTHER = "tsss-hz-other";
const EXEMPT = "tsss-hz-exempt";
const OPS = "tsss-hz-ops";
const HAZARD = "tsss-hz-hazard"; // the drop-in each test installs
const FOUND_UNIT = "/etc/systemd/system/tsss-hz-hub.service";
const CLEAN_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C", LC_ALL: "C" };
const SUDOERS_BACKUP = fs.existsSync("/etc/sudoers") ? fs.readFileSync("/etc/sudoers") : undefined;
const SHARED_LOGS = "/var/tmp/tsss-hz-logs";

interface Checked {
  status: number | null;
  rows: Record<string, CheckRow>;
  stdout: string;
}

function check(extra: readonly string[] = []): Checked {
  const run = spawnSync(fx.mediator, ["check", "--hub-user", HUB, "--user", fx.users[0] as string, "--json", ...extra], { encoding: "utf8", env: CLEAN_ENV, cwd: "/", timeout: 120_000 });
  let report: CheckReport;
  try {
    report = JSON.parse(run.stdout) as CheckReport;
  } catch {
    throw new Error(`check printed no JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  return { status: run.status, stdout: run.stdout, rows: Object.fromEntries(report.rows.map((row) => [row.id, row])) };
}

function hazard(text: string): string {
  return installSudoers(HAZARD, text);
}

/** Append `line` to /etc/sudoers (validated), returning its line number; afterAll restores the file. */
function appendToMainSudoers(line: string): number {
  const original = fs.readFileSync("/etc/sudoers", "utf8");
  const text = `${original.endsWith("\n") ? original : `${original}\n`}${line}\n`;
  const staging = "/etc/.sudoers.tsss-hz.tmp";
  fs.writeFileSync(staging, text, { mode: 0o440 });
  const valid = spawnSync("visudo", ["-cf", staging], { encoding: "utf8" });
  if (valid.status !== 0) {
    fs.rmSync(staging, { force: true });
    throw new Error(`visudo rejected the test line: ${valid.stdout}${valid.stderr}`);
  }
  fs.renameSync(staging, "/etc/sudoers");
  return text.trimEnd().split("\n").length;
}

function restoreMainSudoers(): void {
  if (SUDOERS_BACKUP === undefined) return;
  if (!fs.readFileSync("/etc/sudoers").equals(SUDOERS_BACKUP)) {
    fs.writeFileSync("/etc/.sudoers.tsss-hz.tmp", SUDOERS_BACKUP, { mode: 0o440 });
    fs.renameSync("/etc/.sudoers.tsss-hz.tmp", "/etc/sudoers");
  }
}

function cleanup(): void {
  removeSudoers(HAZARD);
  removeSudoers("tsss-hz-rule");
  restoreMainSudoers();
  fs.rmSync(FOUND_UNIT, { force: true });
  fs.rmSync("/tmp/tsss-hz-securepath", { recursive: true, force: true });
  fs.rmSync(SHARED_LOGS, { recursive: true, force: true });
  spawnSync("gpasswd", ["-d", HUB, "shadow"], { stdio: "ignore" });
  for (const user of [HUB, OTHER]) removeUser(user);
  for (const group of [EXEMPT, OPS]) removeGroup(group);
}

describe.skipIf(skip)("check finds the hazards of an old sudospawner setup (root, real sudo)", () => {
  let unitDir: string;

  beforeAll(() => {
    cleanup();
    ensureGroup(EXEMPT);
    ensureGroup(OPS);
    ensureUser(HUB, { groups: [EXEMPT] });
    ensureUser(OTHER, { groups: [OPS] });
    const rule = spawnSync(fx.mediator, ["sudoers", "--hub-user", HUB, "--group", fx.group], { encoding: "utf8", env: CLEAN_ENV, cwd: "/" });
    expect(rule.status, rule.stderr).toBe(0);
    installSudoers("tsss-hz-rule", rule.stdout);
    unitDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-hz-units-"));
  });

  afterEach(() => {
    removeSudoers(HAZARD);
    restoreMainSudoers();
  });

  afterAll(() => {
    cleanup();
    if (unitDir) fs.rmSync(unitDir, { recursive: true, force: true });
  });

  it("passes every sudo row on the generated rule alone, and skips the unit rows when there is no unit", () => {
    const { rows, status } = check();
    expect(status, JSON.stringify(rows, null, 1)).toBe(0);
    for (const id of ["hub-rules-only-mediator", "sudo-exempt-group", "sudo-env-reset", "sudo-env-keep", "who-becomes-hub", "secure-path-root-only"]) {
      expect(rows[id]?.status, `${id}: ${rows[id]?.detail}`).toBe("pass");
    }
    expect(rows["hub-rules-only-mediator"]?.detail).toBe(`\`sudo -ll -U ${HUB}\` lists only (%${fx.group}, !#0) NOPASSWD: ${fx.mediator}`);
    expect(rows["sudo-exempt-group"]?.detail).toBe("no exempt_group reaches the hub");
    expect(rows["unit-kill-mode"]).toMatchObject({ status: "skip", detail: expect.stringContaining(`has User=${HUB}; pass --unit FILE`) });
    expect(rows["pam-shadow"]?.status).toBe("warn");
  });

  it("fails on the old (ALL) sudospawner rule in an included file, naming the file and line", () => {
    const file = hazard(`# the old setup\nCmnd_Alias TSSS_HZ_JUPYTER = /usr/local/bin/sudospawner\n${HUB} ALL=(ALL) NOPASSWD: TSSS_HZ_JUPYTER\n`);
    const { rows, status } = check();
    expect(status).toBe(1);
    const row = rows["hub-rules-only-mediator"];
    expect(row?.status).toBe("fail");
    expect(row?.detail).toContain(`besides the mediator rule, sudo lets ${HUB}: (ALL) NOPASSWD: /usr/local/bin/sudospawner (it may run /usr/local/bin/sudospawner as ALL)`);
    expect(row?.fix).toBe(
      `as root, delete these lines, keeping only the rule from \`ts-sudospawner sudoers ... --install\`: ${file}:3 \`${HUB} ALL=(ALL) NOPASSWD: TSSS_HZ_JUPYTER\` (with \`visudo -f ${file}\`)`,
    );
  });

  it("fails on the old rule written into /etc/sudoers itself", () => {
    const line = appendToMainSudoers(`${HUB} ALL=(ALL) NOPASSWD: /usr/local/bin/sudospawner`);
    const { rows } = check();
    expect(rows["hub-rules-only-mediator"]?.status).toBe("fail");
    expect(rows["hub-rules-only-mediator"]?.fix).toContain(`/etc/sudoers:${line} \`${HUB} ALL=(ALL) NOPASSWD: /usr/local/bin/sudospawner\` (with \`visudo\`)`);
  });

  it("fails when the hub may run anything as root, and warns for a rule that needs a password", () => {
    hazard(`${HUB} ALL= NOPASSWD: /usr/bin/id\n`);
    expect(check().rows["hub-rules-only-mediator"]).toMatchObject({ status: "fail", detail: expect.stringContaining("(root) NOPASSWD: /usr/bin/id (it may run /usr/bin/id as root)") });
    hazard(`${HUB} ALL=(ALL) /usr/bin/id\n`);
    expect(check().rows["hub-rules-only-mediator"]).toMatchObject({ status: "warn", detail: expect.stringContaining("(it may run /usr/bin/id as ALL; with a password)") });
  });

  it("fails on exempt_group covering the hub (secure_path then does not apply)", () => {
    const file = hazard(`Defaults:${HUB} exempt_group=${EXEMPT}\n`);
    const { rows, status } = check();
    expect(status).toBe(1);
    expect(rows["sudo-exempt-group"]?.status).toBe("fail");
    expect(rows["sudo-exempt-group"]?.detail).toMatch(new RegExp(`^exempt_group=${EXEMPT} is set and ${HUB} is in ${EXEMPT}: sudo then skips secure_path`));
    expect(rows["sudo-exempt-group"]?.fix).toContain(`${file}:1 \`Defaults:${HUB} exempt_group=${EXEMPT}\``);
    hazard(`Defaults:${HUB} exempt_group=${OPS}\n`);
    expect(check().rows["sudo-exempt-group"]).toMatchObject({ status: "pass", detail: `exempt_group=${OPS} is set, but ${HUB} is not a member` });
  });

  it("fails on !env_reset for the hub", () => {
    const file = hazard(`Defaults:${HUB} !env_reset\n`);
    const { rows } = check();
    expect(rows["sudo-env-reset"]?.status).toBe("fail");
    expect(rows["sudo-env-reset"]?.detail).toMatch(/^`!env_reset` reaches the hub/);
    expect(rows["sudo-env-reset"]?.fix).toBe(`as root, delete the \`!env_reset\`: ${file}:1 \`Defaults:${HUB} !env_reset\` (with \`visudo -f ${file}\`)`);
  });

  it("fails on env_keep of NODE_OPTIONS and on SETENV for the mediator, not on harmless variables", () => {
    const file = hazard(`Defaults:${HUB} env_keep += "NODE_OPTIONS LANG"\n`);
    let rows = check().rows;
    expect(rows["sudo-env-keep"]?.status).toBe("fail");
    expect(rows["sudo-env-keep"]?.detail).toMatch(/^`env_keep\+="NODE_OPTIONS LANG"` keeps NODE_OPTIONS: /);
    expect(rows["sudo-env-keep"]?.fix).toContain(`${file}:1`);
    hazard(`Defaults!${fx.mediator} setenv\n`);
    rows = check().rows;
    expect(rows["sudo-env-keep"]?.status).toBe("fail");
    expect(rows["sudo-env-keep"]?.detail).toContain("Defaults setenv lets the hub set any variable");
    hazard(`Defaults:${HUB} env_keep += "LANG LC_ALL"\n`);
    expect(check().rows["sudo-env-keep"]).toMatchObject({ status: "pass", detail: expect.stringContaining("kept, and harmless to the mediator: LANG LC_ALL") });
  });

  it("fails when another user, or a group, may become the hub", () => {
    const file = hazard(`${OTHER} ALL=(${HUB}) NOPASSWD: ALL\n%${OPS} ALL=(${HUB}) /bin/sh\n`);
    const { rows, status } = check();
    expect(status).toBe(1);
    expect(rows["who-becomes-hub"]?.status).toBe("fail");
    expect(rows["who-becomes-hub"]?.detail).toMatch(new RegExp(`^${OTHER} may run ALL as \\(${HUB}\\) without a password; %${OPS} may run /bin/sh as \\(${HUB}\\): whoever can become ${HUB}`));
    expect(rows["who-becomes-hub"]?.fix).toContain(`${file}:1 \`${OTHER} ALL=(${HUB}) NOPASSWD: ALL\`; ${file}:2 \`%${OPS} ALL=(${HUB}) /bin/sh\``);
  });

  it("fails on a secure_path directory the hub can write", () => {
    fs.mkdirSync("/tmp/tsss-hz-securepath", { mode: 0o755 });
    const hub = spawnSync("id", ["-u", HUB], { encoding: "utf8" }).stdout.trim();
    fs.chownSync("/tmp/tsss-hz-securepath", Number(hub), 0);
    hazard(`Defaults:${HUB} secure_path="/tmp/tsss-hz-securepath:/usr/local/bin:/usr/bin:/bin"\n`);
    const { rows } = check();
    expect(rows["secure-path-root-only"]?.status).toBe("fail");
    expect(rows["secure-path-root-only"]?.detail).toBe(
      `/tmp/tsss-hz-securepath: owned by ${HUB} (uid ${hub}), who must not control what runs. Whoever can write a directory of secure_path can put a \`node\` there that runs as every user the hub serves`,
    );
    expect(rows["secure-path-root-only"]?.fix).toBe("as root: `chown root:root /tmp/tsss-hz-securepath && chmod go-w /tmp/tsss-hz-securepath`, or drop the directory from secure_path with `visudo`");
  });

  it("reads a unit given with --unit: KillMode, NoNewPrivileges (explicit or implied), SupplementaryGroups", () => {
    const write = (name: string, service: string) => {
      const file = path.join(unitDir, name);
      fs.writeFileSync(file, `[Unit]\nDescription=test hub\n\n[Service]\nUser=${HUB}\nExecStart=/usr/bin/jupyterhub\n${service}`);
      return file;
    };
    const plain = write("plain.service", "");
    let rows = check(["--unit", plain]).rows;
    expect(rows["unit-kill-mode"]).toMatchObject({ status: "fail", detail: `KillMode=control-group (${plain} (the default)): the servers live in the hub's cgroup, so \`systemctl restart\` or \`stop\` of the hub kills every one of them` });
    expect(rows["unit-kill-mode"]?.fix).toBe(`as root: set \`KillMode=process\` under [Service] in ${plain}, then \`systemctl daemon-reload\``);
    expect(rows["unit-no-new-privileges"]?.status).toBe("pass");

    const nnp = write("nnp.service", "KillMode=process\nNoNewPrivileges=yes\n");
    rows = check(["--unit", nnp]).rows;
    expect(rows["unit-kill-mode"]?.status).toBe("pass");
    expect(rows["unit-no-new-privileges"]).toMatchObject({ status: "fail", detail: expect.stringMatching(new RegExp(`^NoNewPrivileges=yes \\(${nnp}:8\\): with no_new_privs set, sudo cannot become anyone`)) });

    const implied = write("implied.service", "KillMode=process\nRestrictSUIDSGID=yes\n");
    fs.mkdirSync(`${implied}.d`);
    fs.writeFileSync(`${implied}.d/harden.conf`, "[Service]\nSystemCallFilter=@system-service\n");
    rows = check(["--unit", implied]).rows;
    expect(rows["unit-no-new-privileges"]?.detail).toMatch(new RegExp(`^SystemCallFilter=@system-service \\(${implied}.d/harden.conf:2\\), RestrictSUIDSGID=yes \\(${implied}:8\\)`));

    const shadow = write("shadow.service", "KillMode=process\nSupplementaryGroups=shadow\n");
    expect(check(["--unit", shadow]).rows["pam-shadow"]).toMatchObject({ status: "pass", detail: `${HUB} can read /etc/shadow (through the unit's SupplementaryGroups), as JupyterHub's PAMAuthenticator needs` });
  });

  it("finds the hub's unit in /etc/systemd/system by its User=", () => {
    fs.writeFileSync(FOUND_UNIT, `[Service]\nUser=${HUB}\nExecStart=/usr/bin/jupyterhub\nKillMode=mixed\n`);
    try {
      const rows = check().rows;
      expect(rows["unit-kill-mode"]).toMatchObject({ status: "fail", detail: expect.stringMatching(/^KillMode=mixed \(\/etc\/systemd\/system\/tsss-hz-hub\.service:4\)/) });
      expect(rows["unit-kill-mode"]?.fix).toBe("as root: set `KillMode=process` under [Service] in `systemctl edit tsss-hz-hub.service` (or /etc/systemd/system/tsss-hz-hub.service), then `systemctl daemon-reload`");
    } finally {
      fs.rmSync(FOUND_UNIT, { force: true });
    }
  });

  it("passes both unit rows on the shipped examples/jupyterhub/jupyterhub.service", () => {
    const file = path.join(unitDir, "jupyterhub.service");
    fs.writeFileSync(file, fs.readFileSync(path.join(REPO_ROOT, "examples/jupyterhub/jupyterhub.service"), "utf8").replace("User=jupyterhub", `User=${HUB}`));
    const rows = check(["--unit", file]).rows;
    expect(rows["unit-kill-mode"]?.status).toBe("pass");
    expect(rows["unit-no-new-privileges"]?.status).toBe("pass");
  });

  it("warns when PAM cannot read /etc/shadow as the hub, with the fix, and passes once the hub is in the shadow group", () => {
    const before = check().rows["pam-shadow"];
    expect(before?.status).toBe("warn");
    expect(before?.detail).toMatch(new RegExp(`^${HUB} cannot read /etc/shadow \\(owner root \\(uid 0\\), group shadow, mode 0640\\): with JupyterHub's default PAMAuthenticator every login fails`));
    expect(before?.fix).toBe(`as root: \`usermod -aG shadow ${HUB}\` (or SupplementaryGroups=shadow in the hub's unit)`);
    expect(spawnSync("usermod", ["-aG", "shadow", HUB]).status).toBe(0);
    expect(check().rows["pam-shadow"]?.status).toBe("pass");
  });

  it("warns when the server log's directory lets one user make another's log, naming it and the per-user fix; passes with {home}", () => {
    const policy = new SitePolicyGuard();
    const user = userInfo(fx.users[0] as string);
    fs.mkdirSync(SHARED_LOGS, { mode: 0o1777 });
    fs.chmodSync(SHARED_LOGS, 0o1777);
    try {
      policy.write({ serverLog: `${SHARED_LOGS}/{user}.log` });
      const shared = check().rows["server-log-dir"];
      expect(shared?.status).toBe("warn");
      expect(shared?.detail).toMatch(
        new RegExp(`^${SHARED_LOGS} \\(owner root \\(uid 0\\), group 0, mode 1777\\) is writable by everyone, and serverLog "${SHARED_LOGS}/\\{user\\}.log" \\(${SHARED_LOGS}/${user.name}.log for ${user.name}\\) puts every user's log in it: one user can make another's log file`),
      );
      expect(shared?.fix).toMatch(/^give each user a directory of their own in the site policy: "serverLog": "\{home\}\/.jupyterhub-singleuser.log"/);
      // A file another user made there in advance: every spawn of this user fails.
      fs.writeFileSync(`${SHARED_LOGS}/${user.name}.log`, "");
      fs.chownSync(`${SHARED_LOGS}/${user.name}.log`, userInfo(fx.users[1] as string).uid, 0);
      expect(check().rows["server-log-dir"]).toMatchObject({ status: "fail", fix: expect.stringMatching(new RegExp(`^as root: \`rm ${SHARED_LOGS}/${user.name}.log\``)) });
      policy.write({ serverLog: "{home}/.tsss-hz.log" });
      expect(check().rows["server-log-dir"]).toMatchObject({ status: "pass", detail: `serverLog "{home}/.tsss-hz.log" (${user.home}/.tsss-hz.log for ${user.name}): ${user.home} is a directory of each user's own` });
    } finally {
      policy.restore();
      fs.rmSync(SHARED_LOGS, { recursive: true, force: true });
    }
  });
});
