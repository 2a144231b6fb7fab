// Tests of the native addon (build/Release/tsss_native.node) and tsss-reaper
// with real processes. They need no root. Build first: node scripts/native/build-native.mjs
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

import { skipWithout } from "../helpers/prerequisites.js";
import type { NativeAddon } from "../../src/mediator/native.js";
import {
  addon,
  childrenOf,
  hardLimitArg,
  procEnviron,
  procFds,
  procLimits,
  procStat,
  procStatus,
  REAPER,
  runInChild as runJobsInChild,
  SELF_STOPPING_SERVER,
  SERVER_ENV,
  sleep,
  StatusReader,
  useReapers,
  waitForExit,
  waitUntil,
  waitUntilStopped,
  type Job,
} from "../helpers/reaper.js";

const root = path.resolve(import.meta.dirname, "../..");
const ESRCH = 3;
const ECHILD = 10;
const EPERM = 1;
const ENXIO = 6;
const EISDIR = 21;
const EMLINK = 31;
const EBADFD = 77;
const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

const reapers = useReapers();
const { spawnReaper, startServer } = reapers;
let tmp = "";
beforeAll(() => {
  tmp = reapers.tmp(); // made by useReapers' own beforeAll, which runs first
});

function runInChild(jobs: Job[]) {
  return runJobsInChild(tmp, jobs);
}

// ---- tests ----------------------------------------------------------------

describe("tsss_native addon", () => {
  it("exports exactly the documented functions", () => {
    expect(Object.keys(addon).sort()).toEqual(["closeFd", "groupList", "kill", "pidfdOpen", "pidfdSendSignal", "readWithin", "reap", "setNonDumpable", "spawnReaper", "strerror"]);
  });

  it("kill() rejects anything but one pid > 1 and a signal in 0..64", () => {
    const badPids: unknown[] = [0, 1, -1, 1.5, Number.NaN, Infinity, "5", 2 ** 31, undefined];
    for (const pid of badPids) expect(() => addon.kill(pid as number, 0), String(pid)).toThrow(TypeError);
    for (const sig of [65, -1, 1.5, Number.NaN, "9"]) {
      expect(() => addon.kill(process.pid, sig as number), String(sig)).toThrow(TypeError);
    }
  });

  it("kill() returns 0 or the errno", () => {
    expect(addon.kill(process.pid, 0)).toBe(0);
    // Above any pid_max (at most 2^22), so no such process.
    expect(addon.kill(2 ** 31 - 1, 0)).toBe(ESRCH);
  });

  it("reap() validates the pid and reports waitpid errors", () => {
    for (const pid of [0, 1, -1, 2.5, "7"]) expect(() => addon.reap(pid as number)).toThrow(TypeError);
    expect(addon.reap(process.pid)).toEqual({ code: null, signal: null, errno: ECHILD });
  });

  it("strerror() gives the C library text", () => {
    expect(addon.strerror(2)).toBe("No such file or directory");
    expect(addon.strerror(13)).toBe("Permission denied");
    expect(() => addon.strerror(-1)).toThrow(TypeError);
  });

  it("spawnReaper() rejects non-strings, NUL bytes, an empty argv and env entries without '='", () => {
    const cases: Array<[unknown, unknown, unknown]> = [
      [42, ["r"], []],
      ["/bin/tr\0ue", ["r"], []],
      [REAPER, "r", []],
      [REAPER, [], []],
      [REAPER, ["r", 5], []],
      [REAPER, ["r", "a\0b"], []],
      [REAPER, ["r"], "A=1"],
      [REAPER, ["r"], ["A=1\0B=2"]],
      [REAPER, ["r"], ["NOEQUALS"]],
    ];
    for (const [file, argv, env] of cases) {
      expect(() => addon.spawnReaper(file as string, argv as string[], env as string[])).toThrow(TypeError);
    }
  });

  it("reports a reaper that cannot be executed as E 2 exec-reaper", async () => {
    const reaper = spawnReaper(["--cwd", tmp], ["/bin/true"], SERVER_ENV, path.join(tmp, "no-such-reaper"));
    expect(await reaper.status.rest()).toEqual(["E 2 exec-reaper"]);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 127, signal: null });
  });

  it("starts the reaper in its own session with /dev/null, our stderr and the status pipe only", async () => {
    const reaper = await startServer(["--cwd", tmp], ["/bin/sleep", "30"]);
    const ourStderr = fs.readlinkSync("/proc/self/fd/2");
    const stat = procStat(reaper.pid);
    expect(stat.session).toBe(reaper.pid);
    expect(stat.ppid).toBe(process.pid);
    expect(procFds(reaper.pid)).toEqual([0, 1, 2, 3]);
    expect(fs.readlinkSync(`/proc/${reaper.pid}/fd/0`)).toBe("/dev/null");
    expect(fs.readlinkSync(`/proc/${reaper.pid}/fd/1`)).toBe(ourStderr);
    expect(fs.readlinkSync(`/proc/${reaper.pid}/fd/2`)).toBe(ourStderr);
    expect(fs.readlinkSync(`/proc/${reaper.pid}/fd/3`)).toMatch(/^pipe:/);
    // Only what the reaper sets itself: SIGPIPE ignored, and SIGCHLD and the stop signals (SIGTERM,
    // SIGINT, SIGHUP) caught (blocked except inside ppoll, where it waits now: hence nothing blocked).
    const bit = (signal: number) => 1n << BigInt(signal - 1);
    expect(procStatus(reaper.pid, "SigIgn")).toBe(bit(13).toString(16).padStart(16, "0"));
    expect(procStatus(reaper.pid, "SigCgt")).toBe((bit(17) | bit(15) | bit(2) | bit(1)).toString(16).padStart(16, "0"));
    await waitUntil(() => procStatus(reaper.pid, "State")?.startsWith("S") === true, 5000, "the reaper to wait");
    expect(procStatus(reaper.pid, "SigBlk")).toBe("0".repeat(16));
  });
});

