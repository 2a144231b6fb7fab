import { describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../../src/errors.js";
import { slurmOptionsAnswer } from "../../../src/protocol/index.js";
import { SLURM_OPTIONS_ANSWER } from "../../helpers/slurm/slurm-answers.js";

const OPTIONS = SLURM_OPTIONS_ANSWER;

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
