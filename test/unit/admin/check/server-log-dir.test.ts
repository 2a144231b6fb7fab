import { describe, expect, it } from "vitest";
import { judgeServerLogDir, policyServerLog, type Entry, type ServerLogFacts } from "../../../../src/admin/check/server-log-dir.js";

const ALICE = { name: "alice", uid: 1001 };
const dirOf = (mode: number, uid = 0, gid = 0): Entry => ({ kind: "directory", uid, gid, mode: 0o040000 | mode, nlink: 2 });
const fileOf = (uid: number, nlink = 1): Entry => ({ kind: "file", uid, gid: uid, mode: 0o100600, nlink });
const SHARED = "/var/log/jh/{user}.log";

function facts(over: Partial<ServerLogFacts>): ServerLogFacts {
  return {
    user: ALICE,
    template: SHARED,
    file: "/var/log/jh/alice.log",
    dir: "/var/log/jh",
    perUser: false,
    dirEntry: dirOf(0o1777),
    fileEntry: undefined,
    who: { uid: ALICE.uid, gids: [ALICE.uid, 100] },
    describeUid: (uid) => `uid ${uid}`,
    ...over,
  };
}

describe("judgeServerLogDir", () => {
  it("warns when a directory others can write holds every user's log, naming the directory and the per-user fix", () => {
    const row = judgeServerLogDir(facts({}));
    expect(row.status).toBe("warn");
    expect(row.detail).toBe(
      `/var/log/jh (owner uid 0, group 0, mode 1777) is writable by everyone, and serverLog "${SHARED}" (/var/log/jh/alice.log for alice) puts every user's log in it: one user can make another's log file (or a link) before that user's server starts. The reaper refuses such a file, so that user's spawns fail until it is removed. The sticky bit keeps a file from being replaced once it exists, not from being made first.`,
    );
    expect(row.fix).toContain('"serverLog": "{home}/.jupyterhub-singleuser.log"');
    expect(row.fix).toContain("/var/log/jupyterhub/{user}/server.log");
    expect(judgeServerLogDir(facts({ dirEntry: dirOf(0o775, 0, 100) })).detail).toContain("is writable by group 100, and");
  });

  it("passes a directory per user, whatever its mode, and a shared one only its owner can write", () => {
    const home = judgeServerLogDir(facts({ template: "{home}/.log", file: "/home/alice/.log", dir: "/home/alice", perUser: true, dirEntry: dirOf(0o775, ALICE.uid, ALICE.uid) }));
    expect([home.status, home.detail]).toEqual(["pass", 'serverLog "{home}/.log" (/home/alice/.log for alice): /home/alice is a directory of each user\'s own']);
    // Only root can write it; the admin made alice's file for her.
    const rootOnly = judgeServerLogDir(facts({ dirEntry: dirOf(0o755), fileEntry: fileOf(ALICE.uid) }));
    expect(rootOnly.status).toBe("pass");
  });

  it("fails when the reaper would refuse the file already there, or alice cannot create it, or the directory is missing", () => {
    const planted = judgeServerLogDir(facts({ fileEntry: fileOf(1002) }));
    expect([planted.status, planted.detail]).toEqual([
      "fail",
      "/var/log/jh/alice.log is owned by uid 1002, not alice (owner uid 1002, group 1002, mode 0600): the reaper refuses it, so every spawn for alice fails",
    ]);
    expect(planted.fix).toMatch(/^as root: `rm \/var\/log\/jh\/alice.log`; then give each user a directory/);
    expect(judgeServerLogDir(facts({ fileEntry: fileOf(ALICE.uid, 2) })).detail).toContain("has 2 hard links");
    expect(judgeServerLogDir(facts({ fileEntry: { ...fileOf(ALICE.uid), kind: "symbolic link" } })).detail).toContain("is a symbolic link, not a regular file");
    const cannot = judgeServerLogDir(facts({ dirEntry: dirOf(0o755) }));
    expect([cannot.status, cannot.detail]).toEqual(["fail", "alice cannot create /var/log/jh/alice.log in /var/log/jh (owner uid 0, group 0, mode 0755): every spawn for alice fails"]);
    const missing = judgeServerLogDir(facts({ template: "/var/log/jh/{user}/s.log", file: "/var/log/jh/alice/s.log", dir: "/var/log/jh/alice", perUser: true, dirEntry: undefined }));
    expect([missing.status, missing.fix]).toEqual(["fail", "as root: `install -d -o alice -m 0700 /var/log/jh/alice` (for every user)"]);
    expect(missing.detail).toMatch(/^\/var\/log\/jh\/alice, the directory of serverLog .* does not exist: every spawn for alice fails/);
  });

  it("skips without a serverLog to judge", () => {
    expect(judgeServerLogDir(facts({ template: { skip: "no site policy" } }))).toEqual({ id: "server-log-dir", title: "no user can plant another's server log", status: "skip", detail: "no site policy", fix: "" });
  });
});

describe("policyServerLog", () => {
  it("reads the template, and says why there is none", () => {
    expect(policyServerLog('{"serverLog": "{home}/x.log"}')).toBe("{home}/x.log");
    expect(policyServerLog(undefined)).toEqual({ skip: "no site policy: the server's output goes to the hub's log only" });
    expect(policyServerLog("{}")).toEqual({ skip: "the site policy sets no serverLog: the server's output goes to the hub's log only" });
    expect(policyServerLog("{")).toEqual({ skip: "the site policy is not JSON: the mediator refuses every spawn until it is fixed" });
    expect(policyServerLog('{"serverLog": "/var/../x"}')).toEqual({ skip: 'the site policy\'s serverLog "/var/../x" is not a valid path template: the mediator refuses every spawn until it is fixed' });
    expect(policyServerLog('{"serverLog": "logs/x"}')).toHaveProperty("skip");
  });
});
