/**
 * The server log on a disk that fills up and frees again, for real: a small tmpfs holds the log
 * of a server that writes all the time. When the disk is full the hub is told once; when space
 * comes back the log resumes, with one line saying how many bytes are missing, and that count is
 * exactly what the hub's copy of the output has and the file lacks. A start whose log cannot take
 * one byte (the disk already full) is refused, and nothing runs.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { spawnRequestWith } from "../../helpers/mediator-calls.js";
import { freePort } from "../../helpers/ports.js";
import { killRequest } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { collectMediator, killUserProcesses, liveProcesses, procState, run, runMediatorAs, userInfo, waitFor, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const skip = skipWithout("server log on a full disk (test/integration/spawn/server-log-full.test.ts)", fx.reason);

/** A server that writes a numbered line every 10 ms until it is stopped. */
const CHATTY = `#!/bin/sh
i=0
while :; do
  i=$((i + 1))
  echo "chatty line $i ................................................................"
  sleep 0.01
done
`;
const CHATTY_LINE = /^chatty line \d+ \.+$/;
const MARK = /^\[W tsss-reaper\] (\d+) bytes of server output are missing here \(No space left on device\)$/m;

describe.skipIf(skip)("the server log when its disk fills up", () => {
  const policy = new SitePolicyGuard();
  let alice: TestUser;
  let dir: string;
  let disk: string;

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-logfull-"));
    fs.chmodSync(dir, 0o755);
    disk = path.join(dir, "disk");
    fs.mkdirSync(disk);
    const mounted = run("mount", ["-t", "tmpfs", "-o", "size=256k,mode=1777", "tsss-logfull", disk]);
    expect(mounted.status, mounted.stderr).toBe(0);
    fs.writeFileSync(path.join(dir, "chatty"), CHATTY, { mode: 0o755 });
    policy.write({ serverLog: `${disk}/{user}.log`, profiles: { chatty: { executable: path.join(dir, "chatty") } } });
  });

  afterAll(() => {
    killUserProcesses(alice.name);
    policy.restore();
    run("umount", ["-l", disk]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The server-log row of `ts-sudospawner check`, run as root for alice. */
  function serverLogRow(): { status: string; detail: string; fix: string } {
    const ran = run(fx.mediator, ["check", "--hub-user", fx.hub, "--user", alice.name, "--json"]);
    const report = JSON.parse(ran.stdout) as { rows: { id: string; status: string; detail: string; fix: string }[] };
    const row = report.rows.find((r) => r.id === "server-log-dir");
    expect(row, ran.stderr).toBeDefined();
    return row as { status: string; detail: string; fix: string };
  }

  it("tells the hub once, resumes when space is back, and marks exactly the bytes that are missing", async () => {
    const log = path.join(disk, `${alice.name}.log`);
    const filler = path.join(disk, "filler");
    // The hub's stderr is a file here, so that it is kept whole after the mediator has answered.
    const hubStderr = path.join(dir, "hub-stderr");
    const fd = fs.openSync(hubStderr, "w");
    const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", fd] });
    fs.closeSync(fd);
    const started = await collectMediator(child, spawnRequestWith(await freePort(), { profile: "chatty" }));
    expect(started.answer, fs.readFileSync(hubStderr, "utf8")).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = started.answer?.pid as number;
    const hub = () => fs.readFileSync(hubStderr, "utf8");
    await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("chatty line 5 "), 10_000, "the server's output in its log");

    // Fill the disk (root may use all of a tmpfs too).
    try {
      fs.writeFileSync(filler, Buffer.alloc(1024 * 1024));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    }
    const warning = `[W tsss-reaper] cannot write the server log ${log}: No space left on device; the server's output goes on in the hub's log only, until the file can be written again`;
    await waitFor(() => hub().includes(warning), 20_000, "the hub to be told that the log cannot be written");
    const atFull = fs.readFileSync(log, "utf8").length;
    // `check` sees the full filesystem before anything is lost for good.
    expect(serverLogRow().detail).toMatch(new RegExp(`the filesystem holding ${log} has \\d+ bytes free: the reaper cannot write`));
    // The server goes on writing for a while into the full disk: that output is missing.
    await waitFor(() => hub().split("\n").filter((line) => CHATTY_LINE.test(line)).length > atFull / 80 + 20, 10_000, "more output while the disk is full");
    expect(fs.readFileSync(log, "utf8").length).toBe(atFull);

    fs.rmSync(filler);
    await waitFor(() => MARK.test(fs.readFileSync(log, "utf8")), 10_000, "the log to resume with a mark");
    await waitFor(() => hub().includes("[I tsss-reaper] the server log is written again: "), 5_000, "the hub to be told the log is written again");

    // And after it resumed, `check` reads the loss and its cause from the log's tail.
    const resumed = serverLogRow();
    expect(resumed.status).toBe("warn");
    expect(resumed.detail).toMatch(/the log's tail records that \d+ bytes of server output could not be written \(No space left on device\); the hub's log has them/);
    expect(resumed.detail).not.toContain("bytes free");
    expect(resumed.fix).toContain(`df -h ${disk}`);

    const stopped = await runMediatorAs(fx.hub, alice.name, fx.mediator, killRequest(pid, 15), ["--logging=info"]);
    expect(stopped.answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined, 10_000, "the server to be gone");
    await waitFor(() => hub().includes(`[I tsss-reaper] server pid ${pid} was killed by signal 15`), 10_000, "the reaper's exit line");

    // The hub's copy is whole: the server's lines, in order, between the mediator's and the reaper's own lines.
    const hubLines = hub().split("\n").filter((line) => !line.startsWith("["));
    const output = `${hubLines.filter((line) => line !== "").join("\n")}\n`;
    expect(hubLines.filter((line) => line !== "").every((line) => CHATTY_LINE.test(line))).toBe(true);
    expect(hub().match(/cannot write the server log/g)).toHaveLength(1);

    const text = fs.readFileSync(log, "utf8");
    const mark = MARK.exec(text);
    expect(text.match(new RegExp(MARK.source, "gm"))).toHaveLength(1);
    const missing = Number(mark?.[1]);
    expect(missing).toBeGreaterThan(0);
    let before = text.slice(0, mark?.index);
    const after = text.slice((mark?.index ?? 0) + (mark?.[0].length ?? 0) + 1);
    // A line cut by the full disk is ended before the mark, so the mark stands on a line of its own.
    const cut = !output.startsWith(before);
    if (cut) before = before.slice(0, -1);
    expect(output.startsWith(before)).toBe(true);
    expect(cut).toBe(!before.endsWith("\n"));
    expect(output.slice(before.length + missing)).toBe(after);
    expect(after.split("\n").filter((line) => line !== "").every((line) => CHATTY_LINE.test(line))).toBe(true);
  });

  it("refuses a start whose log cannot be written (the disk is already full): the error names df, and nothing runs", async () => {
    const log = path.join(disk, `${alice.name}.log`);
    const filler = path.join(disk, "filler");
    fs.rmSync(log, { force: true });
    try {
      fs.writeFileSync(filler, Buffer.alloc(1024 * 1024));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    }
    try {
      const refused = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequestWith(await freePort(), { profile: "chatty" }), ["--logging=info"]);
      expect(refused.answer).toEqual({
        ok: false,
        error: `could not open the server log file ${log}: No space left on device (errno 28); its filesystem is full, so the server's output could not be kept: free space (\`df -h ${disk}\`), or change "serverLog" in the site policy`,
      });
      expect(refused.status).not.toBe(0);
      expect(liveProcesses(alice.name)).toEqual([]);
      // The file the check made is empty: nothing was written to it.
      expect(fs.statSync(log).size).toBe(0);
    } finally {
      fs.rmSync(filler, { force: true });
    }
    // With space again the same start works.
    const started = await runMediatorAs(fx.hub, alice.name, fx.mediator, spawnRequestWith(await freePort(), { profile: "chatty" }), ["--logging=info"]);
    expect(started.answer, started.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const pid = started.answer?.pid as number;
    await waitFor(() => fs.readFileSync(log, "utf8").includes("chatty line 3 "), 10_000, "the server's output in its log");
    expect((await runMediatorAs(fx.hub, alice.name, fx.mediator, killRequest(pid, 15), ["--logging=info"])).answer).toEqual({ ok: true, alive: true });
    await waitFor(() => procState(pid) === undefined, 10_000, "the server to be gone");
  });
});
