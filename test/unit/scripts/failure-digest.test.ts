import { describe, expect, it } from "vitest";
import { FailureDigest } from "../../../scripts/test/failure-digest.mjs";

function digestOf(text: string, limit?: number): string[] {
  const digest = new FailureDigest(limit);
  for (const line of text.split("\n")) digest.add(line);
  return digest.lines;
}

describe("the failure digest npm test prints at its end", () => {
  it("keeps vitest's failure header and the error's first lines, without colours or rules", () => {
    const lines = digestOf(
      [
        " \u001b[32m✓\u001b[39m test/unit/a.test.ts (3 tests)",
        "\u001b[31m⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯\u001b[39m",
        "",
        "\u001b[41m FAIL \u001b[49m vm test/vm/systemd-host.test.ts > a real systemd host > the driver ran to the end",
        "AssertionError: the driver stopped early; console:",
        "[  OK  ] Started a unit.",
        "",
        "⎯⎯⎯⎯⎯⎯⎯",
        "line two of the console",
        "line three",
        "line four",
        "line five, past the four kept",
        " Test Files  1 failed (1)",
      ].join("\n"),
    );
    expect(lines).toEqual([
      "FAIL  vm test/vm/systemd-host.test.ts > a real systemd host > the driver ran to the end",
      "  AssertionError: the driver stopped early; console:",
      "  [  OK  ] Started a unit.",
      "  line two of the console",
      "  line three",
    ]);
  });

  it("keeps pytest's FAILED and ERROR lines and the VM tier's failed checks, once each", () => {
    const heartbeat = 'vm tier: the driver\'s "ad-join" check FAILED: adcli: GSSAPI Error';
    const lines = digestOf(
      ["python | tests/test_x.py::test_ok PASSED", "FAILED tests/test_x.py::test_bad - assert 1 == 2", "ERROR tests/test_y.py - ImportError", heartbeat, heartbeat].join("\n"),
    );
    expect(lines).toEqual(["FAILED tests/test_x.py::test_bad - assert 1 == 2", "ERROR tests/test_y.py - ImportError", heartbeat]);
  });

  it("is empty for a passing run, and bounded in lines and width", () => {
    expect(digestOf(" ✓ test/unit/a.test.ts (3 tests)\n Test Files  1 passed (1)")).toEqual([]);
    const many = digestOf(Array.from({ length: 100 }, (_, i) => `FAILED t.py::test_${i} - ${"x".repeat(400)}`).join("\n"), 5);
    expect(many).toHaveLength(5);
    expect(many[0]?.endsWith("...")).toBe(true);
    expect(many[0]?.length).toBe(303);
  });
});
