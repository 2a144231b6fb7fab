/**
 * Home directories for new users, the PAM way: with the lines of src/admin/pam-homes.ts in
 * /etc/pam.d/sudo, sudo creates a missing home when it opens the session for the mediator, so the
 * first spawn of a user without a home succeeds, and only then: sudo run by anyone but the hub
 * skips pam_mkhomedir. Without the lines the same spawn is refused with the fix. /etc/pam.d/sudo
 * is put back byte for byte; the lines carry the tests' mark, so that a run interrupted before then
 * does not leave them (test/helpers/pam-sudo.ts).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../helpers/ports.js";
import { killRequest, spawnRequest } from "../../helpers/requests.js";
import { ensureUser, installSudoers, procState, removeSudoers, removeUser, runMediatorAs, waitFor, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { sudoMakesHomes, withTestLines } from "../../helpers/pam-sudo.js";
import { PAM_SUDO_SERVICE as PAM_SUDO, pamHomeAdvice, pamHomeLines } from "../../../src/admin/pam-homes.js";

const fx = inject("rootFixture");
const MODULE = ["/usr/lib/x86_64-linux-gnu/security/pam_mkhomedir.so", "/lib/x86_64-linux-gnu/security/pam_mkhomedir.so", "/usr/lib64/security/pam_mkhomedir.so", "/lib/security/pam_mkhomedir.so"].find((file) => fs.existsSync(file));
const reason = !fx.available ? fx.reason : MODULE === undefined ? "pam_mkhomedir.so is not installed (libpam-modules)" : !fs.existsSync(PAM_SUDO) ? `${PAM_SUDO} does not exist` : sudoMakesHomes();
const skip = skipWithout("home directories through pam_mkhomedir (test/integration/accounts/homes.test.ts)", reason);

const NEWCOMER = "tsss-hm-new";
/** A second hub on the host, whose name has a space (a directory's "CORP jhub"): PAM needs it in brackets. */
const SECOND = "tsss-hm second";
const SECOND_RULE = "tsss-hm-second";

function lines(hub: string): [string, string] {
  return pamHomeLines(hub) as [string, string];
}

/** Whether a sudo call as the newcomer made its home (which is then removed again). */
function madeHome(command: string[]): boolean {
  const result = spawnSync(command[0] as string, command.slice(1), { encoding: "utf8", cwd: "/" });
  expect(result.status, result.stderr).toBe(0);
  const made = fs.existsSync(`/home/${NEWCOMER}`);
  fs.rmSync(`/home/${NEWCOMER}`, { recursive: true, force: true });
  return made;
}

const rootSudo = () => spawnSync("sudo", ["-n", "-u", NEWCOMER, "/bin/true"], { encoding: "utf8", cwd: "/" });

/** `check`'s home row for the newcomer, as root runs it. */
function homeRow(): { status: string; detail: string; fix: string } | undefined {
  const check = spawnSync(fx.mediator, ["check", "--hub-user", fx.hub, "--user", NEWCOMER, "--json"], { encoding: "utf8", cwd: "/" });
  return (JSON.parse(check.stdout) as { rows: Array<{ id: string; status: string; detail: string; fix: string }> }).rows.find((row) => row.id === "home-usable");
}

