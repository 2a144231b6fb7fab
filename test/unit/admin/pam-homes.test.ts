import { describe, expect, it } from "vitest";
import { pamHomeLines } from "../../../src/admin/pam-homes.js";

describe("the PAM lines that make homes on first spawn", () => {
  it("skip pam_mkhomedir unless the hub user invoked sudo", () => {
    expect(pamHomeLines("jupyterhub")).toEqual([
      "session [success=1 default=ignore] pam_succeed_if.so quiet ruser != jupyterhub",
      "session optional pam_mkhomedir.so skel=/etc/skel umask=0077",
    ]);
  });
});
