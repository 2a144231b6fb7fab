/**
 * The client's effectful half against a fake privilege tool and a fake mediator (no root needed):
 * argv, request, answer, stderr relay after return, timeout, abort, escalation, state.
 * The real mediator and real sudo are in test/integration/hub/hub-client.test.ts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../src/errors.js";
import { processAlive, waitForExit } from "../../src/hub/liveness.js";
import type { HubLogger } from "../../src/hub/logger.js";
import { HANG_GUARD_MS } from "../helpers/deadlines.js";
import { SudoSpawner, type SudoSpawnerOptions } from "../../src/hub/spawner.js";

let dir: string;
let fakeSudo: string;
let fakeMediator: string;

// Drops `-u USER` and options, then runs the rest, recording its argv: sudo's shape without sudo.
const FAKE_SUDO = `#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_DIR/sudo-argv"
[ "$1" = "-u" ] && shift 2
while [ "\${1#-}" != "$1" ]; do shift; done
exec "$@"
`;

const FAKE_MEDIATOR = `#!${process.execPath}
const fs = require("node:fs");
const { spawn } = require("node:child_process");
const dir = process.env.FAKE_DIR;
const mode = process.env.FAKE_MODE || "ok";
const log = (name, value) => fs.appendFileSync(dir + "/" + name, JSON.stringify(value) + "\\n");
const answer = (value) => process.stdout.write(JSON.stringify(value) + "\\n");
const server = (script) => {
  // The "server" shares our stderr, as the real one does.
  const child = spawn("sh", ["-c", script], { detached: true, stdio: ["ignore", 2, 2] });
  child.unref();
  return child.pid;
};
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  log("requests", { argv: process.argv.slice(2), request });
  if (request.action === "kill") {
    let alive = true;
    try { process.kill(request.pid, request.signal); } catch (e) { alive = false; }
    answer({ ok: true, alive });
    return;
  }
  switch (mode) {
    case "ok": {
      process.stderr.write("[I 2026-11-25 07:30:00.000 ts-sudospawner] Spawning fake server\\n");
      const pid = server('sleep 0.4; echo "[W 2026 FakeServer] still logging after the call returned" >&2; exec sleep 30');
      answer({ ok: true, pid });
      return;
    }
    case "crash": {
      // The reaper's exit line, as the real one writes it on the shared stderr.
      const pid = server('sleep 0.3; echo "[I tsss-reaper] server pid $$ exited with status 3" >&2; exit 3');
      answer({ ok: true, pid });
      return;
    }
    case "late-line": {
      // The reaper's line trails the server's end by 0.2 s (it reaps first), while stderr stays open.
      const pid = server('sleep 0.3; (sleep 0.2; echo "[I tsss-reaper] server pid $$ exited with status 3" >&2) & exit 3');
      answer({ ok: true, pid });
      return;
    }
    case "bad-stopped": {
      const pid = server("exec sleep 30");
      answer({ ok: true, pid, stopped: [1] });
      return;
    }
    case "stubborn": {
      const pid = server("trap '' INT TERM; while :; do sleep 0.05; done");
      setTimeout(() => answer({ ok: true, pid }), 200);
      return;
    }
    case "password":
      process.stderr.write("sudo: a password is required\\n");
      process.exit(1);
    case "refuse":
      process.stderr.write("[E 2026 ts-sudospawner] refusing\\n");
      answer({ ok: false, error: "refusing to act as root: single-user servers must run as ordinary users" });
      process.exit(1);
    case "garbage":
      process.stdout.write("this is not the mediator\\n");
      return;
    case "hang":
      fs.writeFileSync(dir + "/hang-pid", String(process.pid));
      setInterval(() => undefined, 1000);
      return;
    case "late": {
      // Ignores SIGTERM and starts the server anyway, after the caller gave up.
      process.on("SIGTERM", () => log("late-term", true));
      fs.writeFileSync(dir + "/late-ready", String(process.pid));
      setTimeout(() => {
        const pid = server("exec sleep 30");
        fs.writeFileSync(dir + "/late-pid", String(pid));
        answer({ ok: true, pid });
      }, 600);
      return;
    }
  }
});
`;

function recorder(): { logger: HubLogger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => lines.push(`${level}:${message}`);
  return { logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

function client(mode: string, extra: Partial<SudoSpawnerOptions> = {}): { spawner: SudoSpawner; lines: string[] } {
  const { logger, lines } = recorder();
  const spawner = new SudoSpawner({
    user: "j.doe",
    mediatorPath: fakeMediator,
    sudo: fakeSudo,
    logger,
    sudoEnv: { ...process.env, FAKE_DIR: dir, FAKE_MODE: mode },
    ...extra,
  });
  return { spawner, lines };
}

function requests(): Array<{ argv: string[]; request: Record<string, unknown> }> {
  const file = path.join(dir, "requests");
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { argv: string[]; request: Record<string, unknown> });
}

async function caught(promise: Promise<unknown>): Promise<SudoSpawnerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SudoSpawnerError) return error;
    throw error;
  }
  throw new Error("expected a SudoSpawnerError");
}

/** Resolves once `file` exists; only the test's own timeout bounds the wait. */
async function whenExists(file: string): Promise<void> {
  while (!fs.existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 20));
}

