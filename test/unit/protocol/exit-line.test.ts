import { describe, expect, it } from "vitest";
import { parseExitLine } from "../../../src/protocol/index.js";

describe("parseExitLine (the reaper's last line on the relayed stderr)", () => {
  it("reads an exit code, and a signal as its negative", () => {
    expect(parseExitLine("[I tsss-reaper] server pid 4242 exited with status 3")).toEqual({ pid: 4242, status: 3 });
    expect(parseExitLine("[I tsss-reaper] server pid 4242 was killed by signal 9\n")).toEqual({ pid: 4242, status: -9 });
  });

  it("ignores anything else, including look-alikes inside other lines", () => {
    expect(parseExitLine("[I 2026-11-30 ts-sudospawner] server pid 4242 exited with status 3")).toBeUndefined();
    expect(parseExitLine("x [I tsss-reaper] server pid 4242 exited with status 3")).toBeUndefined();
    expect(parseExitLine("[I tsss-reaper] server pid 4242 exited with status -1")).toBeUndefined();
  });
});
