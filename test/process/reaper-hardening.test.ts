// Issue 11, items 7 and 8 and the server sandbox, with real processes (no sudo; root only where
// it says so): nothing of a server's tree outlives it, a kill through a pidfd reaches only the
// process it checked, a hub that stops reading stderr does not stall the reaper, a server dies
// with its reaper, and the sandbox (no_new_privs, user + mount namespace, private /tmp, read-only
// paths) holds against the server. Build first: npm run build:native
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  addon,
  ADDON_PATH,
  childrenOf,
  procStat,
  procStatus,
  REAPER,
  running,
  runInChild,
  sleep,
  useReapers,
  waitForExit,
  waitUntil,
} from "../helpers/reaper.js";
import { killServer } from "../../src/mediator/kill/kill.js";
import { HANG_GUARD_MS } from "../helpers/deadlines.js";
import { skipWithout } from "../helpers/prerequisites.js";

const { ESRCH, EBADF, EAGAIN, ENOENT, EINVAL } = os.constants.errno;
const IS_ROOT = process.getuid?.() === 0;

/** As root, the reaper runs as nobody (as the mediator runs it as the user); otherwise as us. */
const NOBODY = 65534;
const WRAPPER = IS_ROOT ? ["/usr/bin/setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"] : [];
const SANDBOX_UID = IS_ROOT ? NOBODY : (process.getuid?.() as number);

const reapers = useReapers();
const { spawnReaper, startServer } = reapers;
let tmp = "";
beforeAll(() => {
  tmp = reapers.tmp();
});

function readPid(file: string): number {
  return Number(fs.readFileSync(file, "utf8").trim());
}

async function waitForFile(file: string, timeoutMs = HANG_GUARD_MS): Promise<void> {
  await waitUntil(() => fs.existsSync(file) && fs.readFileSync(file, "utf8").endsWith("\n"), timeoutMs, `${file} to be written`);
}

const skipStall = skipWithout(
  "the pre-exec stall test (test/process/reaper-hardening.test.ts)",
  spawnSync("strace", ["-V"], { stdio: "ignore" }).status === 0 ? undefined : "strace is not installed (apt-get install strace)",
);

// ---- item 8a: pidfds ------------------------------------------------------------------------

