import { describe, expect, it } from "vitest";
import { exitStatus, formatJson, formatTable, progressLine, summaryLine, wrap, type CheckReport, type CheckRow } from "../../../../src/admin/check/report.js";

const pass = (id: string, title: string, detail = "fine"): CheckRow => ({ id, title, status: "pass", detail, fix: "" });

function report(rows: CheckRow[]): CheckReport {
  return { hubUser: "rhea", user: "alice", mediator: "/opt/t/bin/ts-sudospawner", rows };
}

describe("exitStatus and summary", () => {
  it("fails only on a failed row", () => {
    expect(exitStatus([pass("a", "A")])).toBe(0);
    expect(exitStatus([pass("a", "A"), { ...pass("b", "B"), status: "warn" }, { ...pass("c", "C"), status: "skip" }])).toBe(0);
    expect(exitStatus([pass("a", "A"), { ...pass("b", "B"), status: "fail" }])).toBe(1);
    expect(exitStatus([])).toBe(0);
  });

  it("counts every status", () => {
    const rows: CheckRow[] = [pass("a", "A"), { ...pass("b", "B"), status: "fail" }, { ...pass("c", "C"), status: "warn" }, { ...pass("d", "D"), status: "skip" }, pass("e", "E")];
    expect(summaryLine(rows)).toBe("FAILED: 2 pass, 1 fail, 1 warn, 1 skip");
    expect(summaryLine([pass("a", "A")])).toBe("OK: 1 pass, 0 fail, 0 warn, 0 skip");
  });
});

describe("progressLine", () => {
  it("numbers the step", () => {
    expect(progressLine(3, 7, "running the mediator as root through the rule")).toBe("[3/7] running the mediator as root through the rule...\n");
  });
});

describe("wrap", () => {
  it("breaks at spaces within the width", () => {
    expect(wrap("aaa bbb ccc ddd", 7)).toEqual(["aaa bbb", "ccc ddd"]);
    expect(wrap("short", 10)).toEqual(["short"]);
    expect(wrap("", 10)).toEqual([""]);
  });

  it("keeps explicit line breaks", () => {
    expect(wrap("one\ntwo three", 20)).toEqual(["one", "two three"]);
  });

  it("cuts a long path after a slash when it can, else at the width", () => {
    expect(wrap("see /opt/prefix/lib/node_modules/x now", 20)).toEqual(["see", "/opt/prefix/lib/", "node_modules/x now"]);
    expect(wrap("abcdefghijklmnopqrstuvwxyz", 10)).toEqual(["abcdefghij", "klmnopqrst", "uvwxyz"]);
  });
});

describe("formatTable", () => {
  it("escapes what a detail or fix quotes from the user's server or sudo, keeping its line breaks", () => {
    const text = formatTable(report([{ id: "spawn-and-kill", title: "spawn", status: "fail", detail: "it said:\n\u001b]52;c;ZXZpbA==\u0007", fix: "see \u001b[2J" }]));
    expect(text).toContain("\\e]52;c;ZXZpbA==\\x07");
    expect(text).toContain("see \\e[2J");
    expect(text).not.toMatch(/[\u001b\u0007]/);
  });

  it("prints the exact table, the fixes of failing and warning rows, and the summary", () => {
    const text = formatTable(
      report([
        pass("rule-allows-mediator", "hub runs the mediator"),
        { id: "rule-refuses-root", title: "hub cannot run it as root", status: "fail", detail: "it ran as root", fix: "restrict the Runas list" },
        { id: "home-usable", title: "home", status: "warn", detail: "not writable", fix: "chmod u+w" },
        { id: "spawn-and-kill", title: "spawn", status: "skip", detail: "not requested", fix: "add --spawn" },
      ]),
    );
    expect(text).toBe(
      [
        "ts-sudospawner check: hub user rhea, user alice, mediator /opt/t/bin/ts-sudospawner",
        "",
        "#  check                      status  detail",
        "1  hub runs the mediator      PASS    fine",
        "2  hub cannot run it as root  FAIL    it ran as root",
        "3  home                       WARN    not writable",
        "4  spawn                      SKIP    not requested",
        "",
        "To fix:",
        "2. restrict the Runas list",
        "3. chmod u+w",
        "",
        "FAILED: 1 pass, 1 fail, 1 warn, 1 skip",
        "",
      ].join("\n"),
    );
  });

  it("wraps long details under the detail column", () => {
    const detail = "word ".repeat(30).trim();
    const lines = formatTable(report([pass("x", "t", detail)]), 60).split("\n");
    const first = lines.findIndex((line) => line.startsWith("1  t"));
    const indent = "1  t      PASS    ".length;
    expect(lines[first]?.length).toBeLessThanOrEqual(60);
    expect(lines[first + 1]?.startsWith(" ".repeat(indent) + "word")).toBe(true);
    expect(lines.filter((line) => line.includes("word")).join(" ").replace(/\s+/g, " ").trim()).toBe(`1 t PASS ${detail}`);
  });

  it("has no fix section when everything passed", () => {
    expect(formatTable(report([pass("a", "A")]))).not.toContain("To fix:");
  });
});

describe("formatJson", () => {
  it("gives ok, the subject and every row", () => {
    const rows: CheckRow[] = [pass("a", "A"), { id: "b", title: "B", status: "fail", detail: "d", fix: "f" }];
    expect(JSON.parse(formatJson(report(rows)))).toEqual({
      ok: false,
      hubUser: "rhea",
      user: "alice",
      mediator: "/opt/t/bin/ts-sudospawner",
      rows,
    });
    expect(JSON.parse(formatJson(report([pass("a", "A")]))).ok).toBe(true);
  });
});
