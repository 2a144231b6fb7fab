/**
 * The one rule for missing prerequisites (scripts/test/prerequisites.mjs, used by every suite through
 * test/helpers/prerequisites.ts and by scripts/test/test-node-matrix.mjs): with CI set a missing
 * prerequisite throws, naming it; without CI it is announced on stderr and the caller skips.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { firstMissing, inCi, MissingPrerequisite, noteWithout, skipWithout } from "../helpers/prerequisites.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("the prerequisite rule", () => {
  it("knows CI by the CI variable: set, and not empty, 0 or false", () => {
    for (const value of ["true", "1", "yes", "TRUE", "woodpecker"]) expect(inCi({ CI: value }), value).toBe(true);
    for (const value of [undefined, "", " ", "0", "false", "False"]) expect(inCi({ CI: value }), String(value)).toBe(false);
  });

  it("lets a suite run when nothing is missing, CI or not", () => {
    for (const env of [{ CI: "true" }, {}]) {
      expect(skipWithout("a suite", undefined, env)).toBe(false);
      expect(skipWithout("a suite", "", env)).toBe(false);
      expect(noteWithout("a suite", undefined, env)).toBe(false);
    }
  });

  it("under CI, fails at once, naming the suite and what is missing", () => {
    expect(() => skipWithout("the frobnicator suite", "strace is not installed (apt-get install strace)", { CI: "true" })).toThrow(MissingPrerequisite);
    expect(() => skipWithout("the frobnicator suite", "strace is not installed (apt-get install strace)", { CI: "true" })).toThrow(
      /^the frobnicator suite cannot run as it must: strace is not installed \(apt-get install strace\)\. CI is set/,
    );
    expect(() => noteWithout("the mediator on the Node under test", "sudo finds v18", { CI: "true" })).toThrow(/sudo finds v18/);
  });

  it("without CI, skips with a banner on stderr", () => {
    // In a child, to see its stderr.
    const child = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { prerequisiteMissing } from ${JSON.stringify(path.join(ROOT, "scripts/test/prerequisites.mjs"))};
         process.stdout.write(JSON.stringify([prerequisiteMissing("the frobnicator suite", "no strace"), prerequisiteMissing("the rest", undefined)]));`,
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH } },
    );
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual([true, false]);
    expect(child.stderr).toContain("SKIPPED the frobnicator suite: no strace");
    expect(child.stderr).not.toContain("the rest");
  });

  it("takes the first reason that is not empty", () => {
    expect(firstMissing("", undefined, false, null)).toBeUndefined();
    expect(firstMissing("", false, "no root", "no strace")).toBe("no root");
  });
});
