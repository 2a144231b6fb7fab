import { describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../../src/errors.js";
import { classifySudoFailure, extractJsonObject, interpretOutcome, type CallOutcome } from "../../../src/hub/answer.js";
import { excerpt, killAnswerAlive, spawnAnswerPid } from "../../../src/protocol/index.js";
import { buildSudoCommand } from "../../../src/hub/command-line.js";

const MEDIATOR = "/opt/ts-sudospawner/bin/ts-sudospawner";
const ctx = { command: buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR }), hubUser: "jupyterhub" };

function outcome(partial: Partial<CallOutcome>): CallOutcome {
  return { exitCode: 0, signal: null, stdout: "", stderr: "", ...partial };
}

function thrown(fn: () => unknown): SudoSpawnerError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SudoSpawnerError) return error;
    throw error;
  }
  throw new Error("expected a SudoSpawnerError");
}

describe("extracting the answer", () => {
  it("takes the single JSON object", () => {
    expect(extractJsonObject('{"ok":true,"pid":42}\n')).toEqual({ kind: "object", value: { ok: true, pid: 42 } });
  });

  it("finds the object among banner lines a site's sudo may print", () => {
    expect(extractJsonObject('Welcome to host\n{"ok":true,"alive":false}\n')).toEqual({ kind: "object", value: { ok: true, alive: false } });
  });

  it("reports no object, or several", () => {
    expect(extractJsonObject("")).toEqual({ kind: "none" });
    expect(extractJsonObject("hello\n[1,2]\n")).toEqual({ kind: "none" });
    expect(extractJsonObject("42")).toEqual({ kind: "none" });
    expect(extractJsonObject('{"ok":true}\n{"ok":false}\n')).toEqual({ kind: "several", count: 2 });
  });

  it("quotes long output briefly", () => {
    expect(excerpt("x".repeat(1000))).toHaveLength(303);
  });
});

describe("interpreting an outcome", () => {
  it("returns ok answers", () => {
    expect(interpretOutcome(outcome({ stdout: '{"ok":true,"pid":1234}\n' }), ctx)).toEqual({ ok: true, pid: 1234 });
  });

  it("keeps an ok answer with a pid even with an odd exit status", () => {
    expect(interpretOutcome(outcome({ exitCode: 1, stdout: '{"ok":true,"pid":1234}' }), ctx)).toEqual({ ok: true, pid: 1234 });
  });

  it("turns {ok:false} into a MEDIATOR error carrying the mediator's message", () => {
    const error = thrown(() => interpretOutcome(outcome({ exitCode: 1, stdout: '{"ok":false,"error":"home directory /home/alice of alice does not exist"}' }), ctx));
    expect(error.code).toBe("MEDIATOR");
    expect(error.message).toBe("the mediator refused (as alice): home directory /home/alice of alice does not exist");
  });

  it("hints at a version mismatch on a usage error (exit 2)", () => {
    const error = thrown(() => interpretOutcome(outcome({ exitCode: 2, stdout: '{"ok":false,"error":"unknown argument \\"--x\\""}' }), ctx));
    expect(error.message).toMatch(/usage error.*ts-sudospawner --version/);
  });

  it("explains non-JSON output", () => {
    const error = thrown(() => interpretOutcome(outcome({ stdout: "Usage: something else\n" }), ctx));
    expect(error.code).toBe("MEDIATOR");
    expect(error.message).toMatch(/not JSON: "Usage: something else".*really ts-sudospawner/);
  });

  it("explains an answer without ok, several answers, a signal and silence", () => {
    expect(thrown(() => interpretOutcome(outcome({ stdout: '{"pid":3}' }), ctx)).message).toMatch(/without "ok"/);
    expect(thrown(() => interpretOutcome(outcome({ stdout: '{"ok":true}\n{"ok":true}' }), ctx)).message).toMatch(/2 JSON objects/);
    expect(thrown(() => interpretOutcome(outcome({ exitCode: null, signal: "SIGKILL" }), ctx)).message).toMatch(/killed by SIGKILL/);
    const silent = thrown(() => interpretOutcome(outcome({ exitCode: 3, stderr: "Segmentation fault\n" }), ctx));
    expect(silent.message).toMatch(/exited with status 3 without an answer; stderr: "Segmentation fault"/);
  });

  it("validates pid and alive", () => {
    expect(spawnAnswerPid({ ok: true, pid: 99 })).toBe(99);
    expect(() => spawnAnswerPid({ ok: true, pid: 1 })).toThrow(/no valid pid/);
    expect(() => spawnAnswerPid({ ok: true, pid: "99" })).toThrow(/no valid pid/);
    expect(killAnswerAlive({ ok: true, alive: false })).toBe(false);
    expect(() => killAnswerAlive({ ok: true, alive: 1 })).toThrow(/no boolean "alive"/);
  });
});

