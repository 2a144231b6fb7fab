/**
 * The native addon and tsss-reaper as the process tests drive them, straight from build/Release
 * (build first: npm run build:native): a status-pipe reader, reapers started and always cleaned
 * up, /proc readers, and a child node process whose stderr the test controls.
 */
import { spawnSync, type StdioOptions } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, expect } from "vitest";

import type { ExitReport as ExitInfo, NativeAddon } from "../../src/mediator/native.js";
import { parseReaperLine, splitLines } from "../../src/mediator/spawn/reaper-lines.js";
import { HANG_GUARD_MS } from "./deadlines.js";

export type { ExitInfo };

const root = path.resolve(import.meta.dirname, "../..");
export const ADDON_PATH = path.join(root, "build/Release/tsss_native.node");
/** TSSS_TEST_REAPER: another reaper build to run the same tests against (e.g. an older one, to see them fail). */
export const REAPER = process.env.TSSS_TEST_REAPER ?? path.join(root, "build/Release/tsss-reaper");
export const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;

export const SERVER_ENV = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY="];

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- status pipe -----------------------------------------------------------

/** Line reader for a reaper's status pipe. */
export class StatusReader {
  private readonly socket: net.Socket;
  private readonly lines: string[] = [];
  private partial = "";
  private ended = false;
  private wake: (() => void) | undefined;
  /** Set once an "X" line arrived: the server is gone and its pid may be reused. */
  serverExited = false;

  constructor(fd: number) {
    this.socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket.setEncoding("utf8");
    this.socket.on("data", (chunk: string) => {
      const { lines, rest } = splitLines(this.partial + chunk);
      this.partial = rest;
      for (const line of lines) if (parseReaperLine(line)?.kind === "exited") this.serverExited = true;
      this.lines.push(...lines);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    this.socket.on("end", end);
    this.socket.on("error", end);
  }

  /** The next line, or null at EOF. */
  async next(timeoutMs = HANG_GUARD_MS): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0 && !this.ended) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error("timed out waiting for a status line");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.lines.shift() ?? null;
  }

  /** All remaining lines up to EOF. */
  async rest(timeoutMs = HANG_GUARD_MS): Promise<string[]> {
    const lines: string[] = [];
    for (let line = await this.next(timeoutMs); line !== null; line = await this.next(timeoutMs)) lines.push(line);
    return lines;
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- starting and cleaning up reapers ---------------------------------------

export interface Reaper {
  pid: number;
  status: StatusReader;
  serverPid?: number;
}

export async function waitForExit(pid: number, timeoutMs = HANG_GUARD_MS): Promise<ExitInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = addon.reap(pid);
    if (exit !== null) return exit;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit`);
    await sleep(10);
  }
}

export interface Reapers {
  /** A fresh directory (realpath), removed after the file's tests. */
  tmp(): string;
  /** `wrapper`: a command that execs the reaper (e.g. setpriv to drop to another uid); its pid is the reaper's. */
  spawnReaper(options: string[], server: string[], env?: string[], reaperPath?: string, wrapper?: string[]): Reaper;
  /** Spawns a reaper and waits for its "P <pid>" line. */
  startServer(options: string[], server: string[], env?: string[], wrapper?: string[]): Promise<Reaper>;
}

/**
 * Registers the hooks of a test file that starts reapers: after each test the server is killed
 * (never by a possibly reused pid) and its reaper reaped; the temporary directory goes at the end.
 */
export function useReapers(): Reapers {
  const started: Reaper[] = [];
  let dir = "";

  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "tsss-")));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const reaper of started.splice(0)) {
      if (reaper.serverPid !== undefined && !reaper.status.serverExited) addon.kill(reaper.serverPid, 9);
      try {
        await waitForExit(reaper.pid, 5000);
      } catch {
        addon.kill(reaper.pid, 9);
        await waitForExit(reaper.pid);
      }
      reaper.status.close();
    }
  });

  const spawnReaper = (options: string[], server: string[], env = SERVER_ENV, reaperPath = REAPER, wrapper: string[] = []): Reaper => {
    const argv = wrapper.length > 0 ? [...wrapper, reaperPath] : ["tsss-reaper"];
    const { pid, statusFd } = addon.spawnReaper(wrapper[0] ?? reaperPath, [...argv, ...options, "--", ...server], env);
    const reaper: Reaper = { pid, status: new StatusReader(statusFd) };
    started.push(reaper);
    return reaper;
  };
  return {
    tmp: () => dir,
    spawnReaper,
    async startServer(options, server, env = SERVER_ENV, wrapper = []) {
      const reaper = spawnReaper(options, server, env, REAPER, wrapper);
      const line = await reaper.status.next();
      expect(line).toMatch(/^P \d+$/);
      reaper.serverPid = Number(line?.slice(2));
      return reaper;
    },
  };
}

// ---- /proc ----------------------------------------------------------------

export function procStat(pid: number) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "pid (comm) ", counted from field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const numbers = fields.map(Number);
  return { state: fields[0], ppid: numbers[1], pgrp: numbers[2], session: numbers[3], nice: numbers[16] };
}

export function procStatus(pid: number, key: string): string | undefined {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${key}:`));
  return line?.slice(key.length + 1).trim();
}