const started: number[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-hub-unit-"));
  fakeSudo = path.join(dir, "fake-sudo");
  fakeMediator = path.join(dir, "fake-mediator");
  fs.writeFileSync(fakeSudo, FAKE_SUDO, { mode: 0o755 });
  fs.writeFileSync(fakeMediator, FAKE_MEDIATOR, { mode: 0o755 });
});

afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function resetLogs(): void {
  for (const name of ["requests", "sudo-argv", "late-term", "late-ready", "late-pid", "hang-pid"]) fs.rmSync(path.join(dir, name), { force: true });
}

describe("SudoSpawner against a fake sudo and mediator", () => {
  it("asks for no grace when told (graceSeconds 0 in the spawn request), and sends no key otherwise", async () => {
    resetLogs();
    const { spawner } = client("ok");
    const { pid } = await spawner.start({ args: ["--port=8891"], graceSeconds: 0 });
    started.push(pid);
    expect(requests()[0]?.request).toEqual({ action: "spawn", args: ["--port=8891"], env: {}, graceSeconds: 0 });
  });

  it("starts: runs `SUDO -u USER -nH MEDIATOR --logging=INFO`, sends the request, returns the pid", async () => {
    resetLogs();
    const { spawner, lines } = client("ok");
    const { pid } = await spawner.start({ args: ["--port=8890"], env: { JUPYTERHUB_API_TOKEN: "secret" } });
    started.push(pid);
    expect(spawner.pid).toBe(pid);
    expect(fs.readFileSync(path.join(dir, "sudo-argv"), "utf8").trim()).toBe(`-u j.doe -nH ${fakeMediator} --logging=INFO`);
    expect(requests()).toEqual([
      { argv: ["--logging=INFO"], request: { action: "spawn", args: ["--port=8890"], env: { JUPYTERHUB_API_TOKEN: "secret" } } },
    ]);
    expect(lines).toContain("info:[j.doe] [I 2026-11-25 07:30:00.000 ts-sudospawner] Spawning fake server");
    expect(spawner.getState()).toEqual({ pid, startTicks: expect.any(Number) as number });
    expect(await spawner.poll()).toBeNull();
    // The server writes to the inherited stderr after start() returned: still relayed.
    expect(lines.some((line) => line.includes("still logging"))).toBe(false);
    await expect.poll(() => lines.some((line) => line === "warn:[j.doe] [W 2026 FakeServer] still logging after the call returned"), { timeout: 3000 }).toBe(true);
    await expect(spawner.start()).rejects.toThrow(/already running as pid/);

    expect(await spawner.signal(0)).toBe(true);
    await spawner.stop();
    expect(processAlive(pid)).toBe(false);
    expect(requests().slice(1).map((entry) => entry.request)).toEqual([
      { action: "kill", pid, signal: 0 },
      { action: "kill", pid, signal: 2 },
    ]);
    expect(spawner.pid).toBeUndefined();
    expect(await spawner.poll()).toBe(0); // the fake has no reaper: no exit line, status unknown
    expect(spawner.getState()).toEqual({});
  });

  it("escalates SIGINT -> SIGTERM -> SIGKILL for a server that ignores the first two", async () => {
    resetLogs();
    const { spawner } = client("stubborn");
    const { pid } = await spawner.start();
    started.push(pid);
    const t0 = Date.now();
    await spawner.stop({ interruptMs: 300, termMs: 300, killMs: 3000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    expect(processAlive(pid)).toBe(false);
    expect(requests().slice(1).map((entry) => entry.request.signal)).toEqual([2, 15, 9]);
  });

  it("stop with interruptMs 0 starts at SIGTERM", async () => {
    resetLogs();
    const { spawner } = client("stubborn");
    const { pid } = await spawner.start();
    started.push(pid);
    await spawner.stop({ interruptMs: 0, termMs: 200, killMs: 3000 });
    expect(requests().slice(1).map((entry) => entry.request.signal)).toEqual([15, 9]);
  });

  it("passes the log level and a custom tool argument list", async () => {
    resetLogs();
    const { spawner } = client("ok", { logLevel: "debug", sudoArgs: ["-n"] });
    const { pid } = await spawner.start();
    started.push(pid);
    expect(fs.readFileSync(path.join(dir, "sudo-argv"), "utf8").trim()).toBe(`-u j.doe -n ${fakeMediator} --logging=DEBUG`);
    await spawner.stop({ interruptMs: 0 });
  });

  it("explains a password prompt", async () => {
    const error = await caught(client("password").spawner.start());
    expect(error.code).toBe("SUDO");
    expect(error.message).toMatch(new RegExp(`^fake-sudo asked for a password: the sudoers rule for hub user ${os.userInfo().username} does not cover user j\\.doe`));
    expect(error.message).toContain("ts-sudospawner sudoers --hub-user");
  });

  it("passes on the mediator's refusal", async () => {
    const { spawner, lines } = client("refuse");
    const error = await caught(spawner.start());
    expect(error.code).toBe("MEDIATOR");
    expect(error.message).toBe("the mediator refused (as j.doe): refusing to act as root: single-user servers must run as ordinary users");
    expect(lines).toContain("error:[j.doe] [E 2026 ts-sudospawner] refusing");
    expect(spawner.pid).toBeUndefined();
  });

  it("explains output that is not the mediator's", async () => {
    const error = await caught(client("garbage").spawner.start());
    expect(error.code).toBe("MEDIATOR");
    expect(error.message).toMatch(/not JSON: "this is not the mediator"/);
  });

  it("explains a missing sudo", async () => {
    const error = await caught(client("ok", { sudo: path.join(dir, "no-such-sudo") }).spawner.start());
    expect(error.code).toBe("SUDO");
    expect(error.message).toMatch(/no-such-sudo is not installed or not on PATH|not installed or not on PATH/);
  });

  it("times out and kills the in-flight sudo", async () => {
    resetLogs();
    // Long enough for the fake to start on a loaded machine and say it is in flight.
    const { spawner } = client("hang", { timeoutMs: 3000 });
    // The fake sudo hangs for good: only the timeout can end the call (the test's own timeout
    // guards against it never coming).
    const error = await caught(spawner.start());
    expect(error.code).toBe("TIMEOUT");
    expect(error.message).toMatch(/did not answer within 3000 ms/);
    const hung = Number(fs.readFileSync(path.join(dir, "hang-pid"), "utf8"));
    expect(await waitForExit(hung, HANG_GUARD_MS)).toBe(true);
  });

  it("honours an AbortSignal: kills the in-flight call", async () => {
    resetLogs();
    const { spawner } = client("hang");
    const controller = new AbortController();
    const call = caught(spawner.start({ signal: controller.signal }));
    // Abort once the call is in flight (the fake has started), however slow the machine is.
    await whenExists(path.join(dir, "hang-pid"));
    controller.abort(new Error("hub start timeout"));
    const error = await call;
    expect(error.code).toBe("ABORTED");
    const hung = Number(fs.readFileSync(path.join(dir, "hang-pid"), "utf8"));
    expect(await waitForExit(hung, HANG_GUARD_MS)).toBe(true);
    expect(spawner.pid).toBeUndefined();
  });

  it("does not run anything when already aborted", async () => {
    resetLogs();
    const error = await caught(client("ok").spawner.start({ signal: AbortSignal.abort() }));
    expect(error.code).toBe("ABORTED");
    expect(requests()).toEqual([]);
  });

  it("stops a server that an aborted start still reported", async () => {
    resetLogs();
    const { spawner, lines } = client("late", { timeoutMs: 10_000 });
    const controller = new AbortController();
    const call = caught(spawner.start({ signal: controller.signal }));
    // Abort once the fake ignores SIGTERM and is about to start its server anyway.
    await whenExists(path.join(dir, "late-ready"));
    controller.abort();
    const error = await call;
    expect(error.code).toBe("ABORTED");
    await expect.poll(() => fs.existsSync(path.join(dir, "late-pid")), { timeout: 5000 }).toBe(true);
    const pid = Number(fs.readFileSync(path.join(dir, "late-pid"), "utf8"));
    started.push(pid);
    expect(await waitForExit(pid, HANG_GUARD_MS)).toBe(true);
    expect(lines.some((line) => line.includes(`still started pid ${pid}: stopping it`))).toBe(true);
    expect(spawner.pid).toBeUndefined();
  });
});

describe("state", () => {
  it("round-trips and validates", () => {
    const { spawner } = client("ok");
    expect(spawner.getState()).toEqual({});
    spawner.loadState({ pid: 4242 });
    expect(spawner.getState()).toEqual({ pid: 4242 });
    spawner.loadState({});
    expect(spawner.pid).toBeUndefined();
    spawner.loadState(null);
    expect(spawner.pid).toBeUndefined();
    expect(() => spawner.loadState({ pid: "4242" })).toThrow(/invalid pid in spawner state/);
    expect(() => spawner.loadState({ pid: 1 })).toThrow(/invalid pid/);
    expect(() => spawner.loadState([1])).toThrow(/invalid spawner state/);
  });

  it("round-trips the start time, and refuses a bad one", () => {
    const { spawner } = client("ok");
    spawner.loadState({ pid: 4242, startTicks: 99 });
    expect(spawner.getState()).toEqual({ pid: 4242, startTicks: 99 });
    expect(() => spawner.loadState({ pid: 4242, startTicks: "99" })).toThrow(/invalid startTicks in spawner state/);
    expect(() => spawner.loadState({ pid: 4242, startTicks: -1 })).toThrow(/invalid startTicks/);
  });

  it("poll returns the real exit status the reaper reported on the relayed stderr, and keeps it until the next start", async () => {
    resetLogs();
    const { spawner } = client("crash");
    const { pid } = await spawner.start();
    started.push(pid);
    await expect.poll(() => spawner.poll(), { timeout: 5000 }).toBe(3);
    expect(spawner.pid).toBeUndefined();
    expect(spawner.getState()).toEqual({});
    // A hub polls an ended server more than once (JupyterHub: poll_and_notify, then User.stop).
    expect(await spawner.poll()).toBe(3);
    spawner.clearState();
    expect(await spawner.poll()).toBe(3);
    const next = await spawner.start();
    started.push(next.pid);
    expect(await spawner.poll()).toBeNull();
  });

  it("poll waits for a reaper line that trails the server's end, while the stderr is open", async () => {
    resetLogs();
    const { spawner } = client("late-line");
    const { pid } = await spawner.start();
    started.push(pid);
    await expect.poll(() => processAlive(pid), { timeout: 5000 }).toBe(false);
    expect(await spawner.poll()).toBe(3);
    expect(await spawner.poll()).toBe(3);
  });

  it("takes a live process with another start time for a reused pid: gone, status unknown, never stopped", async () => {
    resetLogs();
    const { spawner, lines } = client("ok");
    const other = (await import("node:child_process")).spawn("sleep", ["30"]);
    started.push(other.pid as number);
    spawner.loadState({ pid: other.pid, startTicks: 1 });
    expect(await spawner.poll()).toBe(0);
    expect(lines).toContain(`warn:server pid ${other.pid as number} of j.doe is gone: the pid now belongs to a process that started later`);
    spawner.loadState({ pid: other.pid, startTicks: 1 });
    await spawner.stop();
    expect(requests()).toEqual([]); // no signal reached it
    expect(processAlive(other.pid as number)).toBe(true);
    const { spawner: same } = client("ok");
    same.loadState({ pid: other.pid });
    expect(await same.poll()).toBeNull(); // without a start time, kill(pid, 0) alone judges
    other.kill("SIGKILL");
  });

  it("refuses a second start while one is in flight, and polls null meanwhile", async () => {
    resetLogs();
    const { spawner } = client("stubborn");
    const first = spawner.start();
    await expect(spawner.start()).rejects.toThrow(/a start for j\.doe is already in progress/);
    expect(await spawner.poll()).toBeNull();
    const { pid } = await first;
    started.push(pid);
    expect(requests().filter((entry) => entry.request.action === "spawn")).toHaveLength(1);
    await spawner.stop({ interruptMs: 0, termMs: 200, killMs: 3000 });
  });

  it("keeps a started server whose answer lists stopped servers in an unknown form, and says so", async () => {
    resetLogs();
    const { spawner, lines } = client("bad-stopped");
    const { pid } = await spawner.start();
    started.push(pid);
    expect(spawner.pid).toBe(pid);
    expect(lines.some((line) => line.startsWith("warn:the mediator's answer for j.doe names stopped servers in a form this client does not read"))).toBe(true);
    await spawner.stop({ interruptMs: 0 });
    expect(processAlive(pid)).toBe(false);
  });

  it("poll reports a vanished server as exited and forgets it; signal on nothing is false", async () => {
    const { spawner } = client("ok");
    const child = (await import("node:child_process")).spawn("true");
    await new Promise((resolve) => child.on("exit", resolve));
    spawner.loadState({ pid: child.pid });
    expect(await spawner.poll()).toBe(0);
    expect(spawner.getState()).toEqual({});
    expect(await spawner.signal("SIGTERM")).toBe(false);
    await spawner.stop();
  });

  it("rejects bad options at construction", () => {
    expect(() => new SudoSpawner({ user: "#0", mediatorPath: "/x" })).toThrow(/invalid user name/);
    expect(() => new SudoSpawner({ user: "alice", mediatorPath: "/x", timeoutMs: 0 })).toThrow(/timeoutMs must be positive/);
    expect(new SudoSpawner({ user: "alice", mediatorPath: "/x" }).commandLine).toEqual(["sudo", "-u", "alice", "-nH", "/x", "--logging=INFO"]);
  });
});
