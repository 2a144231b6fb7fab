/**
 * Reconciliation at start through real sudo: a spawn with `"server": NAME, "reconcile": true` first
 * stops the user's marked servers of that name (and only those), then starts the new one. Named
 * servers of one user leave each other alone; servers started without a name (an older hub) and
 * other users' servers are never touched; a refused spawn stops nothing.
 */
import fs from "node:fs";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { mediatorCalls, expectRefusal } from "../../helpers/mediator-calls.js";
import { freePort } from "../../helpers/ports.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { BASE_ENV, killRequest } from "../../helpers/requests.js";
import { killUserProcesses, procState, userInfo, userProcesses, waitFor, type MediatorRun, type TestUser } from "../../helpers/system.js";

const fx = inject("rootFixture");
const skip = skipWithout("reconciliation at start (test/integration/spawn/reconcile.test.ts)", fx.reason);

function environ(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

const running = (pid: number) => /[RSD]/.test(procState(pid) ?? "");

describe.skipIf(skip)("reconciliation at start through real sudo", () => {
  let alice: TestUser;
  let bob: TestUser;
  const calls = mediatorCalls(fx);

  beforeAll(() => {
    alice = userInfo(fx.users[0] as string);
    bob = userInfo(fx.users[1] as string);
  });

  afterEach(() => {
    for (const user of fx.users) killUserProcesses(user);
    for (const user of fx.users) expect(userProcesses(user)).toEqual([]);
  });

  /** A demo server of `user`, named `server` (absent: a spawn without a name, as an older hub sends). */
  async function spawn(user: TestUser, server: string | undefined, reconcile = false, env: Record<string, string> = {}): Promise<{ pid: number; run: MediatorRun }> {
    const port = await freePort();
    const request: Record<string, unknown> = { action: "spawn", args: [`--port=${port}`, "--ip=127.0.0.1"], env: { ...BASE_ENV, ...env }, graceSeconds: 0 };
    if (server !== undefined) request.server = server;
    if (reconcile) request.reconcile = true;
    const run = await calls.call(user, JSON.stringify(request));
    expect(run.status, run.stderr).toBe(0);
    return { pid: run.answer?.pid as number, run };
  }

  it("stops only the user's marked server of the same name, then starts the new one", async () => {
    const old = await spawn(alice, "");
    const two = await spawn(alice, "two");
    const unnamed = await spawn(alice, undefined);
    const bobs = await spawn(bob, "");
    expect(environ(old.pid)).toMatchObject({ TS_SUDOSPAWNER_PID: String(old.pid), TS_SUDOSPAWNER_SERVER: "" });
    expect(environ(two.pid)).toMatchObject({ TS_SUDOSPAWNER_PID: String(two.pid), TS_SUDOSPAWNER_SERVER: "two" });
    expect(environ(unnamed.pid).TS_SUDOSPAWNER_SERVER).toBeUndefined();

    const fresh = await spawn(alice, "", true);
    expect(fresh.run.answer).toEqual({ ok: true, pid: expect.any(Number), stopped: [old.pid] });
    expect(fresh.run.stderr).toMatch(new RegExp(`stopping pid ${old.pid}, a default server of ${alice.name} that no hub knows`));
    // Stopped before the answer: the old server is gone (at most a zombie its reaper is reaping).
    await waitFor(() => !running(old.pid), 5_000, `old server ${old.pid} to be gone`);
    for (const pid of [fresh.pid, two.pid, unnamed.pid, bobs.pid]) expect(running(pid), `pid ${pid} still runs`).toBe(true);
    expect(environ(fresh.pid)).toMatchObject({ TS_SUDOSPAWNER_PID: String(fresh.pid), TS_SUDOSPAWNER_SERVER: "" });

    // The same for the named server; nothing left to stop answers an empty list.
    const freshTwo = await spawn(alice, "two", true);
    expect(freshTwo.run.answer).toEqual({ ok: true, pid: expect.any(Number), stopped: [two.pid] });
    const none = await spawn(alice, "three", true);
    expect(none.run.answer).toEqual({ ok: true, pid: expect.any(Number), stopped: [] });
    await waitFor(() => !running(two.pid), 5_000, `old server ${two.pid} to be gone`);
    for (const pid of [fresh.pid, freshTwo.pid, none.pid, unnamed.pid, bobs.pid]) expect(running(pid), `pid ${pid} still runs`).toBe(true);
  }, 60_000);

  it("never reaches another user's server: bob's reconcile and kill leave alice's alone", async () => {
    const alices = await spawn(alice, "");
    const bobs = await spawn(bob, "", true);
    expect(bobs.run.answer).toEqual({ ok: true, pid: expect.any(Number), stopped: [] });
    const kill = await calls.call(bob, killRequest(alices.pid, 15));
    expect(kill.answer).toEqual({ ok: true, alive: false });
    expect(running(alices.pid)).toBe(true);
  }, 60_000);

  it("ignores a mark the hub puts into the environment, and a refused spawn stops nothing", async () => {
    // The hub cannot name a server through the environment: the mark comes from "server" only.
    const forged = await spawn(alice, undefined, false, { TS_SUDOSPAWNER_SERVER: "" });
    expect(forged.run.stderr).toMatch(/dropped environment variable TS_SUDOSPAWNER_SERVER: it is reserved for the mediator's own mark/);
    expect(environ(forged.pid).TS_SUDOSPAWNER_SERVER).toBeUndefined();
    const marked = await spawn(alice, "");
    const refused = await calls.call(alice, JSON.stringify({ action: "spawn", args: ["--no-such-option"], env: BASE_ENV, server: "", reconcile: true }));
    expectRefusal(refused, /--no-such-option/);
    const mismatch = await calls.call(alice, JSON.stringify({ action: "spawn", args: [], env: { ...BASE_ENV, JUPYTERHUB_SERVER_NAME: "two" }, server: "", reconcile: true }));
    expectRefusal(mismatch, /differs from the environment's JUPYTERHUB_SERVER_NAME/);
    for (const pid of [forged.pid, marked.pid]) expect(running(pid), `pid ${pid} still runs`).toBe(true);
  }, 60_000);

  it("sends SIGKILL to a server that is still there after SIGTERM's bound", async () => {
    const stuck = await spawn(alice, "two");
    // A stopped process keeps SIGTERM pending; only SIGKILL ends it.
    process.kill(stuck.pid, "SIGSTOP");
    const fresh = await spawn(alice, "two", true);
    expect(fresh.run.answer).toEqual({ ok: true, pid: expect.any(Number), stopped: [stuck.pid] });
    expect(fresh.run.stderr).toMatch(new RegExp(`pid ${stuck.pid} is still there 5 s after SIGTERM: sending SIGKILL`));
    await waitFor(() => !running(stuck.pid), 5_000, `stuck server ${stuck.pid} to be gone`);
    expect(running(fresh.pid)).toBe(true);
  }, 60_000);
});
