import { describe, expect, it } from "vitest";
import { STAT_FIELD, statField, statNumber } from "../../../src/system/proc-stat.js";

describe("statField", () => {
  it("parses the state out of /proc/PID/stat even with odd command names", () => {
    expect(statField("123 (sleep) S 1 123 123 0", STAT_FIELD.state)).toBe("S");
    expect(statField("123 (a) Z (b) Z 1 2", STAT_FIELD.state)).toBe("Z");
    expect(statField("123 (x) R", STAT_FIELD.state)).toBe("R");
    expect(statField("garbage", STAT_FIELD.state)).toBeUndefined();
  });

  it("counts fields as proc(5) does, after the last parenthesis", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    const stat = `77 (a) b) (c) ${fields.join(" ")}`;
    expect(statNumber(stat, STAT_FIELD.ppid)).toBe(4);
    expect(statNumber(stat, STAT_FIELD.session)).toBe(6);
    expect(statNumber(stat, STAT_FIELD.startTime)).toBe(22);
    expect(statNumber("1 (x) S 2", STAT_FIELD.session)).toBeUndefined();
    expect(statNumber("1 (x) S abc", STAT_FIELD.ppid)).toBeUndefined();
  });
});
