import { describe, expect, it } from "vitest";
import { MAX_STATUS_LINE, ReaperStatus, STATUS_SLICE_MS, type StatusSource } from "../../../../src/mediator/spawn/reaper-status.js";

type Step = string | number | (() => string | number);

/**
 * A status pipe that plays back a script: bytes, or -errno (11 EAGAIN: nothing within the wait,
 * which advances the fake clock by the whole wait; 4 EINTR; 9 EBADF). After the script: EAGAIN.
 */
function scripted(steps: Step[]): { source: StatusSource; clock: () => number; waits: number[] } {
  let now = 0;
  const waits: number[] = [];
  const source: StatusSource = {
    readWithin: (_fd, _max, timeoutMs) => {
      waits.push(timeoutMs);
      const next = steps.shift() ?? -11;
      const step = typeof next === "function" ? next() : next;
      if (step === -11) now += timeoutMs;
      return typeof step === "number" ? step : Buffer.from(step);
    },
  };
  return { source, clock: () => now, waits };
}

function reader(steps: Step[]) {
  const script = scripted(steps);
  return { status: new ReaperStatus(script.source, 5, script.clock), ...script };
}

describe("ReaperStatus", () => {
  it("keeps every line of a read: an exit right after the start is not lost", async () => {
    const { status } = reader(["P 123\nX 0 9\n", ""]);
    expect(await status.next(1000)).toEqual({ kind: "started", pid: 123 });
    expect(await status.next(1000)).toEqual({ kind: "exited", code: 0, signal: 9 });
    expect(await status.next(1000)).toEqual({ kind: "eof" });
  });

  it("joins a line that arrives in pieces", async () => {
    const { status } = reader(["P 12", -11, "3\nE 2 ex", "ec\n"]);
    expect(await status.next(1000)).toEqual({ kind: "started", pid: 123 });
    expect(await status.next(1000)).toEqual({ kind: "failed", errno: 2, stage: "exec" });
  });

  it("times out at its own deadline, waiting in short slices", async () => {
    const { status, clock, waits } = reader([]);
    expect(await status.next(1000)).toEqual({ kind: "timeout" });
    expect(clock()).toBe(1000);
    expect(Math.max(...waits)).toBe(STATUS_SLICE_MS);
    // The next wait has a deadline of its own.
    expect(await status.next(30)).toEqual({ kind: "timeout" });
    expect(clock()).toBe(1030);
  });

  it("is interrupted as soon as the signal's handler has run (it runs between slices)", async () => {
    const controller = new AbortController();
    // The handler runs on the event loop, as SIGTERM's does; poll(2) itself returns EINTR.
    const { status, clock } = reader([
      () => {
        setImmediate(() => controller.abort("SIGTERM"));
        return -4;
      },
    ]);
    expect(await status.next(10_000, controller.signal)).toEqual({ kind: "interrupted" });
    expect(clock()).toBe(0);
    // Aborted before the wait: nothing is read.
    const { status: again, waits } = reader(["X 1 0\n"]);
    expect(await again.next(1000, controller.signal)).toEqual({ kind: "interrupted" });
    expect(waits).toEqual([]);
  });

  it("reports the end, a broken pipe and what is not the reaper's", async () => {
    expect(await reader([""]).status.next(1000)).toEqual({ kind: "eof" });
    expect(await reader([-9]).status.next(1000)).toEqual({ kind: "eof" });
    const unfinished = reader(["P 12", ""]).status;
    expect(await unfinished.next(1000)).toEqual({ kind: "garbage", line: "P 12" });
    expect(await unfinished.next(1000)).toEqual({ kind: "eof" });
    expect(await reader(["hello\n"]).status.next(1000)).toEqual({ kind: "garbage", line: "hello" });
    const endless = reader(["x".repeat(MAX_STATUS_LINE), "y".repeat(10)]).status;
    expect(await endless.next(1000)).toEqual({ kind: "garbage", line: "x".repeat(200) });
  });
});
