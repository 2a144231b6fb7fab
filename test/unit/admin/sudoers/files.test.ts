import { describe, expect, it } from "vitest";
import { aliasesNaming, editCommand, includeDirective, lineKind, logicalLines, stripComment, sudoersFiles, words } from "../../../../src/admin/sudoers/files.js";

describe("sudoers text", () => {
  it("strips comments but not uids, include directives or quoted #", () => {
    expect(stripComment("hub ALL=(%g, !#0) NOPASSWD: /x # the mediator")).toBe("hub ALL=(%g, !#0) NOPASSWD: /x");
    expect(stripComment("hub ALL=(#1000) /x")).toBe("hub ALL=(#1000) /x");
    expect(stripComment("# a comment")).toBe("");
    expect(stripComment("#includedir /etc/sudoers.d")).toBe("#includedir /etc/sudoers.d");
    expect(stripComment('hub ALL=("a #b") /x')).toBe('hub ALL=("a #b") /x');
    expect(stripComment("hub ALL=(a\\#b) /x")).toBe("hub ALL=(a\\#b) /x");
  });

  it("joins continued lines and numbers them by their first line", () => {
    const lines = logicalLines({ file: "/etc/sudoers", text: "# head\nCmnd_Alias X = /a, \\\n   /b\n\nhub ALL=(ALL) /c\n" });
    expect(lines).toEqual([
      { file: "/etc/sudoers", line: 2, text: "Cmnd_Alias X = /a, /b" },
      { file: "/etc/sudoers", line: 5, text: "hub ALL=(ALL) /c" },
    ]);
    expect(lines.map(lineKind)).toEqual(["alias", "rule"]);
    expect(lineKind({ file: "f", line: 1, text: "Defaults:hub !requiretty" })).toBe("defaults");
  });

  it("follows @include, @includedir and the old #includedir, skipping names sudo skips", () => {
    const files: Record<string, string> = {
      "/etc/sudoers": "Defaults env_reset\n@includedir /etc/sudoers.d\n#include extra\n",
      "/etc/sudoers.d/b": "hub ALL=(ALL) NOPASSWD: /usr/local/bin/sudospawner\n",
      "/etc/sudoers.d/a": "@include ../more\n",
      "/etc/sudoers.d/README": "# nothing\n",
      "/etc/sudoers.d/x.dpkg-old": "ignored\n",
      "/etc/sudoers.d/y~": "ignored\n",
      "/etc/more": "eve ALL=(hub) ALL\n",
      "/etc/extra": "Defaults !env_reset\n",
    };
    const reader = {
      read: (file: string) => files[file],
      list: (dir: string) => (dir === "/etc/sudoers.d" ? ["b", "a", "README", "x.dpkg-old", "y~"] : undefined),
    };
    expect(sudoersFiles(reader).map((file) => file.file)).toEqual(["/etc/sudoers", "/etc/sudoers.d/README", "/etc/sudoers.d/a", "/etc/more", "/etc/sudoers.d/b", "/etc/extra"]);
    expect(includeDirective({ file: "/etc/sudoers", line: 1, text: '@include "/etc/with space"' })).toEqual({ kind: "file", path: "/etc/with space" });
  });

  it("splits words as sudoers does and finds the aliases naming a command", () => {
    expect(words('"CORP\\alice" ALL=("%domain users", !#0) NOPASSWD: TSSS_X')).toEqual(["CORP\\alice", "ALL", "%domain users", "#0", "NOPASSWD", "TSSS_X"]);
    expect(words("TSSS\\\\x ALL=(a\\ b) /c")).toEqual(["TSSS\\x", "ALL", "a b", "/c"]);
    const lines = logicalLines({ file: "f", text: "Cmnd_Alias A = /usr/local/bin/sudospawner, /x : B = /y\nCmnd_Alias C = /usr/local/bin/sudospawner\n" });
    expect(aliasesNaming(lines, "/usr/local/bin/sudospawner")).toEqual(["A", "C"]);
    expect(editCommand("/etc/sudoers")).toBe("visudo");
    expect(editCommand("/etc/sudoers.d/old")).toBe("visudo -f /etc/sudoers.d/old");
  });
});
