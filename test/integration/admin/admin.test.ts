/**
 * The admin commands as root against real sudo: `sudoers` output passes visudo, `--install` is
 * atomic, and `check` passes on good installs and fails with the right row on each broken one.
 *
 * Besides the shared fixture (read only), this suite makes its own install of the packed tarball
 * in /opt/tsss-admin-test, users and groups named tsss-adm-*, and sudoers files named tsss-adm-*,
 * and removes all of them in afterAll.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { CheckReport, CheckRow } from "../../../src/admin/check/report.js";
import { commandAliasName, generateSnippet } from "../../../src/admin/sudoers/rule.js";
import { installSnippet } from "../../../src/admin/sudoers/command.js";
import { pamHomeAdvice } from "../../../src/admin/pam-homes.js";
import { installDemoSingleUser, installTarball } from "../../helpers/install.js";
import { ensureGroup, ensureUser, installSudoers, removeGroup, removeSudoers, removeUser, userInfo } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { sudoMakesHomes } from "../../helpers/pam-sudo.js";

const fx = inject("rootFixture");
const skip = skipWithout("admin integration (test/integration/admin/admin.test.ts)", fx.reason);

const PREFIX = "/opt/tsss-admin-test";
const MEDIATOR = `${PREFIX}/bin/ts-sudospawner`;
const GROUP = "tsss-adm-users";
const HUB = "tsss-adm-hub"; // has the generated rule
const ANN = "tsss-adm-ann"; // in GROUP
const OUT = "tsss-adm-out"; // not in GROUP
const NOHOME = "tsss-adm-nohome"; // in GROUP, no home directory
const NORULE = "tsss-adm-norule"; // a hub without any rule
const WIDE = "tsss-adm-wide"; // a hub with `ALL=(ALL) NOPASSWD: ALL`
const PLAIN = "tsss-adm-plain"; // a hub with the common rule lacking `!#0`
const NONODE = "tsss-adm-nonode"; // a hub whose secure_path has no node
const MERGE = "tsss-adm-merge"; // a hub whose rule --install writes with --file, then must not cut off
const USERS = [HUB, ANN, OUT, NOHOME, NORULE, WIDE, PLAIN, NONODE, MERGE];
const SUDOERS = ["tsss-adm-rule", "tsss-adm-wide", "tsss-adm-plain", "tsss-adm-nonode", "tsss-adm-install", "tsss-adm-clash", "tsss-adm-merge"];
const CLEAN_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C", LC_ALL: "C" };
const IDS = [
  "rule-allows-mediator",
  "rule-not-too-broad",
  "rule-refuses-root",
  "install-root-only",
  "singleuser-executable",
  "home-usable",
  "hub-rules-only-mediator",
  "sudo-exempt-group",
  "sudo-env-reset",
  "sudo-env-keep",
  "who-becomes-hub",
  "secure-path-root-only",
  "unit-kill-mode",
  "unit-no-new-privileges",
  "pam-shadow",
  "server-log-dir",
  "spawn-and-kill",
  "python-orphans",
  "cgroup",
  "slurm-mode",
  "selinux-execmem",
];
/** On these test machines: no unit runs the hub, the hub is not in the shadow group, SELinux is off, and no policy sets a server log, cgroup caps or Slurm mode. */
const NO_UNIT = { "unit-kill-mode": "skip", "unit-no-new-privileges": "skip", "pam-shadow": "warn", "server-log-dir": "skip", "selinux-execmem": "skip", "slurm-mode": "skip" };

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(mediator: string, args: readonly string[], options: { uid?: number; gid?: number } = {}): CliRun {
  const result = spawnSync(mediator, args, { encoding: "utf8", env: CLEAN_ENV, cwd: "/", timeout: 120_000, ...options });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function check(args: readonly string[], mediator = MEDIATOR, options: { uid?: number; gid?: number } = {}): { run: CliRun; report: CheckReport; rows: Record<string, CheckRow> } {
  const run = cli(mediator, ["check", ...args, "--json"], options);
  let report: CheckReport;
  try {
    report = JSON.parse(run.stdout) as CheckReport;
  } catch {
    throw new Error(`check printed no JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  expect(report.rows.map((row) => row.id)).toEqual(IDS);
  return { run, report, rows: Object.fromEntries(report.rows.map((row) => [row.id, row])) };
}

function statuses(rows: Record<string, CheckRow>): Record<string, string> {
  return Object.fromEntries(Object.entries(rows).map(([id, row]) => [id, row.status]));
}

/** The rows whose status is not the expected one, with their details: a CI log that keeps a failure's first lines shows why. */
function unexpectedRows(rows: Record<string, CheckRow>, expected: Record<string, string>, run: CliRun): string {
  const off = Object.values(rows).filter((row) => row.status !== expected[row.id]);
  return `${off.map((row) => `${row.id} ${row.status} (expected ${expected[row.id] ?? "no such row"}): ${row.detail}`).join("\n")}\n--- stderr:\n${run.stderr}`;
}

function visudoFile(text: string): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-adm-"));
  try {
    const file = path.join(dir, "rule");
    fs.writeFileSync(file, text, { mode: 0o440 });
    const result = spawnSync("visudo", ["-cf", file], { encoding: "utf8" });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function leftovers(name: string): string[] {
  return fs.readdirSync("/etc/sudoers.d").filter((entry) => entry.startsWith(`.${name}.`));
}

function wholeConfigValid(): boolean {
  return spawnSync("visudo", ["-c"], { stdio: "ignore" }).status === 0;
}

function cleanup(): void {
  for (const name of SUDOERS) removeSudoers(name);
  for (const user of USERS) removeUser(user);
  removeGroup(GROUP);
  spawnSync("gpasswd", ["-d", "root", GROUP], { stdio: "ignore" });
  fs.rmSync(PREFIX, { recursive: true, force: true });
}

describe.skipIf(skip)("ts-sudospawner sudoers and check (root, real sudo)", () => {
  beforeAll(() => {
    cleanup();
    // A second install of the packed tarball, root-owned like the fixture's, that this suite may break.
    const tarball = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tsss-adm-pack-")), path.basename(fx.tarball));
    fs.copyFileSync(fx.tarball, tarball);
    installDemoSingleUser(installTarball(tarball, PREFIX));
    fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
    ensureGroup(GROUP);
    for (const user of [HUB, NORULE, WIDE, PLAIN, NONODE, MERGE]) ensureUser(user);
    ensureUser(ANN, { groups: [GROUP] });
    ensureUser(OUT);
    ensureUser(NOHOME, { groups: [GROUP], home: false });
    const rule = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP]);
    expect(rule.status, rule.stderr).toBe(0);
    installSudoers("tsss-adm-rule", rule.stdout);
    installSudoers("tsss-adm-wide", `${WIDE} ALL=(ALL) NOPASSWD: ALL\n`);
    installSudoers("tsss-adm-plain", `Defaults:${PLAIN} !requiretty\n${PLAIN} ALL=(%${GROUP}) NOPASSWD: ${MEDIATOR}\n`);
    installSudoers(
      "tsss-adm-nonode",
      `Defaults:${NONODE} secure_path="/usr/local/sbin:/usr/sbin:/sbin"\n${NONODE} ALL=(%${GROUP}, !#0) NOPASSWD: ${MEDIATOR}\n`,
    );
  });

  afterAll(cleanup);

  describe("sudoers", () => {
    it("prints a rule for a group that visudo accepts", () => {
      const run = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP]);
      expect(run.status).toBe(0);
      const rules = run.stdout.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
      expect(rules).toEqual([
        `Cmnd_Alias TSSS_MEDIATOR_TSSS_ADM_HUB = ${MEDIATOR}`,
        `Defaults:${HUB} !requiretty`,
        `${HUB} ALL=(%${GROUP}, !#0) NOPASSWD: TSSS_MEDIATOR_TSSS_ADM_HUB`,
      ]);
      expect(visudoFile(run.stdout).status).toBe(0);
    });

    it("prints a rule for users (one with a dot) that visudo accepts", () => {
      const run = cli(MEDIATOR, ["sudoers", "--hub-user", fx.hub, "--users", fx.users.join(",")]);
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain(`\n${fx.hub} ALL=(${fx.users.join(", ")}, !#0) NOPASSWD: ${commandAliasName(fx.hub)}\n`);
      const check = visudoFile(run.stdout);
      expect(check.status, check.output).toBe(0);
    });

    it("refuses the removed --mkhomedir, pointing at pam_mkhomedir", () => {
      const run = cli(MEDIATOR, ["sudoers", "--hub-user", fx.hub, "--users", fx.users.join(","), "--mkhomedir"]);
      expect(run.status).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^ts-sudospawner: --mkhomedir was removed: PAM makes a missing home when sudo starts the mediator instead\. As root, to create homes/);
      expect(run.stderr).toContain(`As root, ${pamHomeAdvice(fx.hub)} (RHEL:`);
    });

    it("names the path it was started by (the bin link), not the file it resolves to", () => {
      const run = cli(fx.mediator, ["sudoers", "--hub-user", HUB, "--group", GROUP]);
      expect(run.stdout).toContain(`Cmnd_Alias TSSS_MEDIATOR_TSSS_ADM_HUB = ${fx.mediator}\n`);
      expect(run.stdout).not.toContain("cli.cjs");
    });

    it("--output writes the validated rule with mode 0440", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-adm-out-"));
      try {
        const file = path.join(dir, "rule");
        const run = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP, "--output", file]);
        expect(run.status, run.stderr).toBe(0);
        expect(run.stdout).toBe("");
        expect(run.stderr).toContain(`wrote ${file} (validated with visudo)`);
        expect(fs.statSync(file).mode & 0o777).toBe(0o440);
        expect(fs.readFileSync(file, "utf8")).toBe(cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP]).stdout);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("--output, run again by a user who is not root, replaces the read-only file the first run left; a directory it cannot write to is named", () => {
      const hub = userInfo(HUB);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-adm-out-"));
      try {
        fs.chownSync(dir, hub.uid, hub.gid);
        const file = path.join(dir, "rule");
        const asHub = { uid: hub.uid, gid: hub.gid };
        for (const group of [GROUP, `${GROUP}-other`]) {
          const run = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", group, "--output", file], asHub);
          expect(run.status, run.stderr).toBe(0);
          expect(fs.readFileSync(file, "utf8")).toContain(`%${group}`);
          expect([fs.statSync(file).mode & 0o777, fs.statSync(file).uid]).toEqual([0o440, hub.uid]);
        }
        expect(fs.readdirSync(dir)).toEqual(["rule"]);
        const refused = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP, "--output", "/etc/tsss-adm-rule"], asHub);
        expect(refused.status).toBe(1);
        expect(refused.stderr).toMatch(/^ts-sudospawner: could not write \/etc\/tsss-adm-rule: EACCES: .*; choose a file in a directory you can write to\n$/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it.each([
      [["--hub-user", "rhea\nALL=(ALL)", "--group", GROUP], 2, 'ts-sudospawner: invalid hub user name "rhea\\nALL=(ALL)": it contains a control character'],
      [["--hub-user", HUB, "--group", "%sudo"], 2, 'ts-sudospawner: invalid group name "%sudo": it begins with "%"'],
      [["--hub-user", "root", "--group", GROUP], 2, "ts-sudospawner: the hub user must not be root"],
      [["--hub-user", HUB, "--group", "ALL"], 2, 'ts-sudospawner: the group name "ALL" cannot be written into a sudoers rule: sudoers reads it as "everyone"; write the rule by hand with the numeric id instead of the name: %#GID'],
      [["--hub-user", HUB, "--users", "tsss-adm-ann,#0"], 2, 'ts-sudospawner: invalid user name "#0"'],
      [["--hub-user", HUB, "--users", "tsss-adm-ann,root"], 2, "ts-sudospawner: the user must not be root"],
      [["--hub-user", HUB], 2, "ts-sudospawner: name who the hub may run servers as: either --group GROUP or --users a,b,c"],
      [["--hub-user", HUB, "--group", GROUP, "--users", ANN], 2, "ts-sudospawner: name who the hub may run servers as"],
      [["--group", GROUP], 2, "ts-sudospawner: required option '--hub-user <name>' not specified"],
      [["--hub-user", HUB, "--group", GROUP, "--mediator", "bin/ts-sudospawner"], 2, 'ts-sudospawner: the mediator path "bin/ts-sudospawner" is not an absolute path'],
      [["--hub-user", HUB, "--group", GROUP, "--mediator", `${PREFIX}/nope/ts-sudospawner`], 1, `ts-sudospawner: the mediator ${PREFIX}/nope/ts-sudospawner does not exist`],
      [["--hub-user", HUB, "--group", GROUP, "--mediator", "/usr/bin/env"], 2, "ts-sudospawner: /usr/bin/env resolves to /usr/bin/env, which is not the ts-sudospawner command"],
      [["--hub-user", HUB, "--group", GROUP, "--output", "/tmp/x", "--install"], 2, "ts-sudospawner: use either --output FILE or --install, not both"],
    ])("refuses %j", (args, status, message) => {
      const run = cli(MEDIATOR, ["sudoers", ...args]);
      expect(run.status).toBe(status);
      expect(run.stdout).toBe("");
      expect(run.stderr.startsWith(message), run.stderr).toBe(true);
    });

    it("prints the exact ln -s of the venv's jupyterhub-singleuser when none is next to the mediator", () => {
      fs.renameSync(`${PREFIX}/bin/jupyterhub-singleuser`, `${PREFIX}/jupyterhub-singleuser.away`);
      try {
        const run = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP]);
        expect(run.status, run.stderr).toBe(0);
        expect(run.stderr).toContain(`warning: no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in ${PREFIX}/bin; spawns fail until one is linked there. As root:\n`);
        expect(run.stderr).toContain(`    ln -s /opt/jupyterhub/bin/jupyterhub-singleuser ${PREFIX}/bin/jupyterhub-singleuser\n`);
        // A site whose JupyterHub venv is elsewhere names it: the advice links that venv's server.
        const own = fs.mkdtempSync("/tmp/tsss-admin-venv-");
        try {
          fs.mkdirSync(path.join(own, "bin"));
          fs.writeFileSync(path.join(own, "bin", "jupyterhub-singleuser"), "#!/bin/sh\n", { mode: 0o755 });
          const named = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP, "--venv", `${own}/`]);
          expect(named.status, named.stderr).toBe(0);
          expect(named.stderr).toContain(`As root:\n    ln -s ${own}/bin/jupyterhub-singleuser ${PREFIX}/bin/jupyterhub-singleuser\n`);
          expect(named.stderr).not.toContain("/opt/jupyterhub");
        } finally {
          fs.rmSync(own, { recursive: true, force: true });
        }
        const relative = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP, "--venv", "venvs/jupyterhub"]);
        expect(relative.status).toBe(2);
        expect(relative.stderr).toContain('--venv needs the venv\'s absolute path, e.g. /opt/jupyterhub (got "venvs/jupyterhub")');
      } finally {
        fs.renameSync(`${PREFIX}/jupyterhub-singleuser.away`, `${PREFIX}/bin/jupyterhub-singleuser`);
      }
    });

    it("refuses a mediator in a group-writable directory, naming it", () => {
      fs.chmodSync(`${PREFIX}/lib`, 0o775);
      try {
        const run = cli(MEDIATOR, ["sudoers", "--hub-user", HUB, "--group", GROUP]);
        expect(run.status).toBe(1);
        expect(run.stderr).toBe(
          `ts-sudospawner: refusing to write a rule for ${MEDIATOR}: ${PREFIX}/lib: writable by group 0 (mode 775). Whoever can change these can run anything as the hub's users; as root: chown root:root and chmod go-w each of them\n`,
        );
      } finally {
        fs.chmodSync(`${PREFIX}/lib`, 0o755);
      }
    });

    it("refuses when node is not on the hub's secure_path, naming the line to change", () => {
      const run = cli(MEDIATOR, ["sudoers", "--hub-user", NONODE, "--group", GROUP]);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`ts-sudospawner: node is not on sudo's secure_path (/usr/local/sbin:/usr/sbin:/sbin, from \`sudo -l -U ${NONODE}\`)`);
      expect(run.stderr).toContain(
        `Fix: as root, with \`visudo -f /etc/sudoers.d/tsss-adm-nonode\`, change line 1 \`Defaults:${NONODE} secure_path="/usr/local/sbin:/usr/sbin:/sbin"\` to \`Defaults:${NONODE} secure_path="/usr/local/sbin:/usr/sbin:/sbin:${path.dirname(process.execPath)}"\``,
      );
    });
  });

  describe("--install --file NAME, merged with what is installed (real visudo and sudo)", () => {
    const file = "/etc/sudoers.d/tsss-adm-merge";
    const defaultFile = "/etc/sudoers.d/ts-sudospawner";
    const asHub = (user: string) => spawnSync("sudo", ["-u", MERGE, "sudo", "-n", "-u", user, MEDIATOR, "--help"], { encoding: "utf8", env: CLEAN_ENV, cwd: "/" });

    it("installs under the given name, refuses a user rule over the group rule, and points a default install at that file", () => {
      const before = fs.existsSync(defaultFile) ? fs.readFileSync(defaultFile, "utf8") : undefined;
      const installed = cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--group", GROUP, "--file", "tsss-adm-merge", "--install"]);
      expect(installed.status, installed.stderr).toBe(0);
      expect(installed.stderr).toContain(`installed ${file} (mode 0440, validated with visudo)`);
      const groupRule = fs.readFileSync(file, "utf8");
      expect(groupRule).toContain(`${MERGE} ALL=(%${GROUP}, !#0) NOPASSWD: ${commandAliasName(MERGE)}`);
      expect(asHub(ANN).status).toBe(0);

      // The hub's old advice for a user outside the group: it must not replace the group rule.
      const users = cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--users", OUT, "--file", "tsss-adm-merge", "--install"]);
      expect(users.status).toBe(2);
      expect(users.stderr).toContain(`${file} lets ${MERGE} serve the group ${GROUP}; a rule for ${OUT} alone would replace it and cut off every other member`);
      expect(users.stderr).toContain(`\`usermod -aG ${GROUP} ${OUT}\``);
      expect(fs.readFileSync(file, "utf8")).toBe(groupRule);
      expect(asHub(ANN).status).toBe(0);

      // Without --file the default name would define the alias a second time.
      const again = cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--group", GROUP, "--install"]);
      expect(again.status).toBe(2);
      expect(again.stderr).toContain(`${file} already defines ${commandAliasName(MERGE)}, the alias this rule defines`);
      expect(again.stderr).toContain("add `--file tsss-adm-merge`");
      expect(fs.existsSync(defaultFile) ? fs.readFileSync(defaultFile, "utf8") : undefined).toBe(before);

      // The same group again, into the same file, is fine.
      expect(cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--group", GROUP, "--file", "tsss-adm-merge", "--install"]).status).toBe(0);
      expect(spawnSync("visudo", ["-c"], { stdio: "ignore" }).status).toBe(0);
      removeSudoers("tsss-adm-merge");
    });

    it("keeps the users a user rule already serves, printing the merged command", () => {
      expect(cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--users", ANN, "--file", "tsss-adm-merge", "--install"]).status).toBe(0);
      const run = cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--users", OUT, "--file", "tsss-adm-merge", "--install"]);
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`\`ts-sudospawner sudoers --hub-user ${MERGE} --users ${ANN},${OUT} --file tsss-adm-merge --install\``);
      expect(asHub(ANN).status).toBe(0);
      const merged = cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--users", `${ANN},${OUT}`, "--file", "tsss-adm-merge", "--install"]);
      expect(merged.status, merged.stderr).toBe(0);
      expect(asHub(ANN).status).toBe(0);
      expect(asHub(OUT).status).toBe(0);
      removeSudoers("tsss-adm-merge");
    });

    it.each(["tsss.adm", "tsss-adm~", "../tsss-adm"])("refuses --file %j, a name sudo's includedir would skip or leave", (name) => {
      const run = cli(MEDIATOR, ["sudoers", "--hub-user", MERGE, "--group", GROUP, "--file", name, "--install"]);
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`--file ${JSON.stringify(name)}: sudo's includedir reads only names of letters, digits`);
    });
  });

  describe("--install (through installSnippet with a tsss-adm-* name)", () => {
    const target = { dir: "/etc/sudoers.d", name: "tsss-adm-install" };
    const file = "/etc/sudoers.d/tsss-adm-install";
    // A hub of its own (sudoers does not need the account): a second rule for HUB would define
    // HUB's alias twice, which the whole-configuration check rejects (see the rollback test).
    const good = generateSnippet({ hubUser: "tsss-adm-inst", runas: { kind: "users", users: [ANN] }, mediatorPath: MEDIATOR, generator: "test" });

    it("writes a root-owned 0440 file that sudo uses, with no temporary files left", () => {
      expect(installSnippet(good, target)).toBe(file);
      const stats = fs.statSync(file);
      expect([stats.uid, stats.gid, stats.mode & 0o7777]).toEqual([0, 0, 0o440]);
      expect(fs.readFileSync(file, "utf8")).toBe(good);
      expect(leftovers(target.name)).toEqual([]);
      expect(wholeConfigValid()).toBe(true);
    });

    it("never installs text visudo rejects, and keeps the previous file", () => {
      const before = fs.readFileSync(file, "utf8");
      expect(() => installSnippet(`tsss-adm-inst ALL=(${ANN} NOPASSWD: ${MEDIATOR}\n`, target)).toThrow(/^visudo rejected the rule, nothing was installed:\n.*syntax error/s);
      expect(fs.readFileSync(file, "utf8")).toBe(before);
      expect(leftovers(target.name)).toEqual([]);
      expect(wholeConfigValid()).toBe(true);
    });

    it("rolls back a valid file that breaks the whole configuration", () => {
      // Defines the same alias as the installed file: fine alone, an error together.
      const clash = `Cmnd_Alias TSSS_MEDIATOR_TSSS_ADM_INST = /bin/true\n`;
      expect(() => installSnippet(clash, { dir: target.dir, name: "tsss-adm-clash" })).toThrow(
        /^with the new rule the sudo configuration fails `visudo -c`, so it was removed again:\n.*Alias "TSSS_MEDIATOR_TSSS_ADM_INST" already defined/s,
      );
      expect(fs.existsSync("/etc/sudoers.d/tsss-adm-clash")).toBe(false);
      expect(() => installSnippet(clash, target)).not.toThrow(); // replacing the file itself is fine
      expect(fs.readFileSync(file, "utf8")).toBe(clash);
      // Another file defines an alias; installing a rule that defines it again must restore ours.
      installSudoers("tsss-adm-clash", "Cmnd_Alias TSSS_ADM_OTHER = /bin/false\n");
      try {
        expect(() => installSnippet("Cmnd_Alias TSSS_ADM_OTHER = /bin/true\n", target)).toThrow(
          /^with the new rule the sudo configuration fails `visudo -c`, so the previous file was restored:\n.*Alias "TSSS_ADM_OTHER" already defined/s,
        );
        expect(fs.readFileSync(file, "utf8")).toBe(clash);
        const stats = fs.statSync(file);
        expect([stats.uid, stats.mode & 0o7777]).toEqual([0, 0o440]);
      } finally {
        removeSudoers("tsss-adm-clash");
      }
      expect(leftovers(target.name)).toEqual([]);
      expect(leftovers("tsss-adm-clash")).toEqual([]);
      expect(wholeConfigValid()).toBe(true);
      removeSudoers(target.name);
    });

    it("refuses names sudo would ignore", () => {
      expect(() => installSnippet(good, { dir: target.dir, name: "tsss-adm.install" })).toThrow('sudo ignores drop-in files named like "tsss-adm.install"');
    });
  });

  describe("check", () => {
    it("passes every check on the shared fixture, including a real spawn and kill", () => {
      const { run, report, rows } = check(["--hub-user", fx.hub, "--user", fx.users[1] as string, "--spawn"], fx.mediator);
      const expected = { ...Object.fromEntries(IDS.map((id) => [id, "pass"])), ...NO_UNIT };
      expect(statuses(rows), unexpectedRows(rows, expected, run)).toEqual(expected);
      expect(run.status).toBe(0);
      expect(report.mediator).toBe(fx.mediator);
      expect(rows["spawn-and-kill"]?.detail).toMatch(new RegExp(`^spawned pid \\d+ as ${fx.users[1]?.replace(".", "\\.")} \\(uid \\d+\\), listened on 127\\.0\\.0\\.1:\\d+, gone \\d+ ms after SIGTERM$`));
      expect(run.stderr).toContain("[3/21] running the mediator as root through the rule...\n");
      expect(run.stderr).toContain(`[17/21] spawning and stopping a single-user server as ${fx.users[1]}...\n`);
      expect(run.stderr).toContain(`[20/21] asking the mediator as ${fx.users[1]} whether Slurm mode is on (slurm-options)...\n`);
      expect(run.stderr).toContain("[21/21] asking SELinux whether the hub's domain lets Node compile (execmem)...\n");
    });

    it("passes on the generated rule and prints a table with the mediator it was started by", () => {
      const run = cli(MEDIATOR, ["check", "--hub-user", HUB, "--user", ANN]);
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toContain(`ts-sudospawner check: hub user ${HUB}, user ${ANN}, mediator ${MEDIATOR}\n`);
      expect(run.stdout).toMatch(/\n +3 +hub cannot run the mediator as root +PASS +`sudo -u tsss-adm-hub sudo -n -u\s+root -H/);
      expect(run.stdout).toMatch(/\n17 +spawn and stop a server as tsss-adm-ann +SKIP +not requested\n/);
      expect(run.stdout).toMatch(/\n18 +servers of the Python sudospawner whose fork is gone +PASS +none found\n/);
      expect(run.stdout).toMatch(/\n19 +cgroup limits +PASS +off \(no "cgroup" section/);
      expect(run.stdout).toMatch(/\n20 +Slurm mode +SKIP +off: the site policy/);
      expect(run.stdout.trimEnd().split("\n").pop()).toBe("OK: 14 pass, 0 fail, 1 warn, 6 skip");
    });

    it("fails row 1 when the hub has no rule", () => {
      const { run, rows } = check(["--hub-user", NORULE, "--user", ANN]);
      expect(run.status).toBe(1);
      expect(statuses(rows)).toMatchObject({ "rule-allows-mediator": "fail", "rule-not-too-broad": "pass", "rule-refuses-root": "pass", "install-root-only": "pass" });
      expect(rows["rule-allows-mediator"]?.detail).toBe(
        `\`sudo -u ${NORULE} sudo -n -u ${ANN} -H ${MEDIATOR} --help\` exited 1: sudo: a password is required. no sudoers rule lets ${NORULE} run ${MEDIATOR} without a password (a rule for another path does not match: sudo compares the path the hub runs)`,
      );
      expect(rows["rule-allows-mediator"]?.fix).toBe(`as root: \`ts-sudospawner sudoers --hub-user ${NORULE} --group GROUP --mediator ${MEDIATOR} --install\``);
    });

    it("fails row 1 when the user is not in the rule's group, and says which group", () => {
      const { run, rows } = check(["--hub-user", HUB, "--user", OUT]);
      expect(run.status).toBe(1);
      expect(rows["rule-allows-mediator"]?.status).toBe("fail");
      expect(rows["rule-allows-mediator"]?.detail).toContain(`${HUB} may run ${MEDIATOR} only as (%${GROUP}, !#0), which does not include ${OUT}`);
      expect(rows["rule-allows-mediator"]?.fix).toBe(`as root: \`usermod -aG ${GROUP} ${OUT}\` (or add ${OUT} to ${GROUP} in the directory service)`);
    });

    it("fails rows 2 and 3 for a hub allowed everything", () => {
      const { run, rows } = check(["--hub-user", WIDE, "--user", ANN]);
      expect(run.status).toBe(1);
      expect(statuses(rows)).toMatchObject({ "rule-allows-mediator": "pass", "rule-not-too-broad": "fail", "rule-refuses-root": "fail" });
      expect(rows["rule-not-too-broad"]?.detail).toBe(`\`sudo -u ${WIDE} sudo -n -u ${ANN} echo fail\` ran and printed "fail": ${WIDE} may run any command as ${ANN}`);
      expect(rows["rule-refuses-root"]?.detail).toBe(
        `\`sudo -u ${WIDE} sudo -n -u root -H ${MEDIATOR} --help\` ran the mediator as root: the Runas list includes root (e.g. ${WIDE} ALL=(ALL) ...)`,
      );
    });

    it("row 3: the generated rule keeps root out even when root is in the group; the common rule does not", () => {
      expect(spawnSync("gpasswd", ["-a", "root", GROUP], { stdio: "ignore" }).status).toBe(0);
      try {
        expect(check(["--hub-user", HUB, "--user", ANN]).rows["rule-refuses-root"]?.status).toBe("pass");
        const plain = check(["--hub-user", PLAIN, "--user", ANN]);
        expect(plain.rows["rule-allows-mediator"]?.status).toBe("pass");
        expect(plain.rows["rule-refuses-root"]?.status).toBe("fail");
      } finally {
        spawnSync("gpasswd", ["-d", "root", GROUP], { stdio: "ignore" });
      }
    });

    it("fails row 4 on a group-writable directory above the mediator", () => {
      fs.chmodSync(`${PREFIX}/lib/node_modules`, 0o775);
      try {
        const { run, rows } = check(["--hub-user", HUB, "--user", ANN]);
        expect(run.status).toBe(1);
        expect(statuses(rows)).toMatchObject({ "rule-allows-mediator": "pass", "install-root-only": "fail", "singleuser-executable": "pass" });
        expect(rows["install-root-only"]?.detail).toBe(
          `not root's alone: ${PREFIX}/lib/node_modules: writable by group 0 (mode 775). Whoever can change these can run code as every user the hub spawns`,
        );
        expect(rows["install-root-only"]?.fix).toBe(`as root: \`chown root:root ${PREFIX}/lib/node_modules && chmod go-w ${PREFIX}/lib/node_modules\``);
      } finally {
        fs.chmodSync(`${PREFIX}/lib/node_modules`, 0o755);
      }
    });

    it("fails row 5 when no single-user executable is next to the mediator", () => {
      fs.renameSync(`${PREFIX}/bin/jupyterhub-singleuser`, `${PREFIX}/jupyterhub-singleuser.away`);
      try {
        const { run, rows } = check(["--hub-user", HUB, "--user", ANN]);
        expect(run.status).toBe(1);
        expect(statuses(rows)).toMatchObject({ "rule-allows-mediator": "pass", "install-root-only": "pass", "singleuser-executable": "fail", "home-usable": "pass" });
        expect(rows["singleuser-executable"]?.detail).toBe(`no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in ${PREFIX}/bin`);
        // The venv of the docs is made first when this machine has none.
        const venv = fs.existsSync("/opt/jupyterhub/bin/jupyterhub-singleuser") ? "" : "`/usr/bin/python3 -m venv /opt/jupyterhub`, then `/opt/jupyterhub/bin/pip install jupyterhub jupyterlab`, then ";
        expect(rows["singleuser-executable"]?.fix).toBe(`as root: ${venv}\`ln -s /opt/jupyterhub/bin/jupyterhub-singleuser ${PREFIX}/bin/jupyterhub-singleuser\` (or install a sudospawner-singleuser wrapper there)`);
        // --venv: the fix makes and links the site's own venv.
        const own = check(["--hub-user", HUB, "--user", ANN, "--venv", "/srv/tsss-no-such-venv"]).rows["singleuser-executable"];
        expect(own?.fix).toBe(
          `as root: \`/usr/bin/python3 -m venv /srv/tsss-no-such-venv\`, then \`/srv/tsss-no-such-venv/bin/pip install jupyterhub jupyterlab\`, then \`ln -s /srv/tsss-no-such-venv/bin/jupyterhub-singleuser ${PREFIX}/bin/jupyterhub-singleuser\` (or install a sudospawner-singleuser wrapper there)`,
        );
      } finally {
        fs.renameSync(`${PREFIX}/jupyterhub-singleuser.away`, `${PREFIX}/bin/jupyterhub-singleuser`);
      }
    });

    it("fails row 5 when the user cannot execute the single-user server", () => {
      fs.chmodSync(`${PREFIX}/bin/jupyterhub-singleuser`, 0o750);
      try {
        const { rows } = check(["--hub-user", HUB, "--user", ANN]);
        expect(rows["singleuser-executable"]?.status).toBe("fail");
        expect(rows["singleuser-executable"]?.detail).toBe(
          `${PREFIX}/bin/jupyterhub-singleuser is not readable and executable by ${ANN} (owner root (uid 0), group 0, mode 0750)`,
        );
      } finally {
        fs.chmodSync(`${PREFIX}/bin/jupyterhub-singleuser`, 0o755);
      }
    });

    it("fails row 5 naming the directory that stops the venv's python, and passes the same venv once the user can enter it", () => {
      // A venv made from a Python that lives in a directory the user cannot enter (as a pyenv
      // under /root would), and a jupyterhub-singleuser script of that venv linked next to the mediator.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-adm-venv-"));
      fs.chmodSync(dir, 0o755);
      const hidden = path.join(dir, "private");
      fs.mkdirSync(hidden, { mode: 0o700 });
      fs.symlinkSync("/usr/bin/python3", path.join(hidden, "python3"));
      const venv = path.join(dir, "venv");
      const made = spawnSync(path.join(hidden, "python3"), ["-m", "venv", "--without-pip", venv], { encoding: "utf8" });
      expect(made.status, made.stderr).toBe(0);
      const script = path.join(venv, "bin", "jupyterhub-singleuser");
      fs.writeFileSync(script, `#!${venv}/bin/python3\nimport sys\n`, { mode: 0o755 });
      const link = `${PREFIX}/bin/jupyterhub-singleuser`;
      fs.renameSync(link, `${PREFIX}/jupyterhub-singleuser.away`);
      try {
        fs.symlinkSync(script, link);
        const bad = check(["--hub-user", HUB, "--user", ANN]).rows["singleuser-executable"];
        expect(bad?.status).toBe("fail");
        expect(bad?.detail).toContain(`${ANN} cannot enter ${hidden} (owner uid 0, group 0, mode 0700), so ${ANN} cannot run it`);
        expect(bad?.detail).toMatch(new RegExp(`the venv's python3 resolves to ${hidden}/`));
        expect(bad?.fix).toContain(`\`/usr/bin/python3 -m venv --clear ${venv}\``);
        // And the user really cannot: the kernel refuses the exec.
        const ann = userInfo(ANN);
        const ran = spawnSync(script, ["-c", "0"], { uid: ann.uid, gid: ann.gid, encoding: "utf8" });
        expect(ran.error?.message ?? ran.stderr).toMatch(/EACCES|Permission denied/);
        fs.chmodSync(hidden, 0o755);
        const good = check(["--hub-user", HUB, "--user", ANN]).rows["singleuser-executable"];
        expect(good?.status, good?.detail).toBe("pass");
        expect(good?.detail).toContain(`${venv}/pyvenv.cfg: home = ${hidden}`);
      } finally {
        fs.rmSync(link, { force: true });
        fs.renameSync(`${PREFIX}/jupyterhub-singleuser.away`, link);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("runs as the hub through root's sudo (sudo -u HUB), with no refusal", () => {
      const run = spawnSync("sudo", ["-u", HUB, MEDIATOR, "check", "--hub-user", HUB, "--user", ANN, "--json"], { encoding: "utf8", env: CLEAN_ENV, cwd: "/" });
      const report = JSON.parse(run.stdout) as CheckReport;
      const rows = Object.fromEntries(report.rows.map((row) => [row.id, row]));
      expect(statuses(rows), run.stderr).toEqual({ ...Object.fromEntries(IDS.map((id) => [id, "pass"])), ...NO_UNIT, "who-becomes-hub": "skip", "spawn-and-kill": "skip", "python-orphans": "skip" });
      expect(rows["who-becomes-hub"]?.detail).toMatch(/^needs root: /);
      // The hub cannot read other users' process environments; the row says so instead of passing.
      expect(rows["python-orphans"]?.fix).toBe("run the check as root to look for them");
      expect(rows["who-becomes-hub"]?.fix).toBe("run check as root for this row");
      expect(run.status).toBe(0);
    });

    // Both need NOHOME to stay homeless through check's sudo calls (a skip says why, locally).
    const homeless = skipWithout("admin: rows 6 and 7 for a homeless user (test/integration/admin/admin.test.ts)", sudoMakesHomes());

    it.skipIf(homeless)("fails row 6 for a user without a home directory", () => {
      const { run, rows } = check(["--hub-user", HUB, "--user", NOHOME]);
      expect(run.status).toBe(1);
      expect(statuses(rows)).toMatchObject({ "rule-allows-mediator": "pass", "home-usable": "fail" });
      expect(rows["home-usable"]?.detail).toBe(`the home directory /home/${NOHOME} of ${NOHOME} does not exist; the mediator refuses to spawn without it`);
      expect(rows["home-usable"]?.fix).toBe(
        `as root: \`mkhomedir_helper ${NOHOME}\`; ${pamHomeAdvice(HUB)}`,
      );
    });

    it("fails rows 1 and 4 when node is not on the hub's secure_path", () => {
      const { rows } = check(["--hub-user", NONODE, "--user", ANN]);
      expect(rows["rule-allows-mediator"]?.status).toBe("fail");
      expect(rows["rule-allows-mediator"]?.detail).toBe(
        `\`sudo -u ${NONODE} sudo -n -u ${ANN} -H ${MEDIATOR} --help\` exited 127: /usr/bin/env: 'node': No such file or directory. sudo runs the mediator with PATH=secure_path, and node is not in any of its directories`,
      );
      expect(rows["rule-allows-mediator"]?.fix).toMatch(/^as root, with `visudo -f \/etc\/sudoers.d\/tsss-adm-nonode`, change line 1/);
      expect(rows["install-root-only"]?.status).toBe("fail");
      expect(rows["install-root-only"]?.detail).toMatch(/^missing: node on sudo's secure_path \(\/usr\/local\/sbin:\/usr\/sbin:\/sbin\)$/);
    });

    it.skipIf(homeless)("fails row 7 when the spawn fails, with the mediator's error", () => {
      const { rows } = check(["--hub-user", HUB, "--user", NOHOME, "--spawn"]);
      expect(rows["spawn-and-kill"]?.status).toBe("fail");
      expect(rows["spawn-and-kill"]?.detail).toMatch(new RegExp(`^spawn failed: home directory /home/${NOHOME} of ${NOHOME} does not exist`));
      expect(rows["spawn-and-kill"]?.fix).toBe(
        `as root: \`mkhomedir_helper ${NOHOME}\`; ${pamHomeAdvice(HUB)}`,
      );
    });

    it("runs as the hub user itself (no root), doing what it can", () => {
      const hub = userInfo(HUB);
      const { run, rows } = check(["--hub-user", HUB, "--user", ANN], MEDIATOR, { uid: hub.uid, gid: hub.gid });
      // As the hub: its own `sudo -ll` works, reading every sudoers rule (cvtsudoers) does not.
      expect(statuses(rows), run.stdout).toEqual({ ...Object.fromEntries(IDS.map((id) => [id, "pass"])), ...NO_UNIT, "who-becomes-hub": "skip", "spawn-and-kill": "skip", "python-orphans": "skip" });
      expect(rows["rule-allows-mediator"]?.detail).toMatch(new RegExp(`^\`sudo -n -u ${ANN} -H ${MEDIATOR} --help\` printed the mediator's help`));
    });

    it("refuses other users, unknown users and root as the user", () => {
      const out = userInfo(OUT);
      const other = cli(MEDIATOR, ["check", "--hub-user", HUB, "--user", ANN], { uid: out.uid, gid: out.gid });
      expect(other.status).toBe(2);
      expect(other.stderr).toBe(`ts-sudospawner: run \`ts-sudospawner check\` as root or as the hub user ${HUB}: it acts through the hub's sudo rule\n`);
      const unknown = cli(MEDIATOR, ["check", "--hub-user", HUB, "--user", "tsss-adm-nobody"]);
      expect(unknown.status).toBe(1);
      expect(unknown.stderr).toBe("ts-sudospawner: the user tsss-adm-nobody does not exist (getent passwd tsss-adm-nobody finds nothing)\n");
      const root = cli(MEDIATOR, ["check", "--hub-user", HUB, "--user", "root"]);
      expect(root.status).toBe(2);
      expect(root.stderr).toBe("ts-sudospawner: the user must not be root\n");
    });
  });
});
