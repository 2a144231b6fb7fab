import { describe, expect, it } from "vitest";
import { readRequestBytes, type StdinReader } from "../../../src/mediator/stdin.js";

/** A reader that plays back a script of answers: bytes, or -errno (11 EAGAIN, 4 EINTR). */
function scripted(steps: Array<string | number>): StdinReader & { waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    readWithin: (_fd, _max, timeoutMs) => {
      waits.push(timeoutMs);
      const step = steps.shift();
      if (step === undefined) return Buffer.alloc(0);
      // poll(2) waits its whole timeout when nothing comes.
      if (step === -11) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, timeoutMs);
      return typeof step === "number" ? step : Buffer.from(step);
    },
    strerror: (errno) => `errno ${errno}`,
  };
}

describe("readRequestBytes", () => {
  it("collects chunks until the end, waiting in short slices through timeouts and signals", async () => {
    const reader = scripted(['{"action":', -11, -4, '"kill"}']);
    expect((await readRequestBytes(reader, 1024, 5000)).toString()).toBe('{"action":"kill"}');
    expect(Math.max(...reader.waits)).toBeLessThanOrEqual(100);
  });

  it("stops at the size limit and at the deadline, and names read errors", async () => {
    await expect(readRequestBytes(scripted(["x".repeat(600), "y".repeat(600)]), 1000)).rejects.toThrow("the request on stdin is larger than 1000 bytes");
    await expect(readRequestBytes(scripted(Array(1000).fill(-11)), 1000, 30)).rejects.toThrow(/no complete request on stdin after 0.03 s/);
    await expect(readRequestBytes(scripted([-9]), 1000)).rejects.toThrow("cannot read stdin: errno 9");
  });
});
