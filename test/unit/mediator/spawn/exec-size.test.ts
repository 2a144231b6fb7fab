import { describe, expect, it } from "vitest";
import { MAX_ARG_STRLEN, checkExecStrings, e2bigHint, execBytes, execLimit, stackSoftLimit, stringBytes } from "../../../../src/mediator/spawn/exec-size.js";

describe("checkExecStrings: Linux's bound on one argument or NAME=value (MAX_ARG_STRLEN, its NUL included)", () => {
  it("passes a string of exactly the limit, NUL included, and refuses one byte more, naming the variable, its size and the limit", () => {
    const name = "JUPYTERHUB_BIG";
    const fits = `${name}=${"x".repeat(MAX_ARG_STRLEN - name.length - 2)}`;
    expect(stringBytes(fits)).toBe(MAX_ARG_STRLEN);
    expect(() => checkExecStrings([], [fits])).not.toThrow();
    const over = `${fits}x`;
    expect(() => checkExecStrings([], ["LANG=C", over])).toThrow(
      expect.objectContaining({
        code: "BAD_REQUEST",
        message: `environment variable ${name} is 131073 bytes as "${name}=..." with its NUL, above Linux's limit of 131072 bytes for one string (MAX_ARG_STRLEN), so no program can be started with it; send a shorter value`,
      }),
    );
  });

  it("counts bytes, not characters, and names an argument by its place", () => {
    const wide = "é".repeat(MAX_ARG_STRLEN / 2); // 2 bytes each
    expect(() => checkExecStrings(["--port=1", wide], [])).toThrow(/^server argument 2 \(counting from 1 after the executable\) is 131073 bytes with its NUL, above Linux's limit of 131072 bytes/);
    expect(() => checkExecStrings(["--port=1", "é".repeat(MAX_ARG_STRLEN / 2 - 1)], [])).not.toThrow();
  });

  it("never shows the value", () => {
    let message = "";
    try {
      checkExecStrings([], [`JUPYTERHUB_API_TOKEN=secret${"s".repeat(MAX_ARG_STRLEN)}`]);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^environment variable JUPYTERHUB_API_TOKEN is \d+ bytes/);
    expect(message).not.toContain("secret");
  });
});

describe("the total execve allows, for the E2BIG hint", () => {
  it("is a quarter of the stack limit, at most 6 MiB and at least MAX_ARG_STRLEN", () => {
    expect(execLimit(8 * 1024 * 1024)).toBe(2 * 1024 * 1024);
    expect(execLimit(1024 * 1024)).toBe(256 * 1024);
    expect(execLimit(64 * 1024)).toBe(MAX_ARG_STRLEN);
    expect(execLimit(64 * 1024 * 1024)).toBe(6 * 1024 * 1024);
    expect(execLimit(undefined)).toBe(6 * 1024 * 1024);
  });

  it("counts each string with its NUL and a pointer", () => {
    expect(execBytes(["/bin/x", "-a"], ["A=1"])).toBe(7 + 3 + 4 + 3 * 8);
  });

  it("reads the soft stack limit from /proc/self/limits", () => {
    const limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax stack size            8388608              unlimited            bytes     \n";
    expect(stackSoftLimit(limits)).toBe(8388608);
    expect(stackSoftLimit(limits.replace("8388608", "unlimited"))).toBeUndefined();
    expect(stackSoftLimit("")).toBeUndefined();
  });

  it("names the real total and the limit, not a reinstall", () => {
    const hint = e2bigHint(["/x"], ["A=1", "B=2"], 1024 * 1024);
    expect(hint).toBe(
      "; its 1 arguments and 2 environment variables take 35 bytes (with a NUL and a pointer each), and Linux allows 262144 (a quarter of the stack limit, 1048576 bytes, at most 6291456, at least 131072): send fewer or shorter environment variables and arguments, or raise the stack limit (ulimit -s) of the hub",
    );
    expect(hint).not.toContain("reinstall");
  });
});
