import { describe, expect, it } from "vitest";
import { stackMakesHomes, TEST_LINE_MARK, withTestLines, withoutTestLines } from "../../helpers/pam-sudo.js";

const LINE = "session optional pam_mkhomedir.so skel=/etc/skel umask=0077";
const DEBIAN = "#%PAM-1.0\n\n@include common-auth\n@include common-account\n@include common-session-noninteractive\n";

describe("the tests' marked line in /etc/pam.d/sudo", () => {
  it("is appended under its mark", () => {
    expect(withTestLines(DEBIAN, [LINE])).toBe(`${DEBIAN}${TEST_LINE_MARK}\n${LINE}\n`);
  });

  it("comes out again, leaving the file as it was", () => {
    expect(withoutTestLines(withTestLines(DEBIAN, [LINE]))).toBe(DEBIAN);
  });

  it("leaves an admin's unmarked copy of the same line", () => {
    const admin = `${DEBIAN}${LINE}\n`;
    expect(withoutTestLines(withTestLines(admin, [LINE]))).toBe(admin);
    expect(withoutTestLines(admin)).toBe(admin);
  });

  it("marks each of several lines, and takes them all out", () => {
    const guard = "session [success=1 default=ignore] pam_succeed_if.so quiet ruser != hub";
    expect(withTestLines(DEBIAN, [guard, LINE])).toBe(`${DEBIAN}${TEST_LINE_MARK}\n${guard}\n${TEST_LINE_MARK}\n${LINE}\n`);
    expect(withoutTestLines(withTestLines(DEBIAN, [guard, LINE]))).toBe(DEBIAN);
  });

  it("removes a marked line wherever it is, and every one of them", () => {
    const twice = `${TEST_LINE_MARK}\n${LINE}\n${DEBIAN}${TEST_LINE_MARK}\n${LINE}\n`;
    expect(withoutTestLines(twice)).toBe(DEBIAN);
  });

  it("gives back a file that ended in two newlines, or was empty; one without a last newline gains it", () => {
    for (const text of [`${DEBIAN}\n`, ""]) expect(withoutTestLines(withTestLines(text, [LINE]))).toBe(text);
    expect(withoutTestLines(withTestLines(DEBIAN.trimEnd(), [LINE]))).toBe(DEBIAN);
  });

  it("changes nothing in a file without the mark", () => {
    expect(withoutTestLines(`${DEBIAN}# tsss-test\n${LINE}`)).toBe(`${DEBIAN}# tsss-test\n${LINE}`);
  });
});

describe("whether a PAM stack makes homes", () => {
  const stack = (files: Record<string, string>) => (service: string) => files[service];
  const common = "session required pam_unix.so\n";

  it("finds pam_mkhomedir through @include, include and substack, guarded or not, and by full path", () => {
    expect(stackMakesHomes("sudo", stack({ sudo: DEBIAN, "common-session-noninteractive": `${common}${LINE}\n` }))).toBe(true);
    expect(stackMakesHomes("sudo", stack({ sudo: "session include extra\n", extra: `-${LINE}\n` }))).toBe(true);
    expect(stackMakesHomes("sudo", stack({ sudo: "session substack extra\n", extra: "session optional /lib/security/pam_mkhomedir.so\n" }))).toBe(true);
    expect(stackMakesHomes("sudo", stack({ sudo: `session [success=1 default=ignore] pam_succeed_if.so quiet ruser != hub\n${LINE}\n` }))).toBe(true);
  });

  it("ignores comments, other types, missing files and include loops", () => {
    expect(stackMakesHomes("sudo", stack({ sudo: `${DEBIAN}# ${LINE}\n`, "common-session-noninteractive": common }))).toBe(false);
    expect(stackMakesHomes("sudo", stack({ sudo: "auth optional pam_mkhomedir.so\n@include loop\n", loop: "@include sudo\n" }))).toBe(false);
    expect(stackMakesHomes("sudo", stack({}))).toBe(false);
  });
});
