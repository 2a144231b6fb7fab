/**
 * Reconciliation at start, the pure parts: the request's server name and reconcile flag, the
 * server mark in the environment, which environ and which Slurm job count as a server of a name,
 * how the hub reads and words what was stopped.
 */
import { describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../../../src/errors.js";
import { describeStopped } from "../../../../src/hub/spawner.js";
import { applyEnvPolicy, MARK_ENV, SERVER_MARK_ENV } from "../../../../src/mediator/env-policy.js";
import { environMarksServer } from "../../../../src/mediator/kill/reconcile.js";
import { assertOurJob, isJobMark, jobMarkFor, JOB_MARK, markedJobs, parseSqueueLine, sbatchArgs } from "../../../../src/mediator/slurm/job.js";
import { answerStopped, validateRequest } from "../../../../src/protocol/index.js";

function rejection(value: unknown): string {
  try {
    validateRequest(value);
  } catch (error) {
    if (error instanceof SudoSpawnerError) return error.message;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

const base = { args: [], env: {} };

describe("the request's server and reconcile", () => {
  it("accepts a server name with reconcile, in spawn and in submit", () => {
    expect(validateRequest({ action: "spawn", ...base, server: "", reconcile: true })).toMatchObject({ server: "", reconcile: true });
    expect(validateRequest({ action: "spawn", ...base, server: "two" })).toMatchObject({ server: "two" });
    expect(validateRequest({ action: "submit", ...base, server: "gpu ü", reconcile: true })).toMatchObject({ server: "gpu ü", reconcile: true });
    expect(validateRequest({ action: "spawn", ...base, server: "x".repeat(255) })).toMatchObject({ server: "x".repeat(255) });
  });

  it.each([
    [{ server: 3 }, /"server" must be a JupyterHub server name/],
    [{ server: "a\nb" }, /"server" must be a JupyterHub server name/],
    [{ server: "a\u0085" }, /"server" must be a JupyterHub server name/],
    [{ server: "ü".repeat(128) }, /at most 255 bytes/],
    [{ server: "", reconcile: "yes" }, /"reconcile" must be true or false/],
    [{ reconcile: true }, /"reconcile" needs "server"/],
    [{ server: "two", env: { JUPYTERHUB_SERVER_NAME: "one" } }, /"server" a string "two" differs from the environment's JUPYTERHUB_SERVER_NAME a string "one"/],
  ])("refuses %j", (extra, message) => {
    expect(rejection({ action: "spawn", ...base, ...extra })).toMatch(message);
  });

  it("accepts JUPYTERHUB_SERVER_NAME equal to the server name", () => {
    expect(validateRequest({ action: "spawn", args: [], env: { JUPYTERHUB_SERVER_NAME: "" }, server: "", reconcile: true })).toMatchObject({ server: "" });
  });

  it("refuses them in a kill (a kill is about one pid only)", () => {
    expect(rejection({ action: "kill", pid: 42, signal: 15, server: "" })).toMatch(/unknown key "server"/);
  });
});

describe("the server mark", () => {
  const alice = { name: "alice", home: "/home/alice", shell: "/bin/sh" };

  it("is set from the request's name, never from the hub's environment", () => {
    expect(applyEnvPolicy({}, alice, {}, { server: "two" }).env[SERVER_MARK_ENV]).toBe("two");
    expect(applyEnvPolicy({}, alice, {}, { server: "" }).env[SERVER_MARK_ENV]).toBe("");
    const forged = applyEnvPolicy({ [SERVER_MARK_ENV]: "two" }, alice, {}, {});
    expect(forged.env[SERVER_MARK_ENV]).toBeUndefined();
    expect(forged.dropped).toEqual([{ name: SERVER_MARK_ENV, reason: "it is reserved for the mediator's own mark" }]);
    expect(applyEnvPolicy({ [SERVER_MARK_ENV]: "evil" }, alice, {}, { server: "two" }).env[SERVER_MARK_ENV]).toBe("two");
  });

  it("matches only the server itself (its own pid in the pid mark) with exactly that name", () => {
    const environ = (pid: number, server: string | undefined) => Buffer.from([`${MARK_ENV}=${pid}`, ...(server === undefined ? [] : [`${SERVER_MARK_ENV}=${server}`]), "HOME=/h", ""].join("\0"));
    expect(environMarksServer(environ(100, ""), 100, "")).toBe(true);
    expect(environMarksServer(environ(100, "two"), 100, "two")).toBe(true);
    expect(environMarksServer(environ(100, "two"), 100, "")).toBe(false);
    expect(environMarksServer(environ(100, ""), 100, "two")).toBe(false);
    // A kernel of server 100 inherits both marks, with its server's pid.
    expect(environMarksServer(environ(100, ""), 101, "")).toBe(false);
    // Started without a name (an older hub or mediator): never reconciled.
    expect(environMarksServer(environ(100, undefined), 100, "")).toBe(false);
    // The name alone, without the reaper's mark: not ours.
    expect(environMarksServer(Buffer.from(`${SERVER_MARK_ENV}=\0`), 100, "")).toBe(false);
    expect(environMarksServer(environ(100, "tw"), 100, "two")).toBe(false);
  });
});

describe("the Slurm job mark", () => {
  it("carries the server name, URI-encoded, and stays ours for query and cancel", () => {
    expect(jobMarkFor(undefined)).toBe(JOB_MARK);
    expect(jobMarkFor("")).toBe("ts-sudospawner server=");
    expect(jobMarkFor("a b|c")).toBe("ts-sudospawner server=a%20b%7Cc");
    for (const mark of [JOB_MARK, jobMarkFor(""), jobMarkFor("two"), jobMarkFor("a b|c")]) expect(isJobMark(mark)).toBe(true);
    for (const mark of ["", "ts-sudospawner ", "ts-sudospawner server=a b", "ts-sudospawner server=%", "other server="]) expect(isJobMark(mark)).toBe(false);
    const job = parseSqueueLine(`12|1001|RUNNING|None|vm|${jobMarkFor("two")}`);
    expect(assertOurJob(job, 1001, "ann")).toBe(job);
    const account = { name: "ann", home: "/home/ann" };
    const resources = { partition: "debug", minutes: 1, memoryMB: 1, cpus: 1, gpus: 0 };
    expect(sbatchArgs(resources, account, {}, false, "two")).toContain("--comment=ts-sudospawner server=two");
    expect(sbatchArgs(resources, account, {}, false)).toContain(`--comment=${JOB_MARK}`);
  });

  it("reconciles only live jobs of this user with the mark of exactly this name", () => {
    const queue = [
      `10|1001|RUNNING|None|vm|${jobMarkFor("")}`,
      `11|1001|PENDING|Resources|n/a|${jobMarkFor("")}`,
      `12|1001|RUNNING|None|vm|${jobMarkFor("two")}`,
      `13|1002|RUNNING|None|vm|${jobMarkFor("")}`,
      `14|1001|RUNNING|None|vm|${JOB_MARK}`,
      `15|1001|COMPLETED|None|vm|${jobMarkFor("")}`,
      `16|1001|RUNNING|None|vm|my own comment`,
      "",
    ].join("\n");
    expect(markedJobs(queue, 1001, "")).toEqual([10, 11]);
    expect(markedJobs(queue, 1001, "two")).toEqual([12]);
    expect(markedJobs(queue, 1002, "two")).toEqual([]);
  });
});

describe("what the hub reads and logs", () => {
  it("reads stopped, [] when absent, a MEDIATOR error when malformed", () => {
    expect(answerStopped({ ok: true, pid: 5 })).toEqual([]);
    expect(answerStopped({ ok: true, pid: 5, stopped: [7, 8] })).toEqual([7, 8]);
    for (const stopped of [[1], ["7"], 7, [7.5], [2 ** 32]]) {
      expect(() => answerStopped({ ok: true, pid: 5, stopped })).toThrow(/invalid "stopped" list/);
    }
  });

  it("words the warning as the Python spawner does", () => {
    expect(describeStopped([4242], "alice", "")).toBe("stopped 1 server of alice (pid 4242) left by an earlier hub that stopped before it saved the server's state");
    expect(describeStopped([1, 2], "alice", "two")).toBe('stopped 2 servers named "two" of alice (pid 1, 2) left by an earlier hub that stopped before it saved the server\'s state');
  });
});
