/**
 * The reaper's commit pipe (--commit-fd), driven through the addon without root: a server stays
 * provisional until one byte arrives; EOF without it stops the server and everything it started,
 * including a process that left its session and was reparented to the reaper.
 */
import fs from "node:fs";
import { closeSync, writeSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REAPER, SERVER_ENV, StatusReader, addon, childrenOf, running, sleep, useReapers, waitForExit } from "../helpers/reaper.js";
import { HANG_GUARD_MS } from "../helpers/deadlines.js";

const reapers = useReapers();
/** Processes a failed test may leave: killed after each test (the reapers first, so nothing is restarted). */
const leftovers: number[] = [];

afterEach(() => {
  for (const pid of leftovers.splice(0)) if (running(pid)) addon.kill(pid, 9);
});

/** A server that starts a process of its own in a new session (double fork: it ends up the reaper's child). */
function serverWithEscapee(pidFile: string): string[] {
  return ["/bin/sh", "-c", `(setsid sh -c 'echo $$ > ${pidFile}; exec sleep 300' &); exec sleep 300`];
}

async function startWithCommit(options: string[], server: string[]) {
  const argv = ["tsss-reaper", "--commit-fd", "4", "--leftover-grace-ms", "300", ...options, "--", ...server];
  const { pid, statusFd, commitFd } = addon.spawnReaper(REAPER, argv, SERVER_ENV, true);
  const status = new StatusReader(statusFd);
  leftovers.push(pid);
  const first = await status.next();
  expect(first).toMatch(/^P \d+$/);
  return { pid, status, commitFd, serverPid: Number(first?.slice(2)) };
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + HANG_GUARD_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function escapeePid(file: string): Promise<number> {
  await waitUntil(() => fs.existsSync(file) && fs.readFileSync(file, "utf8").endsWith("\n"), "the escapee's pid file");
  const pid = Number(fs.readFileSync(file, "utf8").trim());
  leftovers.push(pid);
  return pid;
}

describe("the reaper's commit pipe", () => {
  it("stops the server and what it started when the pipe closes without the commit byte", async () => {
    const file = path.join(reapers.tmp(), "escapee-uncommitted");
    const reaper = await startWithCommit(["--cwd", reapers.tmp()], serverWithEscapee(file));
    const escapee = await escapeePid(file);
    await waitUntil(() => childrenOf(reaper.pid).includes(escapee), "the escapee to be reparented to the reaper");
    closeSync(reaper.commitFd);
    expect(await reaper.status.next()).toBe("X 0 15");
    const exit = await waitForExit(reaper.pid);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running(reaper.serverPid)).toBe(false);
    expect(running(escapee)).toBe(false);
    reaper.status.close();
  });

  it("keeps a committed server running, and stops it as usual afterwards", async () => {
    const file = path.join(reapers.tmp(), "escapee-committed");
    const reaper = await startWithCommit(["--cwd", reapers.tmp()], serverWithEscapee(file));
    const escapee = await escapeePid(file);
    expect(writeSync(reaper.commitFd, "C")).toBe(1);
    closeSync(reaper.commitFd);
    await sleep(600); // longer than the leftover grace: an uncommitted server would be gone by now
    expect(running(reaper.serverPid)).toBe(true);
    expect(running(escapee)).toBe(true);
    addon.kill(reaper.serverPid, 15);
    expect(await reaper.status.next()).toBe("X 0 15");
    expect(await waitForExit(reaper.pid)).toEqual({ code: 0, signal: null });
    expect(running(escapee)).toBe(false);
    reaper.status.close();
  });

  it("refuses --commit-fd naming a closed fd, and works without it as before", async () => {
    const closed = reapers.spawnReaper(["--cwd", reapers.tmp(), "--commit-fd", "4"], ["/bin/true"]);
    expect(await closed.status.next()).toBe(`E 22 usage`);
    const plain = await reapers.startServer(["--cwd", reapers.tmp()], ["/bin/sleep", "1"]);
    await sleep(300);
    expect(running(plain.serverPid as number)).toBe(true);
  });
});
