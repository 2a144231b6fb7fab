import { describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../../src/errors.js";
import { slurmOptionsAnswer } from "../../../src/protocol/index.js";

const OPTIONS = {
  ok: true,
  partitions: ["debug", "short"],
  minutes: { default: 60, max: 480 },
  memoryMB: { default: 2048, max: 8192 },
  cpus: { default: 1, max: 4 },
  gpus: { default: 0, max: 0 },
};

describe("slurmOptionsAnswer", () => {
  it("reads the partitions and the bounds", () => {
    const { ok: _ok, ...options } = OPTIONS;
    expect(slurmOptionsAnswer(OPTIONS)).toEqual(options);
  });

  it.each([
    [{ ...OPTIONS, partitions: [] }, 'no list of partition names in "partitions"'],
    [{ ...OPTIONS, partitions: ["debug", "bad name"] }, 'no list of partition names in "partitions"'],
    [{ ...OPTIONS, partitions: "debug" }, 'no list of partition names in "partitions"'],
    [{ ...OPTIONS, gpus: undefined }, 'no valid {"default","max"} in "gpus"'],
    [{ ...OPTIONS, minutes: { default: 1.5, max: 2 } }, 'no valid {"default","max"} in "minutes"'],
    [{ ...OPTIONS, memoryMB: { default: -1, max: 2 } }, 'no valid {"default","max"} in "memoryMB"'],
    [{ ...OPTIONS, cpus: { default: 5, max: 4 } }, 'no valid {"default","max"} in "cpus"'],
  ])("refuses %j", (answer, problem) => {
    let error: unknown;
    try {
      slurmOptionsAnswer(answer);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SudoSpawnerError);
    expect(error).toMatchObject({ code: "MEDIATOR", message: expect.stringContaining(`the mediator's slurm-options answer has ${problem}: `) as unknown });
  });
});
