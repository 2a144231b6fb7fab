import { describe, expect, it } from "vitest";
import { judgeOrphans } from "../../../../src/admin/check/orphans.js";

const names = (uid: number) => `user${uid} (uid ${uid})`;
const ADOPT = { until: "2026-12-31T00:00:00Z", untilMs: Date.parse("2026-12-31T00:00:00Z"), executables: [] };
const NOW = Date.parse("2026-12-04T00:00:00Z");

describe("the python-orphans row", () => {
  it("warns before the switch about Python-started servers whose fork is gone, naming the adopt key", () => {
    const row = judgeOrphans({ asRoot: true, found: [{ pid: 4242, uid: 1001 }], adopt: undefined, now: NOW, names });
    expect(row.status).toBe("warn");
    expect(row.detail).toContain("user1001 (uid 1001) pid 4242");
    expect(row.fix).toContain('"adopt"');
  });

  it("passes when the policy's adopt covers them, or none are found; skips without root", () => {
    expect(judgeOrphans({ asRoot: true, found: [{ pid: 4242, uid: 1001 }], adopt: ADOPT, now: NOW, names }).status).toBe("pass");
    expect(judgeOrphans({ asRoot: true, found: [{ pid: 4242, uid: 1001 }], adopt: ADOPT, now: ADOPT.untilMs, names }).status).toBe("warn");
    expect(judgeOrphans({ asRoot: true, found: [], adopt: undefined, now: NOW, names })).toMatchObject({ status: "pass", detail: "none found" });
    expect(judgeOrphans({ asRoot: false, found: [], adopt: undefined, now: NOW, names }).status).toBe("skip");
  });
});
