import { describe, expect, it } from "vitest";
import {
  findSecurePathLines,
  parseSudoVersion,
  pathDirectories,
  replaceSecurePath,
  securePathFromListOutput,
  securePathFromVersionOutput,
  securePathValue,
  supportsArgumentRegex,
} from "../../../../src/admin/host/sudo-info.js";
import { securePathFix } from "../../../../src/admin/host/node-under-sudo.js";

// Captured from sudo 1.9.13p3 on Debian 12 (`sudo -l -U tsss-exhub` as root).
const LIST_ONE_LINE = `Matching Defaults entries for tsss-exhub on vm:
    env_reset, mail_badpass, secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin, use_pty, !requiretty, secure_path=/usr/local/sbin\\:/usr/sbin\\:/sbin

User tsss-exhub may run the following commands on vm:
    (%tsss-exg, !#0) NOPASSWD: /opt/tsss-exp/bin/ts-sudospawner
`;

// The same, as sudo wraps it for a narrow terminal.
const LIST_WRAPPED = `Matching Defaults entries for tsss-exhub on vm:
    env_reset, mail_badpass,
    secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin,
    use_pty

User tsss-exhub may run the following commands on vm:
    (%tsss-exg) NOPASSWD: /opt/tsss-exp/bin/ts-sudospawner
`;

describe("sudo version", () => {
  it("parses the first line of sudo -V", () => {
    expect(parseSudoVersion("Sudo version 1.9.13p3\nConfigure options: ...")).toEqual({ major: 1, minor: 9, patch: 13 });
    expect(parseSudoVersion("Sudo version 1.8.29\n")).toEqual({ major: 1, minor: 8, patch: 29 });
    expect(parseSudoVersion("Sudo version 1.9\n")).toEqual({ major: 1, minor: 9, patch: 0 });
    expect(parseSudoVersion("sudo-rs 0.2.3\n")).toBeUndefined();
  });

  it("knows argument regular expressions came with 1.9.10", () => {
    expect(supportsArgumentRegex({ major: 1, minor: 9, patch: 10 })).toBe(true);
    expect(supportsArgumentRegex({ major: 1, minor: 9, patch: 13 })).toBe(true);
    expect(supportsArgumentRegex({ major: 1, minor: 9, patch: 5 })).toBe(false);
    expect(supportsArgumentRegex({ major: 1, minor: 8, patch: 29 })).toBe(false);
    expect(supportsArgumentRegex({ major: 1, minor: 10, patch: 0 })).toBe(true);
    expect(supportsArgumentRegex({ major: 2, minor: 0, patch: 0 })).toBe(true);
  });
});

describe("secure_path from sudo's output", () => {
  it("takes the last value of the hub's matching Defaults (a user-specific line overrides the global one)", () => {
    expect(securePathFromListOutput(LIST_ONE_LINE)).toEqual({ state: "set", value: "/usr/local/sbin:/usr/sbin:/sbin" });
  });

  it("reads wrapped listings", () => {
    expect(securePathFromListOutput(LIST_WRAPPED)).toEqual({ state: "set", value: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" });
  });

  it("reports unset when the Defaults have no secure_path, or negate it", () => {
    expect(securePathFromListOutput("Matching Defaults entries for h on vm:\n    env_reset, mail_badpass\n\nUser h may run...\n")).toEqual({ state: "unset" });
    expect(securePathFromListOutput("Matching Defaults entries for h on vm:\n    secure_path=/bin, !secure_path\n")).toEqual({ state: "unset" });
  });

  it("reports unknown when sudo lists nothing for the user", () => {
    expect(securePathFromListOutput("User nobody is not allowed to run sudo on vm.\n")).toEqual({ state: "unknown" });
    expect(securePathFromListOutput("")).toEqual({ state: "unknown" });
  });

  it("reads the global value from sudo -V as root", () => {
    const text = "Sudo version 1.9.13p3\nAuthentication timestamp timeout: 15.0 minutes\nValue to override user's $PATH with: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPath to the editor for use by visudo: /usr/bin/editor\n";
    expect(securePathFromVersionOutput(text)).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    expect(securePathFromVersionOutput("Sudo version 1.9.13p3\n")).toBeUndefined();
  });

  it("lists the absolute directories env searches", () => {
    expect(pathDirectories("/usr/local/bin::relative:/usr/bin")).toEqual(["/usr/local/bin", "/usr/bin"]);
  });
});

describe("where secure_path is set, and how to change it", () => {
  const files = [
    { file: "/etc/sudoers", text: 'Defaults\tenv_reset\nDefaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n# Defaults secure_path=/nope\n' },
    { file: "/etc/sudoers.d/hub", text: 'Cmnd_Alias X = /bin/true\nDefaults:rhea secure_path="/usr/local/sbin:/usr/sbin:/sbin"\n' },
  ];

  it("finds the Defaults lines that set it, not comments", () => {
    expect(findSecurePathLines(files)).toEqual([
      { file: "/etc/sudoers", line: 2, text: 'Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' },
      { file: "/etc/sudoers.d/hub", line: 2, text: 'Defaults:rhea secure_path="/usr/local/sbin:/usr/sbin:/sbin"' },
    ]);
  });

  it("reads and replaces the value of a line", () => {
    expect(securePathValue('Defaults:rhea secure_path="/a:/b"')).toBe("/a:/b");
    expect(securePathValue("Defaults secure_path=/a\\:/b")).toBe("/a:/b");
    expect(replaceSecurePath('Defaults:rhea secure_path="/a:/b"', "/a:/b:/opt/node/bin")).toBe('Defaults:rhea secure_path="/a:/b:/opt/node/bin"');
  });

  it("names the line whose value sudo reported and rewrites it", () => {
    const fix = securePathFix("/usr/local/sbin:/usr/sbin:/sbin", "/opt/node/bin", findSecurePathLines(files));
    expect(fix).toBe(
      'as root, with `visudo -f /etc/sudoers.d/hub`, change line 2 `Defaults:rhea secure_path="/usr/local/sbin:/usr/sbin:/sbin"` to `Defaults:rhea secure_path="/usr/local/sbin:/usr/sbin:/sbin:/opt/node/bin"`, or link node into a directory on it: `ln -s /opt/node/bin/node /usr/local/sbin/node`',
    );
  });

  it("uses plain visudo for /etc/sudoers, and says what to add when no line sets it", () => {
    const fix = securePathFix("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/opt/node/bin", findSecurePathLines(files));
    expect(fix).toMatch(/^as root, with `visudo`, change line 2 `Defaults\tsecure_path=/);
    expect(securePathFix("/sbin:/bin", "/opt/node/bin", [])).toBe(
      'as root, add `Defaults secure_path="/sbin:/bin:/opt/node/bin"` with `visudo`, or link node into a directory on it: `ln -s /opt/node/bin/node /sbin/node`',
    );
  });
});
