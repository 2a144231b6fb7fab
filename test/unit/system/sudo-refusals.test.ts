import { describe, expect, it } from "vitest";
import { SUDO_REFUSALS, classifyRefusal } from "../../../src/system/sudo-refusals.js";

describe("the sudo refusal table", () => {
  it.each(SUDO_REFUSALS.flatMap((row) => row.examples.map((example) => [row.kind, example] as const)))("%s: %s", (kind, example) => {
    expect(classifyRefusal(example)).toBe(kind);
    expect(classifyRefusal(`[I 2026 ts-sudospawner] starting\n${example.toUpperCase()}\n`)).toBe(kind);
  });

  it("says nothing about output that is no refusal", () => {
    expect(classifyRefusal("[I 2026-11-30 12:00:00.000 ts-sudospawner] Spawning jupyterhub-singleuser")).toBeUndefined();
    expect(classifyRefusal("")).toBeUndefined();
  });
});
