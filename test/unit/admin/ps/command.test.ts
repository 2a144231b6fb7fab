import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readToken } from "../../../../src/admin/ps/command.js";

describe("the hub token of ps", () => {
  it("comes from the file when one is named, else from JUPYTERHUB_API_TOKEN", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-ps-token-"));
    try {
      const file = path.join(dir, "token");
      fs.writeFileSync(file, "abc123\n");
      expect(readToken(file, { JUPYTERHUB_API_TOKEN: "fromenv" })).toBe("abc123");
      expect(readToken(undefined, { JUPYTERHUB_API_TOKEN: "fromenv" })).toBe("fromenv");
      expect(() => readToken(path.join(dir, "missing"), {})).toThrow(/cannot read the token file/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is refused when absent or not one word", () => {
    expect(() => readToken(undefined, {})).toThrow(/--token-file FILE .* or JUPYTERHUB_API_TOKEN/);
    expect(() => readToken(undefined, { JUPYTERHUB_API_TOKEN: "two words" })).toThrow(/white space/);
  });
});