describe("tsss_native pidfds", () => {
  it("validate their arguments, and closeFd never closes stdio", () => {
    for (const pid of [0, 1, -1, 1.5, Number.NaN, "5", 2 ** 31]) expect(() => addon.pidfdOpen(pid as number), String(pid)).toThrow(TypeError);
    for (const [fd, sig] of [[-1, 0], [1.5, 0], [3, 65], [3, -1], ["3", 0]]) {
      expect(() => addon.pidfdSendSignal(fd as number, sig as number), `${fd} ${sig}`).toThrow(TypeError);
    }
    for (const fd of [0, 1, 2, -1, 3.5]) expect(() => addon.closeFd(fd), String(fd)).toThrow(TypeError);
  });

  it("groupList gives a user's groups as the system defines them (id -G agrees)", () => {
    const name = os.userInfo().username;
    const expected = spawnSync("id", ["-G", name], { encoding: "utf8" }).stdout.trim().split(/\s+/).map(Number).sort((a, b) => a - b);
    const listed = addon.groupList(name, os.userInfo().gid);
    expect(Array.isArray(listed) ? [...new Set(listed)].sort((a, b) => a - b) : listed).toEqual([...new Set(expected)]);
    expect(addon.groupList("tsss-no-such-user-at-all", 12345)).toEqual([12345]);
  });

  it("take no thread's id for a process's, and the kill action answers such a pid as gone", () => {
    // Node runs threads of its own; any of them is a task of this process that leads no group.
    const thread = fs.readdirSync("/proc/self/task").map(Number).find((tid) => tid !== process.pid);
    expect(thread).toBeDefined();
    const fd = addon.pidfdOpen(thread as number);
    expect([-ENOENT, -EINVAL]).toContain(fd); // ENOENT since Linux 6.9, EINVAL before
    const lines: string[] = [];
    const logger = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    expect(killServer(thread as number, 15, { addon, logger, ownership: () => "ours" })).toBe(false);
  });

  it("pin one process: a signal reaches it while it lives, and nothing once it was reaped", async () => {
    expect(addon.pidfdOpen(2 ** 31 - 1)).toBe(-ESRCH); // above any pid_max
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const fd = addon.pidfdOpen(child.pid as number);
    expect(fd).toBeGreaterThanOrEqual(3);
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe("anon_inode:[pidfd]");
    expect(addon.pidfdSendSignal(fd, 0)).toBe(0);
    expect(addon.pidfdSendSignal(fd, 15)).toBe(0);
    await exited; // and reaped by Node
    expect(addon.pidfdSendSignal(fd, 0)).toBe(ESRCH);
    expect(addon.closeFd(fd)).toBe(0);
    expect(addon.closeFd(fd)).toBe(EBADF);
    expect(addon.pidfdSendSignal(fd, 0)).toBe(EBADF);
  });

  it("never reach a process that took over the pinned process's pid", () => {
    // In a new user + pid namespace, ns_last_pid hands the reaped child's pid to a new process:
    // kill(2) by pid reaches the newcomer, the pidfd does not.
    const script = `
      const { spawn, spawnSync } = require("node:child_process");
      const fs = require("node:fs");
      const addon = require(${JSON.stringify(ADDON_PATH)});
      const old = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
      (async () => {
        const first = spawn("sleep", ["30"], { stdio: "ignore" });
        const pid = first.pid;
        const fd = addon.pidfdOpen(pid);
        await new Promise((resolve) => { first.once("exit", resolve); first.kill("SIGKILL"); });
        let newcomer;
        for (let i = 0; i < 20 && !newcomer; i++) {
          fs.writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
          const candidate = spawn("sleep", ["30"], { stdio: "ignore" });
          if (candidate.pid === pid) newcomer = candidate; else candidate.kill("SIGKILL");
        }
        const out = { reused: newcomer !== undefined };
        if (newcomer) {
          out.byPid = addon.kill(pid, 0);
          out.probe = addon.pidfdSendSignal(fd, 0);
          out.kill = addon.pidfdSendSignal(fd, 9);
          spawnSync("sleep", ["0.1"]);
          out.newcomerAlive = newcomer.exitCode === null && newcomer.signalCode === null;
          newcomer.kill("SIGKILL");
        }
        process.stdout.write(JSON.stringify(out));
        process.exit(0);
      })();
    `;
    const result = spawnSync("unshare", ["--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc", process.execPath, "-e", script], {
      encoding: "utf8",
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ reused: true, byPid: 0, probe: ESRCH, kill: ESRCH, newcomerAlive: true });
  });
});

describe("tsss_native setNonDumpable", () => {
  it("closes the mediator's /proc files to its own user's other processes (a sandboxed server)", () => {
    const script = `
      const { spawnSync } = require("node:child_process");
      const fs = require("node:fs");
      const addon = require(${JSON.stringify(ADDON_PATH)});
      const peek = () => spawnSync("cat", ["/proc/" + process.pid + "/environ"], { stdio: "ignore" }).status;
      const before = { owner: fs.statSync("/proc/self/environ").uid, sibling: peek() };
      const rc = addon.setNonDumpable();
      const after = { owner: fs.statSync("/proc/self/environ").uid, sibling: peek(), self: fs.readFileSync("/proc/self/stat", "utf8").length > 0 };
      process.stdout.write(JSON.stringify({ before, rc, after }));
    `;
    const [file, args] = IS_ROOT ? ["/usr/bin/setpriv", [...WRAPPER.slice(1), process.execPath, "-e", script]] : [process.execPath, ["-e", script]];
    const result = spawnSync(file as string, args as string[], { encoding: "utf8", timeout: HANG_GUARD_MS });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      before: { owner: SANDBOX_UID, sibling: 0 },
      rc: 0,
      after: { owner: 0, sibling: 1, self: true },
    });
  });
});

