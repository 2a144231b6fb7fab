/**
 * A spawn that commits (issue 21), through real sudo: the server stays provisional until the
 * mediator has written its answer to the hub. SIGKILL of the mediator at points spread over a
 * spawn (from before the reaper starts to after the answer, with the default grace and with
 * graceSeconds 0), of the reaper, and of sudo; a hub that closed its read end; a hub that gives up
 * (SIGTERM). Each time either the hub read a pid (then that server runs, or is known to have
 * ended, and a kill request stops it) or nothing of the user is left running.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { spawnRequest as spawnRequestOf } from "../../../src/protocol/index.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV, killRequest } from "../../helpers/requests.js";
import { killUserProcesses, liveProcesses, procState, procStatus, runMediatorAs, userInfo, userProcesses, waitFor, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { HANG_GUARD_MS } from "../../helpers/deadlines.js";

const fx = inject("rootFixture");
const skip = skipWithout("spawn commit (test/integration/spawn/spawn-commit.test.ts)", fx.reason);

const UNCOMMITTED = /\[W tsss-reaper\] the hub was never told server pid (\d+) \(the mediator ended without reporting it\): stopping the server and everything it started/;
/** Kill points per mode over a spawn, from 0 to a quarter beyond its measured answer. */
const MEDIATOR_POINTS = 10;
const OTHER_POINTS = 4;

type Mode = "grace" | "graceless";
type Victim = "mediator" | "reaper" | "sudo";

function request(port: number, mode: Mode): string {
  const args = [`--port=${port}`, "--ip=127.0.0.1"];
  return JSON.stringify(spawnRequestOf(args, BASE_ENV, mode === "graceless" ? { graceSeconds: 0 } : {}));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One call the way a hub makes it, kept open until the hub's stderr closes (the last holder is the reaper or server). */
interface HubCall {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  ended: boolean;
  exited: Promise<void>;
  stderrClosed: Promise<void>;
}

function callAsHub(user: string, input: string, closeStdout = false): HubCall {
  const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", user, "-H", fx.mediator, "--logging=info"], { stdio: ["pipe", "pipe", "pipe"] });
  const call: HubCall = { child, stdout: "", stderr: "", ended: false, exited: Promise.resolve(), stderrClosed: Promise.resolve() };
  if (closeStdout) child.stdout?.destroy();
  else child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (call.stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (call.stderr += chunk));
  call.stderrClosed = new Promise((resolve) => child.stderr?.on("close", () => resolve()));
  // Ended when sudo has exited and stdout is closed: a mediator whose sudo was killed still answers.
  const stdoutClosed = closeStdout ? Promise.resolve() : new Promise<void>((resolve) => child.stdout?.on("close", () => resolve()));
  const sudoExited = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", () => resolve());
  });
  call.exited = Promise.all([sudoExited, stdoutClosed]).then(() => {
    call.ended = true;
  });
  child.stdin?.on("error", () => undefined);
  child.stdin?.end(input);
  return call;
}

function answerOf(stdout: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Processes of uid `uid`, straight from /proc (pgrep would be too slow to aim a kill). */
function processesOf(uid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => procStatus(pid)?.Uid?.split(/\s+/)[0] === String(uid));
}

/** The processes to SIGKILL: the mediator (a process of the user whose parent is sudo), its reaper, or the sudo that runs the mediator. */
function victims(victim: Victim, user: TestUser, outerSudo: number): number[] {
  // Not a zombie: an earlier call's reaper may wait for PID 1 to reap it, its name unchanged.
  const mine = processesOf(user.uid).filter((pid) => !procStatus(pid)?.State?.startsWith("Z"));
  if (victim === "reaper") return mine.filter((pid) => procStatus(pid)?.Name === "tsss-reaper");
  const mediators = mine.filter((pid) => procStatus(Number(procStatus(pid)?.PPid))?.Name === "sudo");
  if (victim === "mediator") return mediators;
  // The hub's sudo (and, with use_pty, its monitor): every sudo above the mediator below the test's own.
  const sudos: number[] = [];
  for (const mediator of mediators) {
    for (let pid = Number(procStatus(mediator)?.PPid); pid > 1 && pid !== outerSudo && procStatus(pid)?.Name === "sudo"; pid = Number(procStatus(pid)?.PPid)) sudos.push(pid);
  }
  return sudos;
}

type Outcome = "answered" | "answered-ended" | "stopped" | "nothing-started" | "refused";

