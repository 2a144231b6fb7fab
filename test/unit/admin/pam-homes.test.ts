import { describe, expect, it } from "vitest";
import { pamHomeAdvice, pamHomeCommand, pamHomeLines } from "../../../src/admin/pam-homes.js";

const MKHOMEDIR = "session optional pam_mkhomedir.so skel=/etc/skel umask=0077";

describe("the PAM lines that make homes on first spawn", () => {
  it("skip pam_mkhomedir unless the hub user invoked sudo", () => {
    expect(pamHomeLines("jupyterhub")).toEqual(["session [success=1 default=ignore] pam_succeed_if.so quiet ruser != jupyterhub", MKHOMEDIR]);
    expect(pamHomeLines("CORP\\jhub")?.[0]).toBe("session [success=1 default=ignore] pam_succeed_if.so quiet ruser != CORP\\jhub");
  });

  it("name a hub user with a space or a bracket as one PAM argument, in brackets with \\] for ]", () => {
    // Bare, `ruser != CORP jhub` is an incomplete condition, and pam_mkhomedir would run for everyone.
    expect(pamHomeLines("CORP jhub")?.[0]).toBe("session [success=1 default=ignore] pam_succeed_if.so quiet ruser != [CORP jhub]");
    expect(pamHomeLines("a]b")?.[0]).toBe("session [success=1 default=ignore] pam_succeed_if.so quiet ruser != [a\\]b]");
    expect(pamHomeLines("[ab")?.[0]).toBe("session [success=1 default=ignore] pam_succeed_if.so quiet ruser != [[ab]");
  });

  it("are not offered for a hub user with '#', which PAM reads as a comment: the advice says why", () => {
    expect(pamHomeLines("j#hub")).toBeUndefined();
    expect(pamHomeCommand("j#hub")).toBeUndefined();
    expect(pamHomeAdvice("j#hub")).toBe('homes cannot be created on first spawn: PAM reads "#" as the start of a comment, so no line of /etc/pam.d/sudo can name the hub user j#hub');
    expect(pamHomeAdvice("jupyterhub")).toBe(`to create homes on first spawn, for jupyterhub's sudo calls only: \`${pamHomeCommand("jupyterhub") as string}\``);
  });
});
