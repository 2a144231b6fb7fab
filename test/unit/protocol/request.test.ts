import { describe, expect, it } from "vitest";
import { MAX_REQUEST_BYTES, parseRequest, validateRequest } from "../../../src/protocol/index.js";
import { SudoSpawnerError } from "../../../src/errors.js";

function rejection(value: unknown): SudoSpawnerError {
  try {
    validateRequest(value);
  } catch (error) {
    if (error instanceof SudoSpawnerError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

describe("validateRequest: spawn", () => {
  it("accepts the Python hub's shape", () => {
    const request = validateRequest({ action: "spawn", args: ["--port=8888", "--debug"], env: { JUPYTERHUB_API_TOKEN: "t", PATH: "/usr/bin" } });
    expect(request).toEqual({ action: "spawn", args: ["--port=8888", "--debug"], env: { JUPYTERHUB_API_TOKEN: "t", PATH: "/usr/bin" } });
  });

  it("accepts graceSeconds from 0 to 60 (a request may ask for no grace)", () => {
    expect(validateRequest({ action: "spawn", args: [], env: {}, graceSeconds: 0 })).toMatchObject({ graceSeconds: 0 });
    expect(validateRequest({ action: "spawn", args: [], env: {}, graceSeconds: 0.5 })).toMatchObject({ graceSeconds: 0.5 });
    expect(validateRequest({ action: "spawn", args: [], env: {}, graceSeconds: 60 })).toMatchObject({ graceSeconds: 60 });
  });

  it.each([-1, 60.5, "0", null, true, Number.NaN])("refuses graceSeconds %s", (grace) => {
    expect(rejection({ action: "spawn", args: [], env: {}, graceSeconds: grace }).message).toMatch(/"graceSeconds" must be a number of seconds from 0 to 60/);
  });

  it("refuses graceSeconds in a submit (Slurm has no grace)", () => {
    expect(rejection({ action: "submit", args: [], env: {}, graceSeconds: 0 }).message).toMatch(/unknown key "graceSeconds" in submit request/);
  });

  it("accepts a profile name", () => {
    expect(validateRequest({ action: "spawn", args: [], env: {}, profile: "lab" })).toMatchObject({ profile: "lab" });
  });

  it.each([
    [{ action: "spawn", env: {} }, /missing key "args"/],
    [{ action: "spawn", args: [] }, /missing key "env"/],
    [{ action: "spawn", args: [], env: {}, cmd: ["/bin/sh"] }, /unknown key "cmd"/],
    [{ action: "spawn", args: "--port=1", env: {} }, /"args" must be an array of strings, got a string/],
    [{ action: "spawn", args: [1], env: {} }, /"args\[0\]" must be a string, got the number 1/],
    [{ action: "spawn", args: [null], env: {} }, /"args\[0\]" must be a string, got null/],
    [{ action: "spawn", args: ["a\0b"], env: {} }, /"args\[0\]" contains a NUL byte/],
    [{ action: "spawn", args: [], env: [] }, /"env" must be an object of string values, got an array/],
    [{ action: "spawn", args: [], env: null }, /"env" must be an object/],
    [{ action: "spawn", args: [], env: { A: 1 } }, /environment variable A must be a string, got the number 1/],
    [{ action: "spawn", args: [], env: { A: { B: "c" } } }, /environment variable A must be a string, got a object/],
    [{ action: "spawn", args: [], env: { "A=B": "c" } }, /name "A=B" is empty or contains "="/],
    [{ action: "spawn", args: [], env: { "": "c" } }, /name "" is empty/],
    [{ action: "spawn", args: [], env: { A: "x\0y" } }, /environment variable A contains a NUL byte/],
    [{ action: "spawn", args: [], env: {}, profile: "../../../bin/sh" }, /"profile" must be a name/],
    [{ action: "spawn", args: [], env: {}, profile: 3 }, /"profile" must be a name/],
  ])("rejects %j", (value, message) => {
    const error = rejection(value);
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toMatch(message);
  });
});

describe("validateRequest: kill", () => {
  it("accepts a positive pid and a known signal", () => {
    expect(validateRequest({ action: "kill", pid: 4242, signal: 15 })).toEqual({ action: "kill", pid: 4242, signal: 15 });
    expect(validateRequest({ action: "kill", pid: 2, signal: 0 })).toEqual({ action: "kill", pid: 2, signal: 0 });
    expect(validateRequest({ action: "kill", pid: 2, signal: 64 })).toEqual({ action: "kill", pid: 2, signal: 64 });
    expect(validateRequest({ action: "kill", pid: 2 ** 31 - 1, signal: 0 })).toMatchObject({ pid: 2147483647 });
  });

  it.each([
    [-1, "every process"],
    [0, "our own process group"],
    [1, "init"],
    [-4242, "a process group"],
    [true, "a boolean (Python would treat it as 1)"],
    ["4242", "a string"],
    [42.5, "a fraction"],
    [1e300, "a huge number"],
    [Number.MAX_SAFE_INTEGER + 2, "an unsafe integer"],
    [2 ** 31, "more than a pid_t holds"],
    [null, "null"],
  ] as Array<[unknown, string]>)("rejects pid %j (%s)", (pid) => {
    const error = rejection({ action: "kill", pid, signal: 15 });
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toMatch(/"pid" must be an integer greater than 1/);
  });

  it.each([[-1], [65], [15.5], ["15"], ["SIGTERM"], [null], [false]])("rejects signal %j", (signal) => {
    expect(rejection({ action: "kill", pid: 4242, signal }).message).toMatch(/"signal" must be an integer from 0 to 64/);
  });

  it("rejects missing and unknown keys", () => {
    expect(rejection({ action: "kill", pid: 4242 }).message).toMatch(/missing key "signal"/);
    expect(rejection({ action: "kill", signal: 15 }).message).toMatch(/missing key "pid"/);
    expect(rejection({ action: "kill", pid: 4242, signal: 15, pgid: true }).message).toMatch(/unknown key "pgid"/);
  });
});

describe("validateRequest: shape", () => {
  it.each([
    [null, /must be a JSON object, got null/],
    [[], /must be a JSON object, got an array/],
    ["spawn", /must be a JSON object, got a string/],
    [42, /must be a JSON object, got the number 42/],
    [{}, /"action" must be one of "spawn", "kill", "profiles", "submit", "submit-test", "query", "cancel", "slurm-options", got a undefined/],
    [{ action: "exec" }, /"action" must be one of "spawn", "kill", "profiles", "submit", "submit-test", "query", "cancel", "slurm-options", got a string "exec"/],
    [{ action: ["spawn"] }, /"action" must be one of "spawn", "kill", "profiles", "submit", "submit-test", "query", "cancel", "slurm-options", got an array/],
  ])("rejects %j", (value, message) => {
    expect(rejection(value).message).toMatch(message);
  });
});

describe("parseRequest", () => {
  it("parses bytes", () => {
    expect(parseRequest(Buffer.from('{"action":"kill","pid":99,"signal":0}'))).toEqual({ action: "kill", pid: 99, signal: 0 });
  });

  it("rejects empty input, bad JSON and oversized input with distinct codes", () => {
    expect(() => parseRequest(Buffer.from("  \n"))).toThrow(/got nothing/);
    expect(() => parseRequest(Buffer.from("{action: kill}"))).toThrow(/expected one JSON object on stdin/);
    expect(() => parseRequest(Buffer.from('{"action":"kill","pid":9,"signal":0}{"x":1}'))).toThrow(/expected one JSON object/);
    let code: string | undefined;
    try {
      parseRequest(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20));
    } catch (error) {
      code = (error as SudoSpawnerError).code;
    }
    expect(code).toBe("REQUEST_TOO_LARGE");
  });

  it("does not let __proto__ keys pollute the env object", () => {
    const request = parseRequest(Buffer.from('{"action":"spawn","args":[],"env":{"__proto__":"x","A":"b"}}'));
    expect(request.action === "spawn" && request.env.__proto__).toBe("x");
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("validateRequest: Slurm mode", () => {
  it("accepts submit and submit-test with a job, query and cancel with a job id, slurm-options", () => {
    const job = { partition: "short", minutes: 30, memoryMB: 1024, cpus: 2, gpus: 0 };
    expect(validateRequest({ action: "submit", args: ["--x"], env: { A: "1" }, profile: "lab", job })).toEqual({ action: "submit", args: ["--x"], env: { A: "1" }, profile: "lab", job });
    expect(validateRequest({ action: "submit-test", args: [], env: {} })).toEqual({ action: "submit-test", args: [], env: {} });
    expect(validateRequest({ action: "query", job: 4711 })).toEqual({ action: "query", job: 4711 });
    expect(validateRequest({ action: "cancel", job: 1 })).toEqual({ action: "cancel", job: 1 });
    expect(validateRequest({ action: "slurm-options" })).toEqual({ action: "slurm-options" });
  });

  it.each([
    [{ action: "submit", args: [], env: {}, tls: {} }, /unknown key "tls" in submit request/],
    [{ action: "submit", args: [], env: {}, limits: {} }, /unknown key "limits" in submit request/],
    [{ action: "submit", args: [], env: {}, job: [] }, /"job" must be an object, got an array/],
    [{ action: "submit", args: [], env: {}, job: { partition: "a b" } }, /"job.partition" must be a partition name/],
    [{ action: "submit", args: [], env: {}, job: { partition: "x".repeat(65) } }, /"job.partition" must be a partition name/],
    [{ action: "submit", args: [], env: {}, job: { cpus: -1 } }, /"job.cpus" must be a non-negative integer, got the number -1/],
    [{ action: "submit", args: [], env: {}, job: { minutes: 1.5 } }, /"job.minutes" must be a non-negative integer/],
    [{ action: "submit", args: [], env: {}, job: { memoryMB: "2G" } }, /"job.memoryMB" must be a non-negative integer, got a string/],
    [{ action: "submit", args: [], env: {}, job: { account: "x" } }, /unknown key "account" in "job"/],
    [{ action: "submit", env: {} }, /missing key "args" in submit request/],
    [{ action: "query" }, /missing key "job" in query request/],
    [{ action: "query", job: 0 }, /"job" must be a Slurm job id \(an integer from 1 to 4294967295\), got the number 0/],
    [{ action: "cancel", job: "12" }, /"job" must be a Slurm job id/],
    [{ action: "cancel", job: 2 ** 32 }, /"job" must be a Slurm job id/],
    [{ action: "cancel", job: 12, signal: 9 }, /unknown key "signal" in cancel request/],
    [{ action: "slurm-options", job: 1 }, /unknown key "job" in slurm-options request/],
  ])("refuses %j", (value, message) => {
    expect(rejection(value).message).toMatch(message);
  });
});