describe.skipIf(skip)("a spawn that commits, through real sudo", () => {
  let alice: TestUser;
  /** How long a spawn takes to answer here, per mode (measured, to spread the kill points). */
  const spawnMs: Record<Mode, number> = { grace: 0, graceless: 0 };
  const outcomes: string[] = [];

  beforeAll(async () => {
    alice = userInfo(fx.users[0] as string);
    for (const mode of ["grace", "graceless"] as const) {
      const started = Date.now();
      const spawned = await runMediatorAs(fx.hub, alice.name, fx.mediator, request(await freePort(), mode), ["--logging=info"]);
      spawnMs[mode] = Date.now() - started;
      expect(spawned.answer, spawned.stderr).toEqual({ ok: true, pid: expect.any(Number) });
      await stop(spawned.answer?.pid as number);
    }
  }, 120_000);

  afterEach(() => killUserProcesses(alice.name));

  afterAll(() => {
    console.log(`spawn-commit: spawn answer ${JSON.stringify(spawnMs)} ms; outcomes:\n  ${outcomes.join("\n  ")}`);
    expect(userProcesses(alice.name)).toEqual([]);
  });

  async function stop(pid: number): Promise<void> {
    const term = await runMediatorAs(fx.hub, alice.name, fx.mediator, killRequest(pid, 15), ["--logging=info"]);
    expect(term.answer, term.stderr).toEqual({ ok: true, alive: true });
    await waitFor(() => !["R", "S", "D"].includes(procState(pid) ?? ""), HANG_GUARD_MS, `server ${pid} to stop`);
  }

  /** Nothing of the user runs (an exited reaper may linger as PID 1's zombie: gone all the same). */
  function nothingLeft(): Promise<void> {
    return waitFor(() => liveProcesses(alice.name).length === 0, HANG_GUARD_MS, `no running process of ${alice.name} (left: ${liveProcesses(alice.name).join(", ")})`);
  }

  /** Starts a spawn, SIGKILLs `victim` after delayMs (or as soon as it exists), and judges the result. */
  async function killDuring(victim: Victim, mode: Mode, delayMs: number): Promise<Outcome> {
    const call = callAsHub(alice.name, request(await freePort(), mode));
    await sleep(delayMs);
    let killed: number[] = [];
    while (!call.ended && killed.length === 0) {
      killed = victims(victim, alice, call.child.pid as number);
      for (const pid of killed) process.kill(pid, "SIGKILL");
      await new Promise((resolve) => setImmediate(resolve)); // let the call's exit be seen
    }
    await call.exited;
    const answer = answerOf(call.stdout);
    const what = `${victim} SIGKILLed ${killed.length === 0 ? "never (the call had ended)" : `after ${delayMs} ms`} (${mode}): answer ${call.stdout.trim() || "none"}`;
    let outcome: Outcome = "nothing-started";
    if (answer?.ok === true && typeof answer.pid === "number") {
      const pid = answer.pid;
      if (victim === "reaper" && killed.length > 0) {
        // The reaper's death takes the server with it (PR_SET_PDEATHSIG, SIGKILL), which may still
        // be on its way out now: it ends, and the hub's poll sees it ended.
        await waitFor(() => !["R", "S", "D"].includes(procState(pid) ?? ""), HANG_GUARD_MS, `answered server ${pid} to end with its reaper`);
        outcome = "answered-ended";
      } else if (["R", "S", "D"].includes(procState(pid) ?? "")) {
        // The hub knows this server: it runs, and a kill request reaches it.
        await stop(pid);
        outcome = "answered";
      } else {
        expect.fail(`${what}: an answered server is gone, though only the reaper's death ends it\n${call.stderr}`);
      }
    }
    await nothingLeft();
    await Promise.race([call.stderrClosed, sleep(HANG_GUARD_MS)]);
    if (!(answer?.ok === true)) outcome = UNCOMMITTED.test(call.stderr) ? "stopped" : answer?.ok === false ? "refused" : "nothing-started";
    outcomes.push(`${what} -> ${outcome}`);
    return outcome;
  }

  function points(mode: Mode, count: number): number[] {
    const span = spawnMs[mode] * 1.25;
    return Array.from({ length: count }, (_, i) => Math.round((span * i) / (count - 1)));
  }

  for (const mode of ["grace", "graceless"] as const) {
    it(`SIGKILL of the mediator at ${MEDIATOR_POINTS} points of a spawn (${mode}): a pid the hub read, or nothing left`, async () => {
      const seen: Outcome[] = [];
      for (const delay of points(mode, MEDIATOR_POINTS)) seen.push(await killDuring("mediator", mode, delay));
      expect(seen).not.toContain("answered-ended");
      // The points reach beyond the answer; and with a grace second most fall between "P" and the answer.
      expect(seen).toContain("answered");
      if (mode === "grace") expect(seen.filter((o) => o === "stopped").length).toBeGreaterThanOrEqual(3);
    }, 600_000);

    it(`SIGKILL of the reaper and of sudo at ${OTHER_POINTS} points each (${mode}): the same`, async () => {
      for (const victim of ["reaper", "sudo"] as const) {
        for (const delay of points(mode, OTHER_POINTS)) await killDuring(victim, mode, delay);
      }
    }, 600_000);

    it(`stops the server when the hub closed its read end before the answer (${mode})`, async () => {
      const call = callAsHub(alice.name, request(await freePort(), mode), true);
      await call.exited;
      await nothingLeft();
      await Promise.race([call.stderrClosed, sleep(HANG_GUARD_MS)]);
      expect(call.stderr).toMatch(/\[E [^\]]+\] the hub closed stdout before the answer could be written/);
      const stopped = /\[E [^\]]+\] stopped server pid (\d+) because its pid could not be reported/.exec(call.stderr);
      expect(stopped, call.stderr).not.toBeNull();
      expect(UNCOMMITTED.exec(call.stderr)?.[1], call.stderr).toBe(stopped?.[1]);
      // The demo server may catch SIGTERM and exit on its own.
      expect(call.stderr).toMatch(new RegExp(`\\[I tsss-reaper\\] server pid ${stopped?.[1]} (was killed by signal 15|exited with status \\d+)`));
    }, 120_000);
  }

  it("a hub that gives up during the grace (SIGTERM through sudo): the server is stopped, nothing left", async () => {
    const call = callAsHub(alice.name, request(await freePort(), "grace"));
    await waitFor(() => victims("reaper", alice, 0).length > 0, HANG_GUARD_MS, "the reaper to start");
    const sudo = victims("sudo", alice, call.child.pid as number).at(-1) as number;
    process.kill(sudo, "SIGTERM");
    await call.exited;
    expect(answerOf(call.stdout)).toEqual({ ok: false, error: expect.stringMatching(/^interrupted by SIG(TERM|HUP) while starting; the server \(pid \d+\) was stopped$/) });
    await nothingLeft();
  }, 120_000);
});
