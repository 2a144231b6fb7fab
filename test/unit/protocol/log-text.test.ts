import { describe, expect, it } from "vitest";
import { escapeControls, logExcerpt, terminalText } from "../../../src/protocol/index.js";

describe("escapeControls", () => {
  it("writes every character that could break or forge a log line as an escape", () => {
    expect(escapeControls("a\nb\r\nc\rd\te")).toBe("a\\nb\\r\\nc\\rd\\te");
    expect(escapeControls("\u001b[31mred\u001b[0m")).toBe("\\e[31mred\\e[0m");
    expect(escapeControls("x\u2028y\u2029z\u0085w\u0000\u007f")).toBe("x\\u2028y\\u2029z\\x85w\\x00\\x7f");
    expect(escapeControls("plain: ünïcödé ✓")).toBe("plain: ünïcödé ✓");
  });

  it("writes the bidi embeddings, overrides and isolates as escapes (they reorder what a reader sees)", () => {
    expect(escapeControls("a\u202eb\u2066c\u2069d\u202ae")).toBe("a\\u202eb\\u2066c\\u2069d\\u202ae");
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

describe("terminalText", () => {
  it("escapes like escapeControls but keeps the text's own line breaks", () => {
    expect(terminalText("last output:\n\u001b[2Jgone\r\nbye")).toBe("last output:\n\\e[2Jgone\\r\nbye");
  });
});