describe("tsss-reaper until the commit", () => {
  it("keeps its status and commit pipes from the server it starts (its own user): no pid of the server's choosing first, no commit of its own", () => {
    const box = fs.mkdtempSync("/var/tmp/tsss-commit-");
    fs.chmodSync(box, 0o777);
    try {
      // All as the user, as the mediator runs it: the pipes are then the user's, which the server
      // could reopen through the reaper's /proc/PID/fd were the reaper dumpable.
      const script = `
        const fs = require("fs");
        const [addonPath, reaperPath, box] = process.argv.slice(1);
        const addon = require(addonPath);
        const pause = new Int32Array(new SharedArrayBuffer(4));
        const waitFor = (check) => { for (let i = 0; i < 500 && !check(); i++) Atomics.wait(pause, 0, 0, 20); return check(); };
        const out = box + "/attempts";
        const tries = "printf 'P 4242\\\\n' > /proc/$PPID/fd/3 && echo wrote-status; printf c > /proc/$PPID/fd/4 && echo wrote-commit";
        const server = ["/bin/sh", "-c", "{ " + tries + "; } > " + out + ".tmp 2>&1; mv " + out + ".tmp " + out + "; exec /bin/sleep 300"];
        const { pid, statusFd, commitFd } = addon.spawnReaper(reaperPath, ["tsss-reaper", "--commit-fd", "4", "--leftover-grace-ms", "300", "--cwd", box, "--", ...server], ["PATH=/usr/bin:/bin"], true);
        const environOwner = () => fs.statSync("/proc/" + pid + "/environ").uid;
        waitFor(() => fs.existsSync(out));
        const attempts = fs.readFileSync(out, "utf8");
        const before = environOwner();
        try { fs.writeSync(commitFd, "C"); } catch {} // EPIPE where the server already committed
        fs.closeSync(commitFd);
        waitFor(() => environOwner() !== 0);
        const after = environOwner();
        const buf = Buffer.alloc(256);
        const n = fs.readSync(statusFd, buf);
        // The server: the reaper's child (never a pid the status pipe names, which may be forged).
        const server_ = Number(fs.readFileSync("/proc/" + pid + "/task/" + pid + "/children", "utf8").trim().split(" ")[0]);
        addon.kill(server_, 15);
        let exit;
        while ((exit = addon.reap(pid)) === null) Atomics.wait(pause, 0, 0, 10);
        process.stdout.write(JSON.stringify({ status: buf.toString("utf8", 0, n).split("\\n")[0], attempts, before, after, exit }));`;
      const command = [...WRAPPER, process.execPath, "-e", script, ADDON_PATH, REAPER, box];
      const child = spawnSync(command[0] as string, command.slice(1), { encoding: "utf8", timeout: HANG_GUARD_MS, killSignal: "SIGKILL" });
      expect(child.status, child.stderr).toBe(0);
      const result = JSON.parse(child.stdout) as { status: string; attempts: string; before: number; after: number; exit: unknown };
      expect(result.status).toMatch(/^P \d+$/);
      expect(result.status).not.toBe("P 4242");
      expect(result.attempts).not.toMatch(/wrote-/);
      expect(result.attempts).toMatch(/Permission denied/);
      expect(result.before).toBe(0); // not dumpable: its private /proc files are root's
      expect(result.after).toBe(SANDBOX_UID); // committed, dumpable again (the kill's fallback reads /proc/REAPER/exe)
      expect(result.exit).toEqual({ code: 0, signal: null });
    } finally {
      fs.rmSync(box, { recursive: true, force: true });
    }
  });
});

describe("tsss-reaper stopped by a signal", () => {
  it.each([15, 2, 1])("on signal %i stops the server as a stop does (its TERM trap runs), says so, writes the exit line and ends", (signal) => {
    const trapped = path.join(tmp, `trapped-${signal}`);
    // In a child node process, whose stderr (the reaper's, the hub's pipe) the test reads.
    const script = `
      const fs = require("fs");
      const addon = require(process.argv[1]);
      const pause = new Int32Array(new SharedArrayBuffer(4));
      const server = ["/bin/sh", "-c", "trap 'echo stopped > ${trapped}; exit 0' TERM; while :; do sleep 0.05; done"];
      const { pid, statusFd } = addon.spawnReaper(process.argv[2], ["tsss-reaper", "--cwd", "/", "--", ...server], ["PATH=/usr/bin:/bin"]);
      Atomics.wait(pause, 0, 0, 300);
      addon.kill(pid, ${signal});
      const buf = Buffer.alloc(256);
      let status = "";
      for (let n; (n = fs.readSync(statusFd, buf)) > 0; ) status += buf.toString("utf8", 0, n);
      let exit;
      while ((exit = addon.reap(pid)) === null) Atomics.wait(pause, 0, 0, 10);
      process.stdout.write(JSON.stringify({ status: status.split("\\n").filter(Boolean), exit }));`;
    const child = spawnSync(process.execPath, ["-e", script, ADDON_PATH, REAPER], { encoding: "utf8", timeout: HANG_GUARD_MS, killSignal: "SIGKILL" });
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout) as { status: string[]; exit: unknown };
    expect(result.exit).toEqual({ code: 0, signal: null });
    expect(result.status[result.status.length - 1]).toBe("X 0 0");
    expect(fs.readFileSync(trapped, "utf8")).toBe("stopped\n");
    expect(child.stderr).toMatch(new RegExp(`\\[I tsss-reaper\\] stopping server pid \\d+ and everything it started: the reaper got signal ${signal}\\n`));
    expect(child.stderr).toMatch(/\[I tsss-reaper\] server pid \d+ exited with status 0\n/);
  });
});

