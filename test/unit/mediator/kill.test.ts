import os from "node:os";
import { describe, expect, it } from "vitest";
import { killServer } from "../../../src/mediator/kill.js";
import type { Logger } from "../../../src/mediator/logger.js";
import type { NativeAddon } from "../../../src/mediator/native.js";
import { environMarksPid, statFields, type Ownership } from "../../../src/mediator/ownership.js";

const { ESRCH, EPERM, EINVAL } = os.constants.errno;

function recorder() {
  const lines: string[] = [];
  const logger: Logger = {
    debug: (m) => lines.push(`D ${m}`),
    info: (m) => lines.push(`I ${m}`),
    warn: (m) => lines.push(`W ${m}`),
    error: (m) => lines.push(`E ${m}`),
  };
  return { lines, logger };
}

function fakeAddon(results: number[]): { addon: NativeAddon; calls: Array<[number, number]> } {
  const calls: Array<[number, number]> = [];
  const addon: NativeAddon = {
    spawnReaper: () => {
      throw new Error("not used");
    },
    kill: (pid, sig) => {
      calls.push([pid, sig]);
      return results.shift() ?? 0;
    },
    reap: () => null,
    strerror: (errno) => `strerror(${errno})`,
  };
  return { addon, calls };
}

function kill(results: number[], owner: Ownership, signal = 15) {
  const { addon, calls } = fakeAddon(results);
  const { lines, logger } = recorder();
  const alive = killServer(4242, signal, { addon, logger, ownership: () => owner });
  return { alive, calls, lines };
}

describe("killServer", () => {
  it("signals our live server and reports it alive", () => {
    expect(kill([0, 0], "ours")).toMatchObject({ alive: true, calls: [[4242, 0], [4242, 15]] });
  });

  it("answers signal 0 with one probe", () => {
    expect(kill([0], "ours", 0)).toMatchObject({ alive: true, calls: [[4242, 0]] });
  });

  it("reports a missing process as gone", () => {
    expect(kill([ESRCH], "ours")).toMatchObject({ alive: false, calls: [[4242, 0]] });
  });

  it("reports EPERM as gone with an error line", () => {
    const result = kill([EPERM], "ours");
    expect(result.alive).toBe(false);
    expect(result.lines).toEqual([expect.stringMatching(/^E permission denied sending signal 15 to pid 4242: it belongs to another user/)]);
  });

  it("never signals a process that is not ours", () => {
    const result = kill([0], "not-ours");
    expect(result).toMatchObject({ alive: false, calls: [[4242, 0]] });
    expect(result.lines).toEqual([expect.stringMatching(/^W pid 4242 is not a server started by ts-sudospawner \(the pid was reused\); leaving it alone/)]);
  });

  it("reports a process that vanished during the check as gone", () => {
    expect(kill([0], "gone")).toMatchObject({ alive: false, calls: [[4242, 0]] });
  });

  it("treats other errors as gone, logging strerror", () => {
    const result = kill([0, EINVAL], "ours");
    expect(result.alive).toBe(false);
    expect(result.lines.at(-1)).toBe(`E kill(4242, 15) failed: strerror(${EINVAL}); treating the server as gone`);
  });
});

describe("ownership parsing", () => {
  it("finds the mark for exactly this pid", () => {
    const environ = Buffer.from("PATH=/bin\0TS_SUDOSPAWNER_PID=4242\0HOME=/h\0");
    expect(environMarksPid(environ, 4242)).toBe(true);
    expect(environMarksPid(environ, 424)).toBe(false);
    expect(environMarksPid(Buffer.from("TS_SUDOSPAWNER_PID=42420\0"), 4242)).toBe(false);
    expect(environMarksPid(Buffer.from("X_TS_SUDOSPAWNER_PID=4242\0"), 4242)).toBe(false);
  });

  it("reads the parent pid and session even from odd command names", () => {
    expect(statFields("4242 (tsss-reaper) S 4200 4242 4243 0 -1")).toEqual({ ppid: 4200, session: 4243 });
    expect(statFields("4242 (a) b) (c) S 77 4242 4242 0 -1")).toEqual({ ppid: 77, session: 4242 });
    expect(statFields("4242 (x) S 77")).toBeUndefined();
  });
});
