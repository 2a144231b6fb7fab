/**
 * Directory-service account names through every tool, with real accounts of those shapes:
 * `Alice.Smith@tsss.example.com`, `TSSSBOB` (all capitals: an alias name to sudoers unless
 * quoted), `TSSS\carol`, `tsss dave` (made with `useradd --badname`), `TSSS\dora` and the group
 * `tsss domain users`, which exist only in Debian's libnss-extrausers files (as sssd's accounts
 * exist only in the directory), and the hub `TSSS\tsss-dshub`.
 *
 * The rule `ts-sudospawner sudoers` writes for them passes visudo and means what it should to
 * sudo's own parser (cvtsudoers); through real sudo the hub runs the mediator as each of them
 * (`--help`, a spawn and a kill of the demo server), is refused `echo fail`, and cannot reach a
 * user outside the group; `check --spawn` passes; the installed TypeScript client starts and
 * stops a server for one of them. /etc/nsswitch.conf and /var/lib/extrausers are put back.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { CheckReport } from "../../../src/admin/check/report.js";
import { demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV, killRequest, spawnRequest } from "../../helpers/requests.js";
import { installSudoers, procState, removeSudoers, runMediatorAs, waitFor } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const EXTRAUSERS_LIB = ["/usr/lib/libnss_extrausers.so.2", "/usr/lib/x86_64-linux-gnu/libnss_extrausers.so.2", "/lib/x86_64-linux-gnu/libnss_extrausers.so.2"];
const extrausers = EXTRAUSERS_LIB.some((file) => fs.existsSync(file));
const reason = !fx.available ? fx.reason : !extrausers ? "libnss-extrausers is not installed (apt-get install libnss-extrausers; .ci/run does)" : "";
const skip = skipWithout("directory-service account names (test/integration/accounts/accounts.test.ts)", reason);

const HUB = "TSSS\\tsss-dshub";
const LOCAL_USERS = ["Alice.Smith@tsss.example.com", "TSSSBOB", "TSSS\\carol", "tsss dave"];
const NSS_USER = "TSSS\\dora"; // only in /var/lib/extrausers
const USERS = [...LOCAL_USERS, NSS_USER];
const OUTSIDER = "tsss-ds-out";
const GROUP = "tsss domain users"; // only in /var/lib/extrausers
const RULE = "tsss-ds-rule";
const EXTRA_DIR = "/var/lib/extrausers";
const NSSWITCH = "/etc/nsswitch.conf";
const CLEAN_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C", LC_ALL: "C" };

interface Saved {
  nsswitch: Buffer;
  extra: Record<string, Buffer | undefined>;
}
let saved: Saved | undefined;

function sh(file: string, args: readonly string[], options: { input?: string; uid?: number; gid?: number } = {}) {
  const result = spawnSync(file, args, { encoding: "utf8", env: CLEAN_ENV, cwd: "/", timeout: 120_000, input: options.input ?? "", ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }) });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function passwd(name: string): { uid: number; gid: number; home: string } {
  const entry = sh("getent", ["passwd", "--", name]);
  if (entry.status !== 0) throw new Error(`getent passwd ${name} found nothing`);
  const fields = entry.stdout.trim().split(":");
  return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] as string };
}

function freeId(from = 3900): number {
  for (let id = from; id < from + 1000; id++) {
    if (sh("getent", ["passwd", String(id)]).status !== 0 && sh("getent", ["group", String(id)]).status !== 0) return id;
  }
  throw new Error("no free id");
}

function removeLocal(name: string): void {
  spawnSync("pkill", ["-KILL", "-u", name], { stdio: "ignore" });
  spawnSync("userdel", ["--remove", "--force", name], { stdio: "ignore" });
  spawnSync("groupdel", [name], { stdio: "ignore" });
}

function restore(): void {
  removeSudoers(RULE);
  for (const name of [HUB, ...LOCAL_USERS, OUTSIDER]) removeLocal(name);
  if (saved) {
    for (const [name, content] of Object.entries(saved.extra)) {
      const file = path.join(EXTRA_DIR, name);
      if (content === undefined) fs.rmSync(file, { force: true });
      else fs.writeFileSync(file, content);
    }
    fs.writeFileSync(NSSWITCH, saved.nsswitch);
  }
  fs.rmSync(`/home/${NSS_USER}`, { recursive: true, force: true });
}

/** Add the extrausers source after `files` for passwd, group and shadow. */
function enableExtrausers(text: string): string {
  return text.replace(/^(passwd|group|shadow):(\s+)(.*)$/gm, (line, db: string, space: string, sources: string) =>
    sources.split(/\s+/).includes("extrausers") ? line : `${db}:${space}${sources.replace(/\bfiles\b/, "files extrausers")}`,
  );
}