// ---- item 7: nothing of the server's tree survives it ---------------------------------------

describe("tsss-reaper: what is left of the server's tree once it exited", () => {
  it("stops a child the server started in a session of its own, when the server is SIGKILLed (an OOM kill)", async () => {
    const kid = path.join(tmp, "kernel.pid");
    // As jupyter_client starts kernels: in a new session (setsid), so no process-group signal reaches it.
    // The longest grace period: SIGKILL would come only after 10 minutes, so an exit within the
    // hang guard is SIGTERM's doing.
    const reaper = await startServer(["--cwd", tmp, "--leftover-grace-ms", "600000"], ["/bin/sh", "-c", `setsid /bin/sleep 300 & echo $! > ${kid}; exec /bin/sleep 300`]);
    await waitForFile(kid);
    const kernel = readPid(kid);
    await waitUntil(() => procStatus(kernel, "Name") === "sleep", HANG_GUARD_MS, "the kernel to exec");
    expect(procStat(kernel).session).toBe(kernel);
    expect(running(kernel)).toBe(true);
    expect(addon.kill(reaper.serverPid as number, 9)).toBe(0);
    expect(await reaper.status.next()).toBe("X 0 9");
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(running(kernel)).toBe(false);
  });

  it("stops grandchildren whose own parent still lives, all in one pass", async () => {
    const kid = path.join(tmp, "kid.pid");
    const grandkid = path.join(tmp, "grandkid.pid");
    const script = `setsid /bin/sh -c '/bin/sleep 300 & echo $! > ${grandkid}; wait' & echo $! > ${kid}; exec /bin/sleep 300`;
    const reaper = await startServer(["--cwd", tmp], ["/bin/sh", "-c", script]);
    await waitForFile(kid);
    await waitForFile(grandkid);
    const [child, grandchild] = [readPid(kid), readPid(grandkid)];
    await waitUntil(() => procStatus(grandchild, "Name") === "sleep", HANG_GUARD_MS, "the grandchild to exec");
    expect(procStat(grandchild).ppid).toBe(child);
    expect(addon.kill(reaper.serverPid as number, 15)).toBe(0);
    expect(await reaper.status.next()).toBe("X 0 15");
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect([running(child), running(grandchild)]).toEqual([false, false]);
  });

  it("gives one that ignores SIGTERM the grace period, then SIGKILL", async () => {
    const kid = path.join(tmp, "stubborn.pid");
    const GRACE_MS = 1500;
    const reaper = await startServer(
      ["--cwd", tmp, "--leftover-grace-ms", String(GRACE_MS)],
      ["/bin/sh", "-c", `setsid /bin/sh -c "trap '' TERM; exec /bin/sleep 300" & echo $! > ${kid}; exec /bin/sleep 300`],
    );
    await waitForFile(kid);
    const stubborn = readPid(kid);
    await waitUntil(() => procStatus(stubborn, "Name") === "sleep", HANG_GUARD_MS, "the stubborn child to exec");
    const killedAt = Date.now();
    expect(addon.kill(reaper.serverPid as number, 9)).toBe(0);
    expect(await reaper.status.next()).toBe("X 0 9");
    // The reaper exits once nothing is left: it found the stubborn child (adopted, as subreaper),
    // waited out the grace period (a lower bound, which load cannot break), then SIGKILLed it.
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(GRACE_MS - 50); // less only by clock rounding
    expect(running(stubborn)).toBe(false);
  });

  it("wakes a stopped leftover so that SIGTERM reaches it at once", async () => {
    const kid = path.join(tmp, "stopped.pid");
    // The longest grace period: a stopped child left asleep would hold SIGTERM pending for 10
    // minutes; the reaper exits within the hang guard only if it woke it.
    const reaper = await startServer(["--cwd", tmp, "--leftover-grace-ms", "600000"], ["/bin/sh", "-c", `setsid /bin/sleep 300 & echo $! > ${kid}; exec /bin/sleep 300`]);
    await waitForFile(kid);
    const stopped = readPid(kid);
    await waitUntil(() => procStatus(stopped, "Name") === "sleep", HANG_GUARD_MS, "the child to exec");
    process.kill(stopped, "SIGSTOP");
    await waitUntil(() => procStatus(stopped, "State")?.startsWith("T") === true, HANG_GUARD_MS, "the child to stop");
    expect(addon.kill(reaper.serverPid as number, 9)).toBe(0);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(running(stopped)).toBe(false);
  });

  it("with --leftover-grace-ms 0, kills what is left, SIGTERM ignored or not", async () => {
    // How soon is a figure of `npm run bench` (leftover SIGKILL at grace 0), not a check here.
    const kid = path.join(tmp, "at-once.pid");
    const reaper = await startServer(
      ["--cwd", tmp, "--leftover-grace-ms", "0"],
      ["/bin/sh", "-c", `setsid /bin/sh -c "trap '' TERM; exec /bin/sleep 300" & echo $! > ${kid}; exec /bin/sleep 300`],
    );
    await waitForFile(kid);
    await waitUntil(() => procStatus(readPid(kid), "Name") === "sleep", HANG_GUARD_MS, "the child to exec");
    expect(addon.kill(reaper.serverPid as number, 9)).toBe(0);
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(running(readPid(kid))).toBe(false);
  });

  it("leaves the server's processes alone while the server runs", async () => {
    const kid = path.join(tmp, "while-running.pid");
    const reaper = await startServer(["--cwd", tmp], ["/bin/sh", "-c", `setsid /bin/sleep 300 & echo $! > ${kid}; exec /bin/sleep 300`]);
    await waitForFile(kid);
    // Nothing to wait for: the reaper acts only on the server's exit. A look after a moment, and
    // the server's own exit then still finds its child to stop.
    await sleep(300);
    expect(running(readPid(kid))).toBe(true);
    expect(running(reaper.serverPid as number)).toBe(true);
  });
});