describe("tsss-reaper", () => {
  it("starts the server in its own session with a clean, exact environment", async () => {
    const env = ["PATH=/usr/bin:/bin", "TSSS_MARK=stale", "LANG=C.UTF-8", "EMPTY=", "SPACES=a b  c"];
    const options = ["--cwd", tmp, "--mark-env", "TSSS_MARK", "--umask", "027"];
    const limits = ["--rlimit", "NOFILE=64:128", "--rlimit", "CORE=0:0", "--rlimit", "CPU=3600:7200"];
    const reaper = await startServer([...options, ...limits], SELF_STOPPING_SERVER, env);
    const pid = reaper.serverPid ?? 0;
    await waitUntilStopped(pid);

    const stat = procStat(pid);
    expect(stat.ppid).toBe(reaper.pid);
    expect(stat.session).toBe(pid);
    expect(stat.pgrp).toBe(pid);
    expect(fs.readlinkSync(`/proc/${pid}/cwd`)).toBe(tmp);

    expect(procFds(pid)).toEqual([0, 1, 2]);
    expect(fs.readlinkSync(`/proc/${pid}/fd/0`)).toBe("/dev/null");
    const ourStderr = fs.readlinkSync("/proc/self/fd/2");
    expect(fs.readlinkSync(`/proc/${pid}/fd/1`)).toBe(ourStderr);
    expect(fs.readlinkSync(`/proc/${pid}/fd/2`)).toBe(ourStderr);

    expect(procEnviron(pid)).toEqual([
      "PATH=/usr/bin:/bin",
      "LANG=C.UTF-8",
      "EMPTY=",
      "SPACES=a b  c",
      `TSSS_MARK=${pid}`,
    ]);
    expect(procStatus(pid, "SigBlk")).toBe("0".repeat(16));
    expect(procStatus(pid, "SigIgn")).toBe("0".repeat(16));
    expect(procStatus(pid, "Umask")).toBe("0027");

    const applied = procLimits(pid);
    expect(applied.get("Max open files")).toEqual(["64", "128"]);
    expect(applied.get("Max core file size")).toEqual(["0", "0"]);
    expect(applied.get("Max cpu time")).toEqual(["3600", "7200"]);
  });

  it("passes the environment verbatim without --mark-env", async () => {
    const env = ["B=2", "A=1", "A=again"];
    const reaper = await startServer(["--cwd", tmp], ["/bin/sleep", "30"], env);
    expect(procEnviron(reaper.serverPid ?? 0)).toEqual(env);
  });

  it("applies NPROC and AS limits, including 'unlimited'", async () => {
    const nprocHard = hardLimitArg("Max processes");
    const asHard = hardLimitArg("Max address space");
    const nproc = nprocHard === "unlimited" ? "4096" : nprocHard;
    const as = asHard === "unlimited" ? String(2 ** 40) : asHard;
    const reaper = await startServer(
      ["--cwd", tmp, "--rlimit", `NPROC=${nproc}:${nprocHard}`, "--rlimit", `AS=${as}:${asHard}`],
      ["/bin/sleep", "30"],
    );
    const applied = procLimits(reaper.serverPid ?? 0);
    expect(applied.get("Max processes")).toEqual([nproc, nprocHard]);
    expect(applied.get("Max address space")).toEqual([as, asHard]);
  });

  it("raises the nice value, and refuses to lower it", async () => {
    const current = os.getPriority();
    if (current < 19) {
      const nicer = Math.min(current + 2, 19);
      const reaper = await startServer(["--cwd", tmp, "--nice", String(nicer)], ["/bin/sleep", "30"]);
      expect(procStat(reaper.serverPid ?? 0).nice).toBe(nicer);
    }
    if (current > -20) {
      const reaper = spawnReaper(["--cwd", tmp, "--nice", String(current - 1)], ["/bin/sleep", "30"]);
      expect(await reaper.status.rest()).toEqual(["E 13 nice"]);
    }
  });

  it.each([
    ["a missing executable", () => [path.join(tmp, "missing")], "E 2 exec"],
    ["a non-executable file", () => [nonExecutable()], "E 13 exec"],
    ["a directory", () => [tmp], "E 13 exec"],
  ])("reports %s as an exec error", async (_name, server, expected) => {
    const reaper = spawnReaper(["--cwd", tmp], server());
    expect(await reaper.status.rest()).toEqual([expected]);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 127, signal: null });
  });

  it("reports a missing working directory as E 2 chdir", async () => {
    const reaper = spawnReaper(["--cwd", path.join(tmp, "gone")], ["/bin/true"]);
    expect(await reaper.status.rest()).toEqual(["E 2 chdir"]);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 127, signal: null });
  });

  it("reports a failing setrlimit as E 1 rlimit", async () => {
    // Raising a hard limit needs privilege, and nobody can exceed fs.nr_open.
    const nrOpen = Number(fs.readFileSync("/proc/sys/fs/nr_open", "utf8"));
    const reaper = spawnReaper(["--cwd", tmp, "--rlimit", `NOFILE=${nrOpen + 1}:${nrOpen + 1}`], ["/bin/true"]);
    expect(await reaper.status.rest()).toEqual(["E 1 rlimit"]);
  });

  it("reports the exit code of the server, then exits itself", async () => {
    const reaper = await startServer(["--cwd", tmp], ["/bin/sh", "-c", "exit 3"]);
    expect(await reaper.status.rest()).toEqual(["X 3 0"]);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
  });

  it("reports a server killed by a signal", async () => {
    const reaper = await startServer(["--cwd", tmp], ["/bin/sleep", "30"]);
    expect(addon.kill(reaper.serverPid ?? 0, 15)).toBe(0);
    expect(await reaper.status.rest()).toEqual(["X 0 15"]);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
  });

  it("as a subreaper, adopts the server's orphans, and exits after the last one", async () => {
    // The orphan ignores SIGTERM, so it outlives the server for the grace period (see reaper-hardening.test.ts).
    const kidFile = path.join(tmp, "orphan.pid");
    const reaper = await startServer(
      ["--cwd", tmp, "--leftover-grace-ms", "1500"],
      // Exits only once the child has set its trap and exec'd sleep.
      ["/bin/sh", "-c", `(trap '' TERM; exec /bin/sleep 30) & echo $! > ${kidFile}; until grep -q sleep /proc/$!/comm; do :; done; exit 0`],
    );
    expect(await reaper.status.next()).toBe("X 0 0");
    const orphan = Number(fs.readFileSync(kidFile, "utf8"));
    // Reparented to the reaper, not to PID 1 (which may never reap it).
    expect(childrenOf(reaper.pid)).toEqual([orphan]);
    expect(addon.reap(reaper.pid)).toBeNull();
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(`/proc/${orphan}`)).toBe(false);
  });

  it("keeps a waiting reaper under 1 MiB of RSS", async () => {
    const log = path.join(tmp, "rss.log");
    const reaper = await startServer(["--cwd", tmp, "--log-file", log, "--mark-env", "M"], ["/bin/sleep", "30"]);
    const rss = procStatus(reaper.pid, "VmRSS") ?? "";
    expect(rss).toMatch(/^\d+ kB$/);
    expect(Number.parseInt(rss, 10)).toBeLessThan(1024);
  });

  it("rejects bad usage with E 22 usage and a message on stderr", () => {
    const exe = ["/bin/true"];
    const bad: Array<[string[], string[]]> = [
      [[], exe],
      [["--cwd", "relative"], exe],
      [["--cwd", "/", "--cwd", "/"], exe],
      [["--cwd", "/", "--bogus", "1"], exe],
      [["--cwd", "/", "--status-fd", "2"], exe],
      [["--cwd", "/", "--status-fd", "3x"], exe],
      [["--cwd", "/", "--umask", "0800"], exe],
      [["--cwd", "/", "--umask", ""], exe],
      [["--cwd", "/", "--nice", "20"], exe],
      [["--cwd", "/", "--nice", "+1"], exe],
      [["--cwd", "/", "--rlimit", "STACK=1:1"], exe],
      [["--cwd", "/", "--rlimit", "NOFILE=10"], exe],
      [["--cwd", "/", "--rlimit", "NOFILE=20:10"], exe],
      [["--cwd", "/", "--rlimit", "NOFILE=-1:10"], exe],
      [["--cwd", "/", "--rlimit", "CPU=1:99999999999999999999999"], exe],
      [["--cwd", "/", "--rlimit", "CPU=1:2", "--rlimit", "CPU=1:2"], exe],
      [["--cwd", "/", "--mark-env", "1BAD"], exe],
      [["--cwd", "/", "--mark-env", "A=B"], exe],
      [["--cwd", "/", "--log-file", "relative.log"], exe],
      [["--cwd", "/", "--read-only", "relative"], exe],
      [["--cwd", "/", "--read-only", "/"], exe],
      [["--cwd", "/", ...Array.from({ length: 65 }, (_, i) => ["--read-only", `/r${i}`]).flat()], exe],
      [["--cwd", "/", "--private-tmp", "--private-tmp"], exe],
      [["--cwd", "/", "--allow-new-privs", "--allow-new-privs"], exe],
      [["--cwd", "/", "--leftover-grace-ms", "-1"], exe],
      [["--cwd", "/", "--leftover-grace-ms", "600001"], exe],
      [["--cwd", "/", "--leftover-grace-ms", "1", "--leftover-grace-ms", "1"], exe],
      [["--cwd", "/h", "--remove-after", "relative"], exe],
      [["--cwd", "/h", "--remove-after", "/h"], exe],
      [["--cwd", "/h", "--remove-after", "/h/"], exe],
      [["--cwd", "/h", "--remove-after", "/hx/a"], exe],
      [["--cwd", "/h", "--remove-after", "/h/../etc/passwd"], exe],
      [["--cwd", "/h", "--remove-after", "/h/a/.."], exe],
      [["--cwd", "/h", "--remove-after", "/h/./a"], exe],
      [["--cwd", "/h", "--remove-after", "/h//a"], exe],
      [["--remove-after", "/etc/passwd", "--cwd", "/h"], exe],
      [["--cwd", "/h", ...Array.from({ length: 9 }, (_, i) => ["--remove-after", `/h/f${i}`]).flat()], exe],
      [["--cwd", "/"], ["relative/exe"]],
      [["--cwd", "/"], []],
    ];
    const { results, stderr } = runInChild(bad.map(([options, server]) => ({ options, server })));
    for (const [i, result] of results.entries()) {
      expect(result, JSON.stringify(bad[i])).toEqual({ status: ["E 22 usage"], exit: { code: 127, signal: null } });
    }
    expect(stderr).toContain("tsss-reaper: unknown option: --bogus");
    expect(stderr).toContain("tsss-reaper: --cwd is required");
    expect(stderr).toContain("tsss-reaper: --read-only must be an absolute path other than /: /");
    expect(stderr).toContain("tsss-reaper: --read-only given too often (at most 64 paths): /r64");
    expect(stderr).toContain("tsss-reaper: --leftover-grace-ms must be an integer in 0..600000: 600001");
    expect(stderr).toContain("tsss-reaper: --remove-after must be an absolute path below --cwd: /h/../etc/passwd");
    expect(stderr).toContain("tsss-reaper: --remove-after given too often (at most 8 paths): /h/f8");
  });

  it("refuses a status fd that is not open, since its number could be reused", () => {
    const { results, stderr } = runInChild([{ options: ["--status-fd", "9", "--cwd", "/"], server: ["/bin/true"] }]);
    expect(results).toEqual([{ status: [], exit: { code: 127, signal: null } }]);
    expect(stderr).toContain("tsss-reaper: the status fd is not open");
  });

  it("accepts the full option set", () => {
    const options = ["--status-fd", "3", "--cwd", "/", "--umask", "0", "--nice", "19", "--mark-env", "_X1", "--allow-new-privs", "--leftover-grace-ms", "0", "--remove-after", "/nonexistent/tsss-file"];
    const limits = ["--rlimit", `CORE=0:${hardLimitArg("Max core file size")}`, "--rlimit", "NOFILE=64:64"];
    const { results } = runInChild([{ options: [...options, ...limits], server: ["/bin/true"] }]);
    expect(results[0]?.status).toHaveLength(2);
    expect(results[0]?.status[0]).toMatch(/^P \d+$/);
    expect(results[0]?.status[1]).toBe("X 0 0");
    expect(results[0]?.exit).toEqual({ code: 0, signal: null });
  });

  it("with --log-file, copies the server's stdout and stderr to the log and to its stderr", () => {
    const log = path.join(tmp, "server.log");
    fs.writeFileSync(log, "earlier line\n");
    const script = "echo to-stdout; echo to-stderr >&2; exit 5";
    const { results, stderr } = runInChild([
      { options: ["--cwd", tmp, "--log-file", log], server: ["/bin/sh", "-c", script] },
    ]);
    expect(results[0]?.status).toHaveLength(2);
    expect(results[0]?.status[0]).toMatch(/^P \d+$/);
    expect(results[0]?.status[1]).toBe("X 5 0");
    expect(results[0]?.exit).toEqual({ code: 0, signal: null });
    expect(fs.readFileSync(log, "utf8")).toBe("earlier line\nto-stdout\nto-stderr\n");
    // The server's output, and the reaper's exit line for the hub (which is not the server's
    // parent); the exit is reported at once, so it may come before the last copied output.
    const pid = Number(results[0]?.status[0]?.slice(2));
    const exitLine = `[I tsss-reaper] server pid ${pid} exited with status 5\n`;
    expect(stderr.split(exitLine)).toHaveLength(2);
    expect(stderr.replace(exitLine, "")).toBe("to-stdout\nto-stderr\n");
  });

  it("tells the hub on stderr how the server ended: its exit status, or the signal that killed it", () => {
    const { results, stderr } = runInChild([
      { options: ["--cwd", tmp], server: ["/bin/sh", "-c", "exit 3"] },
      { options: ["--cwd", tmp], server: ["/bin/sh", "-c", "kill -9 $$"] },
    ]);
    const [crashed, killed] = results.map((result) => Number(result.status[0]?.slice(2)));
    expect(results.map((result) => result.status[1])).toEqual(["X 3 0", "X 0 9"]);
    expect(stderr).toBe(`[I tsss-reaper] server pid ${crashed} exited with status 3\n[I tsss-reaper] server pid ${killed} was killed by signal 9\n`);
  });

  it("creates the log file with mode 0600 and does not follow symlinks", () => {
    const log = path.join(tmp, "new.log");
    const link = path.join(tmp, "link.log");
    fs.symlinkSync(path.join(tmp, "target.log"), link);
    const { results } = runInChild([
      { options: ["--cwd", tmp, "--log-file", log], server: ["/bin/true"] },
      { options: ["--cwd", tmp, "--log-file", link], server: ["/bin/true"] },
      { options: ["--cwd", tmp, "--log-file", path.join(tmp, "no/dir.log")], server: ["/bin/true"] },
    ]);
    expect(fs.statSync(log).mode & 0o777).toBe(0o600);
    expect(results[1]?.status).toEqual(["E 40 log-file"]); // ELOOP
    expect(results[2]?.status).toEqual(["E 2 log-file"]);
    expect(fs.existsSync(path.join(tmp, "target.log"))).toBe(false);
  });

  it("uses an existing log file only when it is the user's own regular file with one link, and writes nothing to one it refuses", () => {
    const dir = path.join(tmp, "shared-logs");
    fs.mkdirSync(dir);
    const planted = "planted by someone else\n";
    const file = (name: string) => path.join(dir, name);
    // Two names of one file: another user's link to it would read the server's output.
    fs.writeFileSync(file("linked.log"), planted);
    fs.linkSync(file("linked.log"), file("second-name.log"));
    // A FIFO with a reader: open(2) succeeds, only the fd shows it is no file.
    spawnSync("mkfifo", [file("fifo.log")]);
    const reader = fs.openSync(file("fifo.log"), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    fs.mkdirSync(file("dir.log"));
    // Another owner (only root can make one): a file planted in advance.
    fs.writeFileSync(file("other-owner.log"), planted, { mode: 0o666 });
    if (IS_ROOT) fs.chownSync(file("other-owner.log"), NOBODY, NOBODY);
    const cases: Array<[string, number]> = [
      ["linked.log", EMLINK],
      ["fifo.log", EBADFD],
      ["dir.log", EISDIR],
      ...(IS_ROOT ? ([["other-owner.log", EPERM]] as Array<[string, number]>) : []),
    ];
    try {
      const { results } = runInChild(cases.map(([name]) => ({ options: ["--cwd", tmp, "--log-file", file(name)], server: ["/bin/sh", "-c", "echo server ran"] })));
      // Refused before the server starts: no "P" line, and nothing written.
      expect(results.map((result) => result.status)).toEqual(cases.map(([, errno]) => [`E ${errno} log-file`]));
      expect(results.map((result) => result.exit)).toEqual(cases.map(() => ({ code: 127, signal: null })));
      expect(fs.readFileSync(file("linked.log"), "utf8")).toBe(planted);
      expect(fs.readFileSync(file("other-owner.log"), "utf8")).toBe(planted);
      expect(fs.readSync(reader, Buffer.alloc(64))).toBe(0);
      expect(fs.readdirSync(file("dir.log"))).toEqual([]);
    } finally {
      fs.closeSync(reader);
    }
    // A FIFO nobody reads: open(2) itself fails, at once.
    const { results } = runInChild([{ options: ["--cwd", tmp, "--log-file", file("fifo.log")], server: ["/bin/true"] }]);
    expect(results[0]?.status).toEqual([`E ${ENXIO} log-file`]);
    // The user's own file with one link, however it got there, is appended to.
    fs.rmSync(file("second-name.log"));
    const own = runInChild([{ options: ["--cwd", tmp, "--log-file", file("linked.log")], server: ["/bin/sh", "-c", "echo server ran"] }]);
    expect(own.results[0]?.status[0]).toMatch(/^P \d+$/);
    expect(fs.readFileSync(file("linked.log"), "utf8")).toBe(`${planted}server ran\n`);
  });

  it("with --remove-after, removes those files, then their directory, once the server's tree has ended", async () => {
    const dir = path.join(tmp, "remove-after");
    const kept = path.join(tmp, "kept-target");
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(kept, "not named, only linked to\n");
    const files = ["server.key", "server.crt"].map((name) => path.join(dir, name));
    for (const name of files) fs.writeFileSync(name, "secret\n", { mode: 0o600 });
    const link = path.join(dir, "link");
    fs.symlinkSync(kept, link);
    const options = ["--cwd", tmp, ...[...files, link, path.join(dir, "gone-already"), dir].flatMap((p) => ["--remove-after", p])];
    // A child that outlives the server: the files go only after it has been stopped too.
    const reaper = await startServer(options, ["/bin/sh", "-c", "sleep 30 & echo $! > child.pid; exec sleep 30"]);
    await waitUntil(() => fs.existsSync(path.join(tmp, "child.pid")) && fs.readFileSync(path.join(tmp, "child.pid"), "utf8").endsWith("\n"), 5000, "the child's pid");
    const child = Number(fs.readFileSync(path.join(tmp, "child.pid"), "utf8"));
    fs.rmSync(path.join(tmp, "child.pid"));
    for (const name of files) expect(fs.existsSync(name)).toBe(true);
    expect(addon.kill(reaper.serverPid ?? 0, 9)).toBe(0);
    expect(await reaper.status.next()).toBe("X 0 9");
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(`/proc/${child}`)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    // A link is removed, never followed.
    expect(fs.readFileSync(kept, "utf8")).toBe("not named, only linked to\n");
  });

  it("with --remove-after, leaves a directory that is not empty, and says so", () => {
    const dir = path.join(tmp, "not-empty");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "named"), "x");
    fs.writeFileSync(path.join(dir, "someone-elses"), "y");
    const { results, stderr } = runInChild([{ options: ["--cwd", tmp, "--remove-after", path.join(dir, "named"), "--remove-after", dir], server: ["/bin/true"] }]);
    expect(results[0]?.exit).toEqual({ code: 0, signal: null });
    expect(fs.readdirSync(dir)).toEqual(["someone-elses"]);
    expect(stderr).toContain(`[W tsss-reaper] could not remove ${dir} (errno 39)\n`);
  });

  it("with --log-file, reports the exit at once but copies until the last writer is gone", async () => {
    const lateLine = "native.test.ts: output written after the server exited, copied by tsss-reaper";
    const log = path.join(tmp, "late.log");
    const reaper = await startServer(["--cwd", tmp, "--log-file", log], ["/bin/sleep", "30"]);
    // A second writer on the server's output pipe stands in for a grandchild
    // that outlives the server (without leaving an orphan behind).
    const writer = fs.openSync(`/proc/${reaper.serverPid}/fd/1`, fs.constants.O_WRONLY);
    try {
      expect(addon.kill(reaper.serverPid ?? 0, 15)).toBe(0);
      expect(await reaper.status.next()).toBe("X 0 15");
      // Also lands on our stderr, hence the self-explanatory text.
      fs.writeSync(writer, `${lateLine}\n`);
      await sleep(100);
      expect(addon.reap(reaper.pid)).toBeNull();
    } finally {
      fs.closeSync(writer);
    }
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(fs.readFileSync(log, "utf8")).toBe(`${lateLine}\n`);
  });
});