function parsedRule(text: string): Record<string, unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-ds-"));
  try {
    const file = path.join(dir, "rule");
    fs.writeFileSync(file, text, { mode: 0o440 });
    const visudo = sh("visudo", ["-cf", file]);
    expect(visudo.status, `${visudo.stdout}${visudo.stderr}\n${text}`).toBe(0);
    expect(`${visudo.stdout}${visudo.stderr}`).not.toMatch(/referenced but not defined|warning/i);
    const json = sh("cvtsudoers", ["-f", "json", file]);
    expect(json.status, json.stderr).toBe(0);
    return JSON.parse(json.stdout) as Record<string, unknown>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(skip)("directory-service account names through every tool (root, real sudo, real NSS)", () => {
  let rule: string;

  beforeAll(() => {
    saved = { nsswitch: fs.readFileSync(NSSWITCH), extra: {} };
    fs.mkdirSync(EXTRA_DIR, { recursive: true, mode: 0o755 });
    for (const name of ["passwd", "group", "shadow"]) {
      const file = path.join(EXTRA_DIR, name);
      saved.extra[name] = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    }
    restore();
    for (const name of [HUB, ...LOCAL_USERS, OUTSIDER]) {
      const made = sh("useradd", ["--badname", "--create-home", "--shell", "/bin/bash", "--user-group", name]);
      expect(made.status, made.stderr).toBe(0);
    }
    // The group and one user exist only in the extrausers files, as a directory's accounts do.
    const doraId = freeId();
    fs.appendFileSync(path.join(EXTRA_DIR, "passwd"), `${NSS_USER}:x:${doraId}:${doraId}:TSSS test user:/home/${NSS_USER}:/bin/bash\n`);
    fs.appendFileSync(path.join(EXTRA_DIR, "shadow"), `${NSS_USER}:*:19000:0:99999:7:::\n`);
    fs.appendFileSync(path.join(EXTRA_DIR, "group"), `${NSS_USER}:x:${doraId}:\n`);
    const groupId = freeId(doraId + 1);
    fs.appendFileSync(path.join(EXTRA_DIR, "group"), `${GROUP}:x:${groupId}:${USERS.join(",")}\n`);
    for (const name of ["passwd", "group"]) fs.chmodSync(path.join(EXTRA_DIR, name), 0o644);
    fs.chmodSync(path.join(EXTRA_DIR, "shadow"), 0o640);
    fs.writeFileSync(NSSWITCH, enableExtrausers(saved.nsswitch.toString("utf8")));
    fs.mkdirSync(`/home/${NSS_USER}`, { mode: 0o755 });
    fs.chownSync(`/home/${NSS_USER}`, doraId, doraId);
    expect(sh("getent", ["group", GROUP]).stdout).toBe(`${GROUP}:x:${groupId}:${USERS.join(",")}\n`);
    expect(sh("id", ["-Gn", "--", NSS_USER]).stdout.trim()).toBe(`${NSS_USER} ${GROUP}`);

    const generated = sh(fx.mediator, ["sudoers", "--hub-user", HUB, "--group", GROUP]);
    expect(generated.status, generated.stderr).toBe(0);
    rule = generated.stdout;
    installSudoers(RULE, rule);
  });

  afterAll(() => {
    restore();
  });

  it("writes the rule with sudo's own quoting, and sudo's parser reads exactly these names", () => {
    expect(rule.split("\n").filter((line) => line !== "" && !line.startsWith("#"))).toEqual([
      `Cmnd_Alias TSSS_MEDIATOR_TSSS_TSSS_DSHUB = ${fx.mediator}`,
      `Defaults:"${HUB}" !requiretty`,
      `"${HUB}" ALL=("%${GROUP}", !#0) NOPASSWD: TSSS_MEDIATOR_TSSS_TSSS_DSHUB`,
    ]);
    const parsed = parsedRule(rule) as { User_Specs: Array<{ User_List: unknown; Cmnd_Specs: Array<{ runasusers: unknown }> }>; Defaults: Array<{ Binding: unknown }> };
    expect(parsed.User_Specs[0]?.User_List).toEqual([{ username: HUB }]);
    expect(parsed.User_Specs[0]?.Cmnd_Specs[0]?.runasusers).toEqual([{ usergroup: GROUP }, { userid: 0, negated: true }]);
    expect(parsed.Defaults[0]?.Binding).toEqual([{ username: HUB }]);

    const users = sh(fx.mediator, ["sudoers", "--hub-user", HUB, "--users", USERS.join(",")]);
    expect(users.status, users.stderr).toBe(0);
    const byUsers = parsedRule(users.stdout) as { User_Specs: Array<{ Cmnd_Specs: Array<{ runasusers: unknown }> }> };
    expect(byUsers.User_Specs[0]?.Cmnd_Specs[0]?.runasusers).toEqual([...USERS.map((username) => ({ username })), { userid: 0, negated: true }]);
  });

  it("refuses what sudoers cannot spell, with the by-hand form", () => {
    const all = sh(fx.mediator, ["sudoers", "--hub-user", HUB, "--users", "ALL"]);
    expect(all.status).toBe(2);
    expect(all.stderr).toBe(
      'ts-sudospawner: the user name "ALL" cannot be written into a sudoers rule: sudoers reads it as "everyone"; write the rule by hand with the numeric id instead of the name: #UID (`id -u ALL` prints it), and check it with `visudo -cf FILE`\n',
    );
    const hash = sh(fx.mediator, ["sudoers", "--hub-user", HUB, "--users", "#0"]);
    expect(hash.status).toBe(2);
    expect(hash.stderr).toMatch(/^ts-sudospawner: invalid user name "#0": it begins with "#" \(sudo reads #N as a numeric id\)/);
  });

  it.each(USERS)("through real sudo the hub runs the mediator as %s, and nothing else", (user) => {
    const help = sh("sudo", ["-u", HUB, "sudo", "-n", "-u", user, "-H", fx.mediator, "--help"]);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^ts-sudospawner /);
    const echo = sh("sudo", ["-u", HUB, "sudo", "-n", "-u", user, "echo", "fail"]);
    expect(echo.status).toBe(1);
    expect(echo.stdout).toBe("");
    expect(echo.stderr).toBe("sudo: a password is required\n");
  });

  it("cannot reach a user outside the group", () => {
    const help = sh("sudo", ["-u", HUB, "sudo", "-n", "-u", OUTSIDER, "-H", fx.mediator, "--help"]);
    expect(help.status).toBe(1);
    expect(help.stderr).toBe("sudo: a password is required\n");
  });

  it.each(USERS)("spawns and kills the demo server as %s", async (user) => {
    const account = passwd(user);
    const port = await freePort();
    const spawned = await runMediatorAs(HUB, user, fx.mediator, spawnRequest(port), ["--logging=info"]);
    expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = spawned.answer?.pid as number;
    await waitForDemoServer(port);
    const status = await demoStatus(port);
    expect([status.uid, status.gid, status.cwd]).toEqual([account.uid, account.gid, account.home]);
    expect(status.env.USER).toBe(user);
    expect((await runMediatorAs(HUB, user, fx.mediator, killRequest(pid, 0), ["--logging=info"])).answer).toEqual({ ok: true, alive: true });
    expect((await runMediatorAs(HUB, user, fx.mediator, killRequest(pid, 15), ["--logging=info"])).answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined || procState(pid) === "Z", 15_000, `server ${pid} of ${user} to stop`);
  });

  it("check passes for a user that exists only in the directory", () => {
    const run = sh(fx.mediator, ["check", "--hub-user", HUB, "--user", NSS_USER, "--spawn", "--json"]);
    const report = JSON.parse(run.stdout) as CheckReport;
    const failed = report.rows.filter((row) => row.status === "fail");
    expect(failed, run.stdout).toEqual([]);
    expect(run.status).toBe(0);
    expect(report.rows.find((row) => row.id === "spawn-and-kill")?.status).toBe("pass");
    expect(report.rows.find((row) => row.id === "hub-rules-only-mediator")?.detail).toBe(`\`sudo -ll -U ${HUB}\` lists only ("%${GROUP}", !#0) NOPASSWD: ${fx.mediator}`);
  });

  it("the installed TypeScript client, as the hub, starts and stops a server for TSSS\\carol", async () => {
    const user = "TSSS\\carol";
    const port = await freePort();
    const script = `
      const [packageDir, user, mediatorPath, port] = process.argv.slice(1);
      const { SudoSpawner } = await import(packageDir + "/dist/index.js");
      const quiet = { debug() {}, info() {}, warn() {}, error() {} };
      const spawner = new SudoSpawner({ user, mediatorPath, logger: quiet });
      const { pid } = await spawner.start({ args: ["--port=" + port, "--ip=127.0.0.1"], env: ${JSON.stringify(BASE_ENV)} });
      const running = await spawner.poll();
      await spawner.stop({ interruptMs: 5000, termMs: 5000, killMs: 5000 });
      const after = await spawner.poll();
      process.stdout.write(JSON.stringify({ pid, running, after }));
      process.exit(0);
    `;
    const hub = passwd(HUB);
    const run = sh(process.execPath, ["--input-type=module", "-e", script, fx.packageDir, user, fx.mediator, String(port)], { uid: hub.uid, gid: hub.gid });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ pid: expect.any(Number), running: null, after: expect.any(Number) });
  });
});