// ---- item 8b: a hub that stops reading stderr -------------------------------------------------

/** A FIFO whose read end is held open and never read: the hub that stopped reading. */
function unreadPipe(fill: boolean): { write: number; close: () => number } {
  const fifo = path.join(tmp, `stderr-${Date.now()}-${Math.random()}.fifo`);
  expect(spawnSync("mkfifo", ["-m", "600", fifo]).status).toBe(0);
  const read = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const write = fs.openSync(fifo, fs.constants.O_WRONLY | (fill ? fs.constants.O_NONBLOCK : 0));
  if (fill) {
    const chunk = Buffer.alloc(4096, "f");
    for (;;) {
      try {
        fs.writeSync(write, chunk);
      } catch (error) {
        expect((error as NodeJS.ErrnoException).errno).toBe(-EAGAIN);
        break;
      }
    }
  }
  /** Closes both ends; returns how many bytes the hub could have read. */
  const close = () => {
    let total = 0;
    const buf = Buffer.alloc(65536);
    for (;;) {
      try {
        const n = fs.readSync(read, buf);
        if (n === 0) break;
        total += n;
      } catch {
        break;
      }
    }
    fs.closeSync(read);
    fs.closeSync(write);
    fs.rmSync(fifo);
    return total;
  };
  return { write, close };
}

