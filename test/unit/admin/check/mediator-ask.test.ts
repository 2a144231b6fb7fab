import { describe, expect, it } from "vitest";
import { readReply } from "../../../../src/admin/check/mediator-ask.js";

describe("readReply", () => {
  it("reads the answer from the last line of stdout and keeps stderr for the detail", () => {
    expect(readReply('{"ok":true,"estimate":"Job 3 to start"}\n', "[I ts-sudospawner] submit-test\n", 0)).toEqual({ answer: { ok: true, estimate: "Job 3 to start" }, output: "[I ts-sudospawner] submit-test", status: 0 });
  });

  it("keeps whatever was printed when there is no JSON object", () => {
    expect(readReply("", "sudo: a password is required\n", 1)).toEqual({ output: "sudo: a password is required", status: 1 });
    expect(readReply("[1,2]\n", "", 1, "ETIMEDOUT")).toEqual({ output: "[1,2]\nETIMEDOUT", status: 1 });
  });
});
