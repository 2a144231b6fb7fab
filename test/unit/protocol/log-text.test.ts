import { describe, expect, it } from "vitest";
import { escapeControls, logExcerpt } from "../../../src/protocol/index.js";

describe("escapeControls", () => {
  it("writes every character that could break or forge a log line as an escape", () => {
    expect(escapeControls("a\nb\r\nc\rd\te")).toBe("a\\nb\\r\\nc\\rd\\te");
    expect(escapeControls("\u001b[31mred\u001b[0m")).toBe("\\e[31mred\\e[0m");
    expect(escapeControls("x\u2028y\u2029z\u0085w\u0000\u007f")).toBe("x\\u2028y\\u2029z\\x85w\\x00\\x7f");
    expect(escapeControls("plain: ünïcödé ✓")).toBe("plain: ünïcödé ✓");
  });

  it("is idempotent: escaped text has nothing left to escape", () => {
    const once = escapeControls("a\nb\u2028\u001b");
    expect(escapeControls(once)).toBe(once);
  });
});

describe("logExcerpt", () => {
  it("shortens long hub text and says how long it was", () => {
    expect(logExcerpt("A".repeat(150), 10)).toBe("AAAAAAAAAA… (150 characters)");
    expect(logExcerpt("B\n", 10)).toBe("B\\n");
  });
});