/** Pids whose parent is `pid`, from a scan of /proc. */
export function childrenOf(pid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((child) => {
      try {
        return procStat(child).ppid === pid;
      } catch {
        return false;
      }
    });
}

/** Alive and not a zombie. */
export function running(pid: number): boolean {
  try {
    return procStat(pid).state !== "Z";
  } catch {
    return false;
  }
}

export function procFds(pid: number): number[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
}

export function procEnviron(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").slice(0, -1);
}

/** "Max open files" -> ["64", "128"] */
export function procLimits(pid: number): Map<string, [string, string]> {
  const limits = new Map<string, [string, string]>();
  for (const line of fs.readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").slice(1)) {
    const match = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (match?.[1] && match[2] && match[3]) limits.set(match[1], [match[2], match[3]]);
  }
  return limits;
}

/** Our own hard limit as a --rlimit value: a number or "unlimited". */
export function hardLimitArg(name: string): string {
  return procLimits(process.pid).get(name)?.[1] ?? "unlimited";
}

/**
 * "P" arrives as soon as execve succeeded, while the server's dynamic loader
 * and locale setup still open files. A server that stops itself is done with
 * all of that once it shows as stopped.
 */
export const SELF_STOPPING_SERVER = ["/bin/sh", "-c", "kill -STOP $$"];

export async function waitUntilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + HANG_GUARD_MS;
  while (!procStatus(pid, "State")?.startsWith("T")) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop`);
    await sleep(10);
  }
}

export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---- a child node process, to capture what the reaper writes to its stderr --

export interface Job {
  options: string[];
  server: string[];
  env?: string[];
}

export interface JobResult {
  status: string[];
  exit: ExitInfo;
}

const CHILD_SCRIPT = `
const fs = require("fs");
const [addonPath, reaperPath, jobsJson] = process.argv.slice(2);
const addon = require(addonPath);
const pause = new Int32Array(new SharedArrayBuffer(4));
const results = [];
for (const job of JSON.parse(jobsJson)) {
  const argv = ["tsss-reaper", ...job.options, "--", ...job.server];
  const { pid, statusFd } = addon.spawnReaper(reaperPath, argv, job.env);
  const buf = Buffer.alloc(256);
  let text = "";
  for (let n; (n = fs.readSync(statusFd, buf)) > 0; ) text += buf.toString("utf8", 0, n);
  fs.closeSync(statusFd);
  let exit;
  while ((exit = addon.reap(pid)) === null) Atomics.wait(pause, 0, 0, 10);
  results.push({ status: text.split("\\n").filter(Boolean), exit });
}
process.stdout.write(JSON.stringify(results));
`;

/**
 * Runs reapers (to completion, one after the other) in a child node process. Its stderr is
 * captured, or is `stderr` (an fd) when given, e.g. a pipe nobody reads.
 */
export function runInChild(dir: string, jobs: Job[], stderr?: number, timeoutMs = 20_000): { results: JobResult[]; stderr: string } {
  const script = path.join(dir, "child.cjs");
  fs.writeFileSync(script, CHILD_SCRIPT);
  const full = jobs.map((job) => ({ env: SERVER_ENV, ...job }));
  const stdio: StdioOptions = ["ignore", "pipe", stderr ?? "pipe"];
  const child = spawnSync(process.execPath, [script, ADDON_PATH, REAPER, JSON.stringify(full)], {
    encoding: "utf8",
    stdio,
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  expect(child.status, `${child.stderr ?? ""} ${child.error?.message ?? ""}`).toBe(0);
  return { results: JSON.parse(child.stdout) as JobResult[], stderr: child.stderr ?? "" };
}