function nonExecutable(): string {
  const file = path.join(tmp, "not-executable");
  fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o644 });
  return file;
}

// CI builds the addon both ways so neither build description rots (npm ci runs binding.gyp).
const cmakeMissing = spawnSync("cmake", ["--version"], { stdio: "ignore" }).status !== 0;
const skipCmake = skipWithout("the cmake-js build (test/process/native.test.ts)", cmakeMissing ? "cmake is not installed (apt-get install cmake)" : undefined);

describe.skipIf(skipCmake)("cmake-js build", () => {
  it("builds the addon and the reaper into build-cmake/Release, and they work", async () => {
    const build = spawnSync(process.execPath, [path.join(root, "scripts/native/build-cmake.mjs")], {
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(build.status, build.stderr).toBe(0);
    const built = createRequire(import.meta.url)("../../build-cmake/Release/tsss_native.node") as NativeAddon;
    expect(built.strerror(2)).toBe("No such file or directory");
    const cmakeReaper = path.join(root, "build-cmake/Release/tsss-reaper");
    expect(fs.statSync(cmakeReaper).mode & 0o777).toBe(0o755);
    const { pid, statusFd } = built.spawnReaper(cmakeReaper, ["tsss-reaper", "--cwd", tmp, "--", "/bin/sh", "-c", "exit 7"], SERVER_ENV);
    const status = new StatusReader(statusFd);
    try {
      expect(await status.rest()).toEqual([expect.stringMatching(/^P \d+$/), "X 7 0"]);
      expect(await waitForExit(pid)).toEqual({ code: 0, signal: null });
    } finally {
      status.close();
    }
  }, 300_000);
});