describe("tsss-reaper: a hub that stops reading stderr", () => {
  it("in log-file mode, keeps reaping and writing the whole log, dropping what the hub's pipe cannot take", () => {
    const log = path.join(tmp, "full-pipe.log");
    const pipe = unreadPipe(false);
    const server = ["/bin/sh", "-c", `head -c 1048576 /dev/zero | tr '\\0' x; echo; echo done-marker; exit 7`];
    let hubGot: number;
    let results;
    try {
      ({ results } = runInChild(tmp, [{ options: ["--cwd", tmp, "--log-file", log], server }], pipe.write, HANG_GUARD_MS));
    } finally {
      hubGot = pipe.close();
    }
    expect(results[0]?.status).toEqual([expect.stringMatching(/^P \d+$/), "X 7 0"]);
    expect(results[0]?.exit).toEqual({ code: 0, signal: null });
    const written = fs.readFileSync(log, "utf8");
    expect(written.length).toBe(1048576 + 1 + "done-marker\n".length);
    expect(written.endsWith("x\ndone-marker\n")).toBe(true);
    expect(hubGot).toBeLessThan(1048576); // at most a pipe's capacity reached the hub
  });

  it("does not block on its exit line when the hub's pipe is already full", () => {
    const pipe = unreadPipe(true);
    let results;
    try {
      ({ results } = runInChild(
        tmp,
        [
          { options: ["--cwd", tmp], server: ["/bin/sh", "-c", "exit 3"] },
          { options: ["--cwd", tmp], server: ["/bin/sh", "-c", "kill -9 $$"] },
          { options: ["--cwd", tmp, "--log-file", path.join(tmp, "full-exit.log")], server: ["/bin/sh", "-c", "echo to-the-log; exit 4"] },
        ],
        pipe.write,
        HANG_GUARD_MS,
      ));
    } finally {
      pipe.close();
    }
    expect(results.map((result) => result.status[1])).toEqual(["X 3 0", "X 0 9", "X 4 0"]);
    for (const result of results) expect(result.exit).toEqual({ code: 0, signal: null });
    expect(fs.readFileSync(path.join(tmp, "full-exit.log"), "utf8")).toBe("to-the-log\n");
  });
});

// ---- item 8c: the server dies with its reaper -------------------------------------------------

describe("tsss-reaper: a server never outlives its reaper", () => {
  it("is killed when its reaper is killed", async () => {
    const reaper = await startServer(["--cwd", tmp], ["/bin/sleep", "300"]);
    const server = reaper.serverPid as number;
    expect(procStatus(server, "Name")).toBe("sleep");
    expect(addon.kill(reaper.pid, 9)).toBe(0);
    expect(await waitForExit(reaper.pid)).toEqual({ code: null, signal: 9 });
    // Reparented to PID 1 (which may reap late): dead is enough.
    await waitUntil(() => !running(server), HANG_GUARD_MS, `server ${server} to die with its reaper`);
  });

  it.skipIf(skipStall)("never runs when its reaper is killed between fork and exec (the mediator's start timeout)", async () => {
    const ran = path.join(tmp, "ran");
    // strace holds the server child at its chdir, before exec, as a hung NFS home would (longer
    // than the hang guard). When strace goes, a child that is still alive resumes, and would exec
    // the server: the SIGKILL it was due when its reaper died (PR_SET_PDEATHSIG) must end it.
    const traced = spawn(
      "strace",
      ["-f", "-qq", "-o", "/dev/null", "-e", "trace=chdir", "-e", `inject=chdir:delay_enter=${(2 * HANG_GUARD_MS) / 1000}s`, REAPER, "--cwd", tmp, "--", "/bin/sh", "-c", `touch ${ran}`],
      { stdio: ["ignore", "ignore", "ignore", "pipe"] },
    );
    const straceDone = new Promise((resolve) => traced.once("exit", resolve));
    let child = 0;
    try {
      let reaper = 0;
      await waitUntil(
        () => {
          reaper = childrenOf(traced.pid as number)[0] ?? 0;
          child = reaper ? (childrenOf(reaper)[0] ?? 0) : 0;
          return child > 0 && procStatus(child, "State")?.startsWith("t") === true;
        },
        HANG_GUARD_MS,
        "the reaper to fork the server child, held before exec",
      );
      process.kill(reaper, "SIGKILL");
      // The reaper's death is complete (and the death signal sent) once its child is reparented.
      await waitUntil(() => !running(child) || procStat(child).ppid !== reaper, HANG_GUARD_MS, `server child ${child} to lose its reaper`);
    } finally {
      traced.kill("SIGKILL");
      await straceDone;
    }
    // Dead, not a zombie that ran: had it exec'd, touch would have written the file before exiting.
    await waitUntil(() => !running(child), HANG_GUARD_MS, `server child ${child} to be dead`);
    expect(fs.existsSync(ran)).toBe(false);
  });
});

// ---- the server sandbox ---------------------------------------------------------------------


