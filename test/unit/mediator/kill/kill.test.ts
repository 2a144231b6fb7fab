import os from "node:os";
import { describe, expect, it } from "vitest";
import { killServer } from "../../../../src/mediator/kill/kill.js";
import type { Logger } from "../../../../src/mediator/logger.js";
import type { NativeAddon } from "../../../../src/mediator/native.js";
import { environMarksPid, statFields, type Ownership } from "../../../../src/mediator/kill/ownership.js";

const { ESRCH, EPERM, EINVAL, EMFILE, ENOENT, ENOSYS } = os.constants.errno;

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

type Call = ["kill", number, number] | ["open", number] | ["send", number, number] | ["close", number];

const FD = 17;

/**
 * A fake addon: `opened` is what pidfdOpen returns (FD, or minus an errno), `results` the errnos
 * of the signal calls in turn (kill or pidfd_send_signal).
 */
function fakeAddon(results: number[], opened = FD): { addon: NativeAddon; calls: Call[] } {
  const calls: Call[] = [];
  const addon: NativeAddon = {
    spawnReaper: () => {
      throw new Error("not used");
    },
    readWithin: () => {
      throw new Error("not used");
    },
    groupList: () => {
      throw new Error("not used");
    },
    kill: (pid, sig) => {
      calls.push(["kill", pid, sig]);
      return results.shift() ?? 0;
    },
    pidfdOpen: (pid) => {
      calls.push(["open", pid]);
      return opened;
    },
    pidfdSendSignal: (fd, sig) => {
      calls.push(["send", fd, sig]);
      return results.shift() ?? 0;
    },
    closeFd: (fd) => {
      calls.push(["close", fd]);
      return 0;
    },
    setNonDumpable: () => 0,
    reap: () => null,
    strerror: (errno) => `strerror(${errno})`,
  };
  return { addon, calls };
}

function kill(results: number[], owner: Ownership, signal = 15, opened = FD) {
  const { addon, calls } = fakeAddon(results, opened);
  const { lines, logger } = recorder();
  const checkedAfter: number[] = [];
  const alive = killServer(4242, signal, {
    addon,
    logger,
    ownership: () => {
      checkedAfter.push(calls.length);
      return owner;
    },
  });
  return { alive, calls, lines, checkedAfter };
}

describe("killServer through a pidfd", () => {
  it("pins the process, checks it, confirms it still lives, then signals that very process", () => {
    const result = kill([0, 0, 0], "ours");
    expect(result.alive).toBe(true);
    expect(result.calls).toEqual([["open", 4242], ["send", FD, 0], ["send", FD, 0], ["send", FD, 15], ["close", FD]]);
    // The ownership check lies between the first probe and the confirmation.
    expect(result.checkedAfter).toEqual([2]);
  });

  it("answers signal 0 with the probe and the confirmation", () => {
    expect(kill([0, 0], "ours", 0)).toMatchObject({ alive: true, calls: [["open", 4242], ["send", FD, 0], ["send", FD, 0], ["close", FD]] });
  });

  it("sends nothing when the checked process died before the confirmation (its pid may now be another's)", () => {
    const result = kill([0, ESRCH], "ours");
    expect(result.alive).toBe(false);
    expect(result.calls).toEqual([["open", 4242], ["send", FD, 0], ["send", FD, 0], ["close", FD]]);
  });

  it("reports a missing process as gone, without a pidfd to close", () => {
    expect(kill([], "ours", 15, -ESRCH)).toMatchObject({ alive: false, calls: [["open", 4242]] });
    expect(kill([], "ours", 15, -EINVAL)).toMatchObject({ alive: false, calls: [["open", 4242]] });
    // A thread's id, not a process's: ENOENT since Linux 6.9 (the fuzz suite met one: a pid of 63).
    expect(kill([], "ours", 15, -ENOENT)).toMatchObject({ alive: false, calls: [["open", 4242]] });
  });

  it("refuses to guess when pidfd_open fails otherwise", () => {
    const { addon } = fakeAddon([], -EMFILE);
    const { logger } = recorder();
    expect(() => killServer(4242, 15, { addon, logger, ownership: () => "ours" })).toThrow(
      `pidfd_open(4242) failed: strerror(${EMFILE}) (errno ${EMFILE}); nothing was signalled`,
    );
  });

  it("reports EPERM as gone with an error line", () => {
    const result = kill([EPERM], "ours");
    expect(result.alive).toBe(false);
    expect(result.lines).toEqual([expect.stringMatching(/^E permission denied sending signal 15 to pid 4242: it belongs to another user/)]);
    expect(result.calls.at(-1)).toEqual(["close", FD]);
  });

  it("never signals a process that is not ours, and closes the pidfd", () => {
    const result = kill([0], "not-ours");
    expect(result).toMatchObject({ alive: false, calls: [["open", 4242], ["send", FD, 0], ["close", FD]] });
    expect(result.lines).toEqual([expect.stringMatching(/^W pid 4242 is not a server started by ts-sudospawner \(the pid was reused\); leaving it alone/)]);
  });

  it("names an orphaned Python-started server, not a reused pid, and reports why for the answer", () => {
    const { addon } = fakeAddon([0]);
    const { lines, logger } = recorder();
    const report: { unowned?: "orphaned-python-server" } = {};
    expect(killServer(4242, 15, { addon, logger, ownership: () => "not-ours", unowned: () => "orphaned-python-server", report })).toBe(false);
    expect(report.unowned).toBe("orphaned-python-server");
    expect(lines).toEqual([expect.stringMatching(/^E pid 4242 .*no ownership mark .*no Python sudospawner fork.*add "adopt" to the site policy/)]);
    expect(lines.join("")).not.toMatch(/reused/);
  });

  it("reports a process that vanished during the check as gone", () => {
    expect(kill([0], "gone")).toMatchObject({ alive: false, calls: [["open", 4242], ["send", FD, 0], ["close", FD]] });
  });

  it("treats other errors as gone, logging strerror", () => {
    const result = kill([0, 0, EINVAL], "ours");
    expect(result.alive).toBe(false);
    expect(result.lines.at(-1)).toBe(`E sending signal 15 to pid 4242 failed: strerror(${EINVAL}); treating the server as gone`);
  });

  it("closes the pidfd even when the ownership check throws", () => {
    const { addon, calls } = fakeAddon([0]);
    const { logger } = recorder();
    const ownership = (): Ownership => {
      throw new Error("boom");
    };
    expect(() => killServer(4242, 15, { addon, logger, ownership })).toThrow("boom");
    expect(calls.at(-1)).toEqual(["close", FD]);
  });
});

describe("killServer without pidfds (Linux < 5.3)", () => {
  it("says so, then checks and signals by pid", () => {
    const result = kill([0, 0], "ours", 15, -ENOSYS);
    expect(result.alive).toBe(true);
    expect(result.calls).toEqual([["open", 4242], ["kill", 4242, 0], ["kill", 4242, 15]]);
    expect(result.lines[0]).toMatch(/^W pidfd_open is not available on this kernel \(Linux < 5\.3\): checking pid 4242 and signalling it with kill\(2\) instead/);
  });

  it("still never signals a process that is not ours", () => {
    const result = kill([0], "not-ours", 9, -ENOSYS);
    expect(result).toMatchObject({ alive: false, calls: [["open", 4242], ["kill", 4242, 0]] });
  });

  it("reports a missing process as gone", () => {
    expect(kill([ESRCH], "ours", 15, -ENOSYS)).toMatchObject({ alive: false, calls: [["open", 4242], ["kill", 4242, 0]] });
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