describe("classifying sudo's refusals", () => {
  const failed = (stderr: string, command = ctx.command) => thrown(() => interpretOutcome(outcome({ exitCode: 1, stderr }), { command, hubUser: "jupyterhub" }));

  it("names the rule, both users and the fix when sudo asks for a password", () => {
    const error = failed("sudo: a password is required\n");
    expect(error.code).toBe("SUDO");
    expect(error.message).toMatch(/^sudo asked for a password: the sudoers rule for hub user jupyterhub does not cover user alice/);
    expect(error.message).toContain("run `ts-sudospawner sudoers --hub-user jupyterhub --users alice --install`");
    expect(error.message).toContain("[sudo: a password is required]");
  });

  it("recognises the prompt without -n and the 'not allowed' refusal", () => {
    expect(failed("sudo: a terminal is required to read the password; either use the -S option\n").message).toMatch(/asked for a password/);
    expect(failed("[sudo] password for jupyterhub: \n").message).toMatch(/asked for a password/);
    expect(failed("Sorry, user jupyterhub is not allowed to execute '/x --logging=INFO' as alice on host.\n").message).toMatch(
      /^sudo refused: the sudoers rule for hub user jupyterhub does not allow running .* as alice; run `ts-sudospawner sudoers/,
    );
  });

  it("says the mediator is missing, or not on secure_path for a bare name", () => {
    expect(failed(`sudo: ${MEDIATOR}: command not found\n`).message).toMatch(/could not find the mediator \/opt\/ts-sudospawner\/bin\/ts-sudospawner: it does not exist; install it there/);
    const bare = buildSudoCommand({ user: "alice", mediatorPath: "ts-sudospawner" });
    expect(failed("sudo: ts-sudospawner: command not found\n", bare).message).toMatch(/not on sudo's secure_path; set mediatorPath to the absolute path/);
  });

  it("tells a missing mediator from a missing rule (sudo -n says 'a password is required' for both)", () => {
    const missing = thrown(() => interpretOutcome(outcome({ exitCode: 1, stderr: "sudo: a password is required\n" }), { ...ctx, mediatorFound: false }));
    expect(missing.code).toBe("SUDO");
    expect(missing.message).toMatch(/^sudo could not find the mediator \/opt\/ts-sudospawner\/bin\/ts-sudospawner: it does not exist; install it there/);
    const bare = { command: buildSudoCommand({ user: "alice", mediatorPath: "ts-sudospawner" }), hubUser: "jupyterhub", mediatorFound: false };
    expect(thrown(() => interpretOutcome(outcome({ exitCode: 1, stderr: "sudo: a password is required\n" }), bare)).message).toMatch(
      /not on sudo's secure_path; set mediatorPath to the absolute path/,
    );
    const present = thrown(() => interpretOutcome(outcome({ exitCode: 1, stderr: "sudo: a password is required\n" }), { ...ctx, mediatorFound: true }));
    expect(present.message).toMatch(/^sudo asked for a password/);
  });

  it("recognises an unknown user, a non-executable mediator and a nosuid sudo", () => {
    expect(failed("sudo: unknown user alice\n").message).toMatch(/does not know the user alice: create the system account/);
    expect(failed(`sudo: unable to execute ${MEDIATOR}: Permission denied\n`).message).toMatch(/could not execute .* readable and executable by alice/);
    expect(failed("sudo: effective uid is not 0, is /usr/bin/sudo on a file system with the 'nosuid' option set\n").message).toMatch(/cannot gain privileges/);
    expect(failed("sudo: something new and strange\n").message).toMatch(/failed before the mediator answered/);
  });

  it("words the fix for doas", () => {
    const doas = buildSudoCommand({ user: "alice", mediatorPath: MEDIATOR, sudo: "doas" });
    const error = failed("doas: Authorization required\n", doas);
    expect(error.message).toMatch(/^doas asked for a password: the doas.conf rule for hub user jupyterhub does not cover user alice/);
    expect(error.message).toContain(`permit nopass jupyterhub as alice cmd ${MEDIATOR}`);
    expect(failed("doas: Operation not permitted\n", doas).message).toMatch(/^doas refused/);
  });

  it("does not blame sudo for the mediator's own log lines when it answered", () => {
    expect(classifySudoFailure(outcome({ stderr: "[I 2026 ts-sudospawner] Spawning x\n" }), ctx)).toBeUndefined();
  });
});