describe("tsss-reaper: the server sandbox", () => {
  /** Outside /tmp, which the sandbox replaces; writable by the sandbox's user. */
  let box = "";
  let hostMarker = "";

  beforeAll(() => {
    box = fs.mkdtempSync("/var/tmp/tsss-sandbox-");
    fs.chmodSync(box, 0o777);
    hostMarker = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-host-marker-"));
  });
  afterAll(() => {
    spawnSync("umount", ["--lazy", path.join(box, "ro/sub")], { stdio: "ignore" });
    fs.rmSync(box, { recursive: true, force: true });
    fs.rmSync(hostMarker, { recursive: true, force: true });
  });

  /** Runs `script` as a sandboxed server that writes its findings to out and then waits. */
  async function probe(options: string[], script: string): Promise<{ out: string; server: number; reaper: number }> {
    const out = path.join(box, `out-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const reaper = await startServer(["--cwd", box, ...options], ["/bin/sh", "-c", `{ ${script}; } > ${out}.tmp 2>&1; mv ${out}.tmp ${out}; exec /bin/sleep 300`], undefined, WRAPPER);
    await waitUntil(() => fs.existsSync(out), HANG_GUARD_MS, "the probe's findings");
    return { out: fs.readFileSync(out, "utf8"), server: reaper.serverPid as number, reaper: reaper.pid };
  }

  it("sets no_new_privs on the server by default, not on the reaper, and not with --allow-new-privs", async () => {
    const on = await probe([], "grep NoNewPrivs /proc/self/status");
    expect(on.out).toBe("NoNewPrivs:\t1\n");
    expect(procStatus(on.server, "NoNewPrivs")).toBe("1");
    expect(procStatus(on.reaper, "NoNewPrivs")).toBe("0");
    const off = await probe(["--allow-new-privs"], "grep NoNewPrivs /proc/self/status");
    expect(off.out).toBe("NoNewPrivs:\t0\n");
  });

  it("without --private-tmp or --read-only creates no namespace at all", async () => {
    const plain = await probe([], "true");
    for (const ns of ["user", "mnt"]) expect(fs.readlinkSync(`/proc/${plain.server}/ns/${ns}`)).toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
  });

  it("maps only the user's own uid and gid, leaves the server no capability, and the reaper outside", async () => {
    const { out, server, reaper } = await probe(["--private-tmp"], "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; stat -c %u /etc/passwd; grep CapEff /proc/self/status");
    const lines = out.split("\n").map((line) => line.trim().split(/\s+/).join(" "));
    expect(lines.slice(0, 6)).toEqual([`${SANDBOX_UID} ${SANDBOX_UID} 1`, `${SANDBOX_UID} ${SANDBOX_UID} 1`, "deny", String(SANDBOX_UID), "65534", "CapEff: 0000000000000000"]);
    // Seen from outside: the same uid, namespaces of its own; the reaper stays in ours.
    expect(procStatus(server, "Uid")?.split(/\s+/)).toEqual(Array(4).fill(String(SANDBOX_UID)));
    for (const ns of ["user", "mnt"]) {
      expect(fs.readlinkSync(`/proc/${server}/ns/${ns}`)).not.toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
      expect(fs.readlinkSync(`/proc/${reaper}/ns/${ns}`)).toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
    }
  });

  it("with --private-tmp, shows the server an empty /tmp of its own, whose files never reach the host's", async () => {
    fs.writeFileSync(path.join(hostMarker, "secret"), "host\n");
    const name = `tsss-from-server-${process.pid}`;
    const { out, server, reaper } = await probe(
      ["--private-tmp"],
      [
        "ls -A /tmp | wc -l",
        `ls ${hostMarker} 2>&1 | head -1`,
        `echo inside > /tmp/${name} && echo wrote`,
        // Through the reaper, the server's parent, a process of the same uid outside the
        // sandbox: a child user namespace gets no access to its /proc/PID/root or cwd.
        `cat /proc/$PPID/root${hostMarker}/secret 2>&1 | head -1`,
        `cat /proc/$PPID/cwd${hostMarker}/secret 2>&1 | head -1`,
      ].join("; "),
    );
    expect(out.split("\n")).toEqual([
      "0",
      expect.stringMatching(/No such file or directory/),
      "wrote",
      expect.stringMatching(/Permission denied/),
      expect.stringMatching(/Permission denied/),
      "",
    ]);
    expect(fs.existsSync(`/tmp/${name}`)).toBe(false);
    if (IS_ROOT) expect(fs.readFileSync(`/proc/${server}/root/tmp/${name}`, "utf8")).toBe("inside\n");
    expect(procStat(reaper).ppid).toBe(process.pid);
  });

  it("with --read-only, makes writes fail (submounts too) and the sandbox cannot undo it", async () => {
    const ro = path.join(box, "ro");
    fs.mkdirSync(path.join(ro, "sub"), { recursive: true, mode: 0o777 });
    fs.chmodSync(ro, 0o777);
    fs.chmodSync(path.join(ro, "sub"), 0o777);
    if (IS_ROOT) {
      expect(spawnSync("mount", ["-t", "tmpfs", "-o", "mode=1777", "tsss-ro-sub", path.join(ro, "sub")]).status).toBe(0);
    }
    try {
      const { out } = await probe(
        ["--read-only", ro],
        [
          `(echo x > ${ro}/top) 2>&1 | sed 's/.*: //'`,
          `(echo x > ${ro}/sub/inner) 2>&1 | sed 's/.*: //'`,
          `touch ${box}/beside && echo beside-writable`,
          // A nested user + mount namespace has every capability in it, but the mounts it
          // inherited are locked: it can neither remount them writable nor unmount them.
          `unshare --user --map-root-user --mount sh -c 'mount -o remount,bind,rw ${ro} 2>/dev/null && echo remounted; umount ${ro} 2>/dev/null && echo unmounted; (echo x > ${ro}/top) 2>&1 | sed "s/.*: /nested: /"'`,
        ].join("; "),
      );
      expect(out).toBe(["Read-only file system", "Read-only file system", "beside-writable", "nested: Read-only file system", ""].join("\n"));
      expect(fs.existsSync(path.join(ro, "top"))).toBe(false);
      // Outside the sandbox the path stays writable.
      fs.writeFileSync(path.join(ro, "top"), "host\n");
    } finally {
      if (IS_ROOT) spawnSync("umount", [path.join(ro, "sub")]);
    }
  });

  it("keeps the sandboxed server signallable from outside, and still stops its leftovers", async () => {
    const kid = path.join(box, "sandboxed-kernel.pid");
    const reaper = await startServer(["--cwd", box, "--private-tmp"], ["/bin/sh", "-c", `setsid /bin/sleep 300 & echo $! > ${kid}; exec /bin/sleep 300`], undefined, WRAPPER);
    await waitForFile(kid);
    const kernel = readPid(kid);
    const server = reaper.serverPid as number;
    const fd = addon.pidfdOpen(server);
    try {
      expect(addon.pidfdSendSignal(fd, 0)).toBe(0);
      expect(addon.pidfdSendSignal(fd, 15)).toBe(0);
    } finally {
      addon.closeFd(fd);
    }
    expect(await reaper.status.next()).toBe("X 0 15");
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(running(kernel)).toBe(false);
  });

  it("kills a sandboxed server when its reaper is killed", async () => {
    const reaper = await startServer(["--cwd", box, "--private-tmp"], ["/bin/sleep", "300"], undefined, WRAPPER);
    const server = reaper.serverPid as number;
    expect(addon.kill(reaper.pid, 9)).toBe(0);
    expect(await waitForExit(reaper.pid)).toEqual({ code: null, signal: 9 });
    await waitUntil(() => !running(server), HANG_GUARD_MS, `server ${server} to die with its reaper`);
  });

  it("fails the start, naming the path, when a read-only path does not exist", () => {
    const missing = path.join(box, "missing");
    const { results, stderr } = runInChild(tmp, [{ options: ["--cwd", "/", "--read-only", missing], server: ["/bin/true"] }]);
    expect(results[0]).toEqual({ status: ["E 2 read-only"], exit: { code: 127, signal: null } });
    expect(stderr).toBe(`tsss-reaper: cannot make read-only: ${missing}\n`);
  });

  it("fails the start where user namespaces are not allowed", () => {
    // max_user_namespaces is per user namespace: 0 inside a fresh one forbids any nested one.
    const result = spawnSync(
      "unshare",
      ["--user", "--map-root-user", "sh", "-c", `echo 0 > /proc/sys/user/max_user_namespaces && exec ${REAPER} --cwd / --private-tmp -- /bin/true 3>&1`],
      { encoding: "utf8", timeout: HANG_GUARD_MS },
    );
    expect(result.stdout).toBe("E 28 userns\n"); // ENOSPC
    expect(result.stderr).toContain("tsss-reaper: cannot create a user and mount namespace");
    expect(result.status).toBe(127);
  });
});