describe.skipIf(skip)("a new user's first spawn with pam_mkhomedir in /etc/pam.d/sudo (root, real sudo and PAM)", () => {
  let original: Buffer;
  let user: TestUser;

  beforeAll(() => {
    original = fs.readFileSync(PAM_SUDO);
    removeUser(NEWCOMER);
    removeUser(SECOND);
    user = ensureUser(NEWCOMER, { groups: [fx.group], home: false });
    expect(fs.existsSync(user.home)).toBe(false);
  });

  afterAll(() => {
    fs.writeFileSync(PAM_SUDO, original);
    removeSudoers(SECOND_RULE);
    removeUser(SECOND);
    removeUser(NEWCOMER);
  });

  it("without the PAM lines the spawn is refused, naming both fixes", async () => {
    const result = await runMediatorAs(fx.hub, NEWCOMER, fx.mediator, spawnRequest(await freePort()), ["--logging=info"]);
    expect(result.status).toBe(1);
    expect(result.answer?.error).toMatch(new RegExp(`^home directory ${user.home} of ${NEWCOMER} does not exist`));
    expect(fs.existsSync(user.home)).toBe(false);
    const home = homeRow();
    expect(home?.status).toBe("fail");
    expect(home?.fix).toContain(pamHomeAdvice(fx.hub));
  });

  it("with the lines, sudo run by anyone but the hub makes no home (check, which sudoes as the hub, does); pam_mkhomedir alone would", () => {
    const [guard, mkhomedir] = lines(fx.hub);
    fs.writeFileSync(PAM_SUDO, withTestLines(original.toString("utf8"), [guard, mkhomedir]));
    expect(rootSudo().status).toBe(0);
    expect(fs.existsSync(user.home)).toBe(false);
    // check's first row runs the mediator through the hub's rule, as a spawn does: that makes it.
    expect(homeRow()).toMatchObject({ status: "pass", detail: `${user.home} (owner ${NEWCOMER}, mode 0700)` });
    fs.rmSync(user.home, { recursive: true });
    fs.writeFileSync(PAM_SUDO, withTestLines(original.toString("utf8"), [mkhomedir]));
    expect(rootSudo().status).toBe(0);
    expect(fs.existsSync(user.home)).toBe(true);
    fs.rmSync(user.home, { recursive: true });
  });

  it("with them, sudo run by the hub creates the home (the user's, mode 0700) and the first spawn succeeds", async () => {
    fs.writeFileSync(PAM_SUDO, withTestLines(original.toString("utf8"), lines(fx.hub)));
    const port = await freePort();
    const spawned = await runMediatorAs(fx.hub, NEWCOMER, fx.mediator, spawnRequest(port), ["--logging=info"]);
    expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const stats = fs.statSync(user.home);
    expect([stats.isDirectory(), stats.uid, stats.gid, stats.mode & 0o777]).toEqual([true, user.uid, user.gid, 0o700]);
    expect(fs.readlinkSync(`/proc/${spawned.answer?.pid as number}/cwd`)).toBe(user.home);
    const pid = spawned.answer?.pid as number;
    expect((await runMediatorAs(fx.hub, NEWCOMER, fx.mediator, killRequest(pid, 15), ["--logging=info"])).answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined || procState(pid) === "Z", 15_000, `server ${pid} to stop`);
  });

  it("a second hub, whose name has a space, appends its own pair: each hub's calls make the home, root's do not; a bare name would let everyone's", () => {
    const made = spawnSync("useradd", ["--badname", "--no-create-home", "--user-group", "--shell", "/bin/sh", SECOND], { encoding: "utf8" });
    expect(made.status, made.stderr).toBe(0);
    installSudoers(SECOND_RULE, `"${SECOND}" ALL=(${NEWCOMER}) NOPASSWD: /bin/true\n`);
    const secondSudo = ["sudo", "-n", "-u", SECOND, "sudo", "-n", "-u", NEWCOMER, "/bin/true"];
    fs.rmSync(user.home, { recursive: true, force: true }); // the first spawn's, above
    fs.writeFileSync(PAM_SUDO, withTestLines(original.toString("utf8"), [...lines(fx.hub), ...lines(SECOND)]));
    expect(lines(SECOND)[0]).toMatch(/ ruser != \[tsss-hm second\]$/);
    expect(madeHome(["sudo", "-n", "-u", NEWCOMER, "/bin/true"])).toBe(false);
    expect(madeHome(secondSudo)).toBe(true);
    expect(homeRow()?.status).toBe("pass"); // the first hub's call, through check's first row
    fs.rmSync(user.home, { recursive: true, force: true });
    // The same guard without brackets is an incomplete condition: pam_succeed_if fails, and default=ignore runs pam_mkhomedir for root too.
    const bare = lines(SECOND)[0].replace(`[${SECOND}]`, SECOND);
    fs.writeFileSync(PAM_SUDO, withTestLines(original.toString("utf8"), [bare, lines(SECOND)[1]]));
    expect(madeHome(["sudo", "-n", "-u", NEWCOMER, "/bin/true"])).toBe(true);
  });
});
