/**
 * The TypeScript client as a hub uses it: running as the hub user (not root), importing the
 * installed package, calling the installed mediator through the real sudoers rule. The demo
 * single-user server (HTTP + WebSocket) is what runs.
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { demoEcho, demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV } from "../../helpers/requests.js";
import { killUserProcesses, liveProcesses, procStartTicks, procState, procStatus, userInfo, userProcesses, waitFor } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { HANG_GUARD_MS, withinHangGuard } from "../../helpers/deadlines.js";

const fx = inject("rootFixture");
const skip = skipWithout("hub client integration (test/integration/hub/hub-client.test.ts)", fx.reason);

/**
 * The user's processes that are not zombies. An exited reaper whose parent (the mediator) is gone
 * is reparented to PID 1, which here does not reap: that zombie is the mediator's business
 * (test/integration/spawn/mediator.test.ts), not the client's.
 */
/** After a failed "nothing left running" check, so one failure does not spill into the next test. */
function killLive(user: string): void {
  for (const pid of liveProcesses(user)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}


interface Reply {
  reply: number;
  ok: boolean;
  value?: unknown;
  code?: string;
  message?: string;
}

interface LogLine {
  log: string;
  name: string;
  message: string;
}

/** A hub process (the hub-driver script) running as the hub user, driven over JSON lines. */
class Hub {
  readonly logs: LogLine[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private nextId = 1;
  readonly exited: Promise<number | null>;

  constructor(driver: string, hubUser: string) {
    this.child = spawn("sudo", ["-u", hubUser, process.execPath, driver, fx.packageDir], { cwd: "/", stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (chunk: Buffer) => process.stderr.write(`[hub-driver] ${chunk.toString()}`));
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      const message = JSON.parse(line) as Reply | LogLine;
      if ("reply" in message) this.pending.get(message.reply)?.(message);
      else this.logs.push(message);
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  send(command: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  /** Send and expect success; the value. */
  async ok<T>(command: Record<string, unknown>): Promise<T> {
    const reply = await this.send(command);
    if (!reply.ok) throw new Error(`${String(command.cmd)} failed: ${reply.code}: ${reply.message}`);
    return reply.value as T;
  }

  /** Send and expect a SudoSpawnerError; the reply. */
  async fails(command: Record<string, unknown>): Promise<Reply> {
    const reply = await this.send(command);
    if (reply.ok) throw new Error(`${String(command.cmd)} unexpectedly succeeded: ${JSON.stringify(reply.value)}`);
    return reply;
  }

  logText(name: string): string {
    return this.logs
      .filter((line) => line.name === name)
      .map((line) => `${line.log}: ${line.message}`)
      .join("\n");
  }

  /** The hub going away: close its stdin; the driver exits. */
  quit(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

describe.skipIf(skip)("TypeScript SudoSpawner client through real sudo", () => {
  let dir: string;
  let driver: string;
  const hubs: Hub[] = [];
  const [alice, bob] = fx.users as [string, string];

  const newHub = () => {
    const hub = new Hub(driver, fx.hub);
    hubs.push(hub);
    return hub;
  };
  const options = (user: string, extra: Record<string, unknown> = {}) => ({ user, mediatorPath: fx.mediator, logLevel: "debug", timeoutMs: 20_000, ...extra });

  beforeAll(() => {
    // The hub user must be able to read the driver: a world-readable copy outside the repo.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-hub-client-"));
    fs.chmodSync(dir, 0o755);
    driver = path.join(dir, "hub-driver.mjs");
    fs.copyFileSync(path.join(import.meta.dirname, "hub-driver.mjs"), driver);
    fs.chmodSync(driver, 0o644);
  });

  afterAll(() => {
    for (const hub of hubs) hub.kill();
    for (const user of [...fx.users, fx.outsider]) killUserProcesses(user);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("starts servers for two users at once, as those users; poll, signal, relay, stop", async () => {
    const hub = newHub();
    const who = await hub.ok<{ uid: number; user: string }>({ cmd: "new", name: "a", options: options(alice) });
    expect(who).toEqual({ uid: userInfo(fx.hub).uid, user: fx.hub });
    await hub.ok({ cmd: "new", name: "b", options: options(bob) });

    const [portA, portB] = [await freePort(), await freePort()];
    const [startA, startB] = await Promise.all([
      hub.ok<{ pid: number }>({ cmd: "start", name: "a", args: [`--port=${portA}`], env: { ...BASE_ENV, JUPYTERHUB_SERVER_NAME: "for-alice" } }),
      hub.ok<{ pid: number }>({ cmd: "start", name: "b", args: [`--port=${portB}`], env: { ...BASE_ENV, JUPYTERHUB_SERVER_NAME: "for-bob", LD_PRELOAD: "/tmp/evil.so" } }),
    ]);
    for (const [user, pid, port, mark] of [
      [alice, startA.pid, portA, "for-alice"],
      [bob, startB.pid, portB, "for-bob"],
    ] as const) {
      const info = userInfo(user);
      expect(procStatus(pid)?.Uid?.split(/\s+/)).toEqual(Array(4).fill(String(info.uid)));
      await waitForDemoServer(port);
      const status = await demoStatus(port);
      expect(status).toMatchObject({ uid: info.uid, cwd: info.home, pid });
      expect(status.env.JUPYTERHUB_SERVER_NAME).toBe(mark);
      expect(status.env.USER).toBe(user);
      expect(status.env.LD_PRELOAD).toBeUndefined();
      expect(await demoEcho(port, `hello ${user}`)).toBe(`hello ${user}`);
    }
    // The mediator's lines and the server's own stderr reach the hub's logger, tagged with the user.
    expect(hub.logText("a")).toMatch(new RegExp(`info: \\[${alice}\\] \\[I [^\\]]+ ts-sudospawner\\] Spawning`));
    expect(hub.logText("a")).toContain(`[${alice}] demo-singleuser: listening on http://127.0.0.1:${portA} as uid ${userInfo(alice).uid}`);
    expect(hub.logText("b")).toMatch(/warn: \[tsss-b\.ob\] .*LD_PRELOAD/);

    expect(await hub.ok({ cmd: "poll", name: "a" })).toBeNull();
    // The start time, as /proc shows it, so that a restarted hub never takes a reused pid for the server.
    expect(await hub.ok({ cmd: "getState", name: "a" })).toEqual({ pid: startA.pid, startTicks: Number(procStartTicks(startA.pid)) });
    expect(await hub.ok({ cmd: "signal", name: "a", signal: 0 })).toBe(true);

    // Stop alice's server from the hub that started it: SIGINT is enough for the demo server. The
    // client would send SIGTERM only after interruptMs, far beyond the hang guard: a stop within
    // the guard is SIGINT's.
    await withinHangGuard(hub.ok({ cmd: "stop", name: "a", options: { interruptMs: 10 * HANG_GUARD_MS, termMs: 5000, killMs: 5000 } }), "stop() with SIGINT alone");
    // stop() returns once the server has exited (a zombie counts as gone); its reaper then reaps it.
    await waitFor(() => procStatus(startA.pid) === undefined, HANG_GUARD_MS, `server ${startA.pid} to be reaped, not left a zombie`);
    expect(await hub.ok({ cmd: "poll", name: "a" })).toBe(0);
    expect(await hub.ok({ cmd: "getState", name: "a" })).toEqual({});
    // Written by the server after start() had returned, through the pipe start() opened.
    await waitFor(() => hub.logText("a").includes("demo-singleuser: SIGINT, shutting down"), HANG_GUARD_MS, "the relayed shutdown line");
    expect(hub.logText("a")).not.toContain("demo-singleuser: SIGTERM");

    // The hub goes away while bob's server runs (its stderr pipe is still open): it can exit.
    const state = await hub.ok<{ pid: number }>({ cmd: "getState", name: "b" });
    expect(state).toEqual({ pid: startB.pid, startTicks: Number(procStartTicks(startB.pid)) });
    const exited = await Promise.race([hub.quit(), new Promise((resolve) => setTimeout(() => resolve("hung"), HANG_GUARD_MS))]);
    expect(exited).toBe(0);
    expect(procStatus(startB.pid)?.State).toMatch(/^[RS]/);

    // A new hub process restores the state: poll sees the server without sudo, stop ends it.
    const restarted = newHub();
    await restarted.ok({ cmd: "new", name: "b", options: options(bob) });
    await restarted.ok({ cmd: "loadState", name: "b", state });
    expect(await restarted.ok({ cmd: "poll", name: "b" })).toBeNull();
    expect(await demoEcho(portB, "still there")).toBe("still there");
    await restarted.ok({ cmd: "stop", name: "b" });
    await waitFor(() => procStatus(startB.pid) === undefined, HANG_GUARD_MS, `server ${startB.pid} to be reaped`);
    expect(await restarted.ok({ cmd: "poll", name: "b" })).toBe(0);
    expect(await restarted.ok({ cmd: "signal", name: "b", signal: "SIGTERM" })).toBe(false);
    expect(liveProcesses(alice)).toEqual([]);
    expect(liveProcesses(bob)).toEqual([]);
    await restarted.quit();
  });

  it("names the rule and the fix when sudo asks for a password (user not covered)", async () => {
    const hub = newHub();
    await hub.ok({ cmd: "new", name: "eve", options: options(fx.outsider) });
    const reply = await hub.fails({ cmd: "start", name: "eve", args: ["--port=1"], env: BASE_ENV });
    expect(reply.code).toBe("SUDO");
    expect(reply.message).toMatch(
      new RegExp(`^sudo asked for a password: the sudoers rule for hub user ${fx.hub} does not cover user ${fx.outsider} .*; run \`ts-sudospawner sudoers --hub-user ${fx.hub} --users ${fx.outsider} --install\``),
    );
    expect(reply.message).toContain("[sudo: a password is required]");
    expect(liveProcesses(fx.outsider)).toEqual([]);
    await hub.quit();
  });

  it("says when the mediator is not where mediatorPath points, or not on secure_path", async () => {
    const hub = newHub();
    await hub.ok({ cmd: "new", name: "missing", options: options(alice, { mediatorPath: path.join(fx.binDir, "no-such-mediator") }) });
    const missing = await hub.fails({ cmd: "start", name: "missing", env: BASE_ENV });
    expect(missing.code).toBe("SUDO");
    expect(missing.message).toMatch(/^sudo could not find the mediator \/opt\/tsss-test\/bin\/no-such-mediator: it does not exist/);
    await hub.ok({ cmd: "new", name: "bare", options: options(alice, { mediatorPath: "ts-sudospawner" }) });
    const bare = await hub.fails({ cmd: "start", name: "bare", env: BASE_ENV });
    expect(bare.code).toBe("SUDO");
    expect(bare.message).toMatch(/could not find the mediator "ts-sudospawner": it is not on sudo's secure_path; set mediatorPath to the absolute path/);
    await hub.ok({ cmd: "new", name: "nobody", options: options("tsss-nobody-here") });
    const nobody = await hub.fails({ cmd: "start", name: "nobody", env: BASE_ENV });
    expect(nobody.message).toMatch(/^sudo does not know the user tsss-nobody-here/);
    await hub.quit();
  });

  it("passes on the mediator's {ok:false} refusal with its reason", async () => {
    const hub = newHub();
    await hub.ok({ cmd: "new", name: "a", options: options(alice) });
    const reply = await hub.fails({ cmd: "start", name: "a", args: ["--port=1"], env: { ...BASE_ENV, BAD: "a\u0000b" } });
    expect(reply.code).toBe("MEDIATOR");
    expect(reply.message).toBe(`the mediator refused (as ${alice}): environment variable BAD contains a NUL byte`);
    expect(hub.logText("a")).toMatch(/error: \[tsss-alice\] \[E .*NUL byte/);
    expect(liveProcesses(alice)).toEqual([]);
    await hub.quit();
  });

  it("explains a privilege tool that is not installed", async () => {
    const hub = newHub();
    await hub.ok({ cmd: "new", name: "a", options: options(alice, { sudo: "/usr/bin/no-such-doas" }) });
    const reply = await hub.fails({ cmd: "start", name: "a", env: BASE_ENV });
    expect(reply.code).toBe("SUDO");
    expect(reply.message).toMatch(/no-such-doas is not installed or not on PATH/);
    await hub.quit();
  });

  it("examples/custom-spawner.ts runs as the hub user: starts, is found again after its own restart, stops", async () => {
    // Bundled the way its header says; run as the hub user like a real custom hub.
    const script = path.join(dir, "custom-spawner.mjs");
    await build({ entryPoints: [path.resolve(import.meta.dirname, "../../../examples/custom-spawner.ts")], bundle: true, platform: "node", format: "esm", outfile: script, logLevel: "warning" });
    fs.chmodSync(script, 0o644);
    const data = path.join(dir, "hub-data");
    fs.mkdirSync(data);
    fs.chownSync(data, userInfo(fx.hub).uid, userInfo(fx.hub).gid);
    const stateFile = path.join(data, "state.json");
    const port = await freePort();
    const run = (extra: string[]) => {
      const child = spawn("sudo", ["-u", fx.hub, process.execPath, script, "--user", alice, "--mediator", fx.mediator, "--port", String(port), "--state", stateFile, "--poll-interval", "1", ...extra], {
        cwd: "/",
        stdio: ["ignore", "pipe", "pipe"],
      });
      const output = { text: "" };
      child.stderr?.on("data", (chunk: Buffer) => (output.text += chunk.toString()));
      child.stdout?.on("data", (chunk: Buffer) => (output.text += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      return { child, output, exited };
    };
    const stopRun = async (handle: { child: ChildProcess; exited: Promise<number | null> }) => {
      handle.child.kill("SIGTERM"); // sudo relays it to the example
      return Promise.race([handle.exited, new Promise((resolve) => setTimeout(() => resolve("hung"), HANG_GUARD_MS))]);
    };

    const first = run(["--keep"]);
    await waitForDemoServer(port);
    await waitFor(() => fs.existsSync(stateFile), HANG_GUARD_MS, "the state file");
    const { pid } = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { pid: number };
    expect((await demoStatus(port)).pid).toBe(pid);
    expect(procStatus(pid)?.Uid?.split(/\s+/)[0]).toBe(String(userInfo(alice).uid));
    expect(first.output.text).toContain(`server of ${alice} running as pid ${pid}`);
    expect(await stopRun(first)).toBe(0);
    expect(first.output.text).toContain("leaving the server");
    expect(procState(pid)).toMatch(/[RS]/);

    const second = run([]);
    await waitFor(() => second.output.text.includes(`found the server of ${alice} still running as pid ${pid}`), HANG_GUARD_MS, "the restarted example to find its server");
    expect((await demoStatus(port)).pid).toBe(pid); // not started twice
    expect(await stopRun(second)).toBe(0);
    expect(second.output.text).toContain(`server of ${alice} stopped`);
    await waitFor(() => procStatus(pid) === undefined, HANG_GUARD_MS, `server ${pid} to be reaped`);
    expect(fs.existsSync(stateFile)).toBe(false);
    expect(liveProcesses(alice)).toEqual([]);
  });

  // JupyterHub >= 5.1 cancels start() at its timeout: whenever that happens, nothing may be left.
  it.each([150, 700, 1150])("an abort %i ms into start() leaves nothing running", async (abortAfterMs) => {
    const hub = newHub();
    await hub.ok({ cmd: "new", name: "a", options: options(alice) });
    const port = await freePort();
    const reply = await hub.send({ cmd: "start", name: "a", args: [`--port=${port}`], env: BASE_ENV, abortAfterMs });
    if (reply.ok) {
      // The answer beat the abort (the mediator answers after its 1 s grace): a normal start.
      await hub.ok({ cmd: "stop", name: "a" });
    } else {
      expect(reply.code).toBe("ABORTED");
      expect(await hub.ok({ cmd: "getState", name: "a" })).toEqual({});
    }
    await waitFor(() => liveProcesses(alice).length === 0, HANG_GUARD_MS, `no live process of ${alice} after the aborted start`).catch((error: unknown) => {
      killLive(alice);
      throw error;
    });
    await hub.quit();
  });

  it("times out a call and leaves nothing running", async () => {
    const hub = newHub();
    await hub.ok({ cmd: "new", name: "a", options: options(alice, { timeoutMs: 400 }) });
    const reply = await hub.fails({ cmd: "start", name: "a", args: [`--port=${await freePort()}`], env: BASE_ENV });
    expect(reply.code).toBe("TIMEOUT");
    expect(reply.message).toMatch(/did not answer within 400 ms/);
    await waitFor(() => liveProcesses(alice).length === 0, HANG_GUARD_MS, `no live process of ${alice} after the timed-out start`).catch((error: unknown) => {
      killLive(alice);
      throw error;
    });
    await hub.quit();
  });
});
