import { describe, expect, it } from "vitest";
import { runStep, type Step } from "../../../../src/admin/check/run.js";
import type { CheckSubject } from "../../../../src/admin/check/subject.js";

const subject = { user: { name: "alice" }, hub: { name: "rhea" }, asRoot: true } as unknown as CheckSubject;

describe("check steps", () => {
  it("passes a step's own row through", async () => {
    const row = { id: "home", title: "home", status: "pass" as const, detail: "ok", fix: "" };
    expect(await runStep({ activity: () => "x", run: () => row }, 5, subject)).toBe(row);
  });

  it("turns a step that throws into a failed row of its own, so the other checks still run", async () => {
    const step: Step = {
      activity: (s) => `checking ${s.user.name}'s home directory`,
      run: () => {
        throw new Error("cannot examine /home/alice: EACCES: permission denied");
      },
    };
    expect(await runStep(step, 5, subject)).toEqual({
      id: "step-6",
      title: "checking alice's home directory",
      status: "fail",
      detail: "could not finish: cannot examine /home/alice: EACCES: permission denied",
      fix: "run the check as root, which can examine every path",
    });
  });

  it("as the hub, a step refused a path only root may examine is skipped as needing root, not failed", async () => {
    const step: Step = {
      activity: (s) => `checking ${s.user.name}'s home directory`,
      run: () => {
        throw new Error("cannot examine /home/alice: EACCES: permission denied");
      },
    };
    expect(await runStep(step, 5, { ...subject, asRoot: false })).toEqual({
      id: "step-6",
      title: "checking alice's home directory",
      status: "skip",
      detail: "needs root: cannot examine /home/alice: EACCES: permission denied",
      fix: "run check as root for this row",
    });
  });
});
