import { describe, expect, it } from "vitest";
import { judgeServerLogDir, lastLossMark, policyServerLog, type Entry, type ServerLogFacts } from "../../../../../src/admin/check/server-log/rows.js";

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
    expect(judgeServerLogDir(facts({ template: { skip: "no site policy" } }))).toEqual({ id: "server-log-dir", title: "server log safe from other users, and writable", status: "skip", detail: "no site policy", fix: "" });
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

describe("the server log's write trouble", () => {
  const perUser = { template: "{home}/.log", file: "/home/alice/.log", dir: "/home/alice", perUser: true, dirEntry: dirOf(0o700, ALICE.uid, ALICE.uid) };

  it("reads the last loss mark of the tail, with or without its cause", () => {
    const tail = "x\n[W tsss-reaper] 12 bytes of server output are missing here\nmore\n[W tsss-reaper] 4096 bytes of server output are missing here (No space left on device)\nlast\n";
    expect(lastLossMark(tail)).toEqual({ bytes: 4096, reason: "No space left on device" });
    expect(lastLossMark("[W tsss-reaper] 12 bytes of server output are missing here\n")).toEqual({ bytes: 12, reason: undefined });
    expect(lastLossMark("a server line that says 12 bytes of server output are missing here\n")).toBeUndefined();
  });

  it("warns when the filesystem is nearly full or the tail records a loss, and passes otherwise", () => {
    const roomy = { freeBytes: 10 * 1024 * 1024 * 1024, sizeBytes: 20 * 1024 * 1024 * 1024 };
    expect(judgeServerLogDir(facts({ ...perUser, space: roomy })).status).toBe("pass");
    const full = judgeServerLogDir(facts({ ...perUser, space: { freeBytes: 4096, sizeBytes: roomy.sizeBytes } }));
    expect([full.status, full.detail]).toEqual([
      "warn",
      `serverLog "{home}/.log" (/home/alice/.log for alice): /home/alice is a directory of each user's own, but the filesystem holding /home/alice/.log has 4096 bytes free: the reaper cannot write the server's output there (the hub's log still has it)`,
    ]);
    expect(full.fix).toBe("free space where the log lives (`df -h /home/alice`); the reaper resumes on its own and marks what is missing");
    // A small filesystem is judged by its share: 100 KiB free of 256 KiB is not full.
    expect(judgeServerLogDir(facts({ ...perUser, space: { freeBytes: 100 * 1024, sizeBytes: 256 * 1024 } })).status).toBe("pass");
    const lost = judgeServerLogDir(facts({ ...perUser, space: roomy, lastLoss: { bytes: 512, reason: "Disk quota exceeded" } }));
    expect(lost.status).toBe("warn");
    expect(lost.detail).toContain("the log's tail records that 512 bytes of server output could not be written (Disk quota exceeded); the hub's log has them");
  });

  it("adds the trouble to a shared directory's warning and never hides a failure", () => {
    const shared = judgeServerLogDir(facts({ lastLoss: { bytes: 1, reason: undefined } }));
    expect(shared.status).toBe("warn");
    expect(shared.detail).toMatch(/made first\. Also: the log's tail records that 1 bytes of server output could not be written; the hub's log has them$/);
    expect(shared.fix).toMatch(/0700 \/var\/log\/jupyterhub\/USER`\); free space where the log lives/);
    const planted = judgeServerLogDir(facts({ fileEntry: fileOf(1002), lastLoss: { bytes: 1, reason: undefined } }));
    expect(planted.status).toBe("fail");
    expect(planted.detail).not.toContain("tail");
  });
});
