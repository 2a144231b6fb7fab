import { describe, expect, it } from "vitest";
import { EXECUTE, READ, WRITE, firstUnsearchable, permits } from "../../../../src/admin/host/access.js";

const alice = { uid: 1001, gids: [1001, 2000] };

describe("permits", () => {
  it("uses the owner class for the owner, even when group or others have more", () => {
    expect(permits({ uid: 1001, gid: 0, mode: 0o077 }, alice, READ)).toBe(false);
    expect(permits({ uid: 1001, gid: 0, mode: 0o500 }, alice, EXECUTE)).toBe(true);
    expect(permits({ uid: 1001, gid: 0, mode: 0o500 }, alice, WRITE)).toBe(false);
  });

  it("uses the group class for a member of the file's group (primary or supplementary)", () => {
    expect(permits({ uid: 0, gid: 2000, mode: 0o750 }, alice, EXECUTE)).toBe(true);
    expect(permits({ uid: 0, gid: 2000, mode: 0o705 }, alice, EXECUTE)).toBe(false);
    expect(permits({ uid: 0, gid: 1001, mode: 0o770 }, alice, WRITE)).toBe(true);
  });

  it("uses the other class for everyone else", () => {
    expect(permits({ uid: 0, gid: 0, mode: 0o755 }, alice, EXECUTE)).toBe(true);
    expect(permits({ uid: 0, gid: 0, mode: 0o750 }, alice, EXECUTE)).toBe(false);
    expect(permits({ uid: 0, gid: 0, mode: 0o755 }, alice, WRITE)).toBe(false);
  });

  it("lets root read and write anything, but execute only with some x bit", () => {
    const root = { uid: 0, gids: [0] };
    expect(permits({ uid: 5, gid: 5, mode: 0o000 }, root, READ)).toBe(true);
    expect(permits({ uid: 5, gid: 5, mode: 0o000 }, root, EXECUTE)).toBe(false);
    expect(permits({ uid: 5, gid: 5, mode: 0o001 }, root, EXECUTE)).toBe(true);
  });
});

describe("firstUnsearchable", () => {
  it("finds the first directory the user cannot enter", () => {
    const steps = [
      { path: "/", uid: 0, gid: 0, mode: 0o40755 },
      { path: "/opt", uid: 0, gid: 0, mode: 0o40750 },
      { path: "/opt/x", uid: 0, gid: 0, mode: 0o40700 },
    ];
    expect(firstUnsearchable(steps, alice)?.path).toBe("/opt");
    expect(firstUnsearchable(steps.slice(0, 1), alice)).toBeUndefined();
  });
});
