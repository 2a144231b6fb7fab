import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { processAlive, signalNumber, sleep, waitForExit } from "../../src/hub/liveness.js";
import { STAT_FIELD, statField } from "../../src/system/proc-stat.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const IS_ROOT = process.getuid?.() === 0;
/** As root: the server's uid (nobody) and the hub's, another unprivileged uid with no passwd entry needed. */
const TARGET_UID = 65534;
const HUB_UID = 65533;
/** Only guards against a hang; the events come in milliseconds. */
const HANG_GUARD_MS = 30_000;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-liveness-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function procFile(pid: number, name: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${name}`, "utf8");
  } catch {
    return undefined;
  }
}
const procComm = (pid: number) => procFile(pid, "comm")?.trim();
const procUid = (pid: number) => Number(/^Uid:\t(\d+)/m.exec(procFile(pid, "status") ?? "")?.[1]);
const procState = (pid: number) => {
  const stat = procFile(pid, "stat");
  return stat === undefined ? undefined : statField(stat, STAT_FIELD.state);
};

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + HANG_GUARD_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${HANG_GUARD_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\n")) resolve(text.split("\n")[0] as string);
    });
    child.once("exit", () => reject(new Error(`exited before writing a line: ${JSON.stringify(text)}`)));
  });
}

/**
 * processAlive() (src/hub/liveness.ts, bundled) and kill(pid, 0)'s own answer, seen by another
 * user than the target's: as root, run as HUB_UID; otherwise as ourselves.
 */
function checkAsAnotherUser(pid: number): { kill: string; alive: boolean } {
  const bundle = path.join(work, "liveness.cjs");
  if (!fs.existsSync(bundle)) {
    buildSync({ entryPoints: [path.join(ROOT, "src/hub/liveness.ts")], bundle: true, platform: "node", format: "cjs", target: "node20", outfile: bundle, logLevel: "silent", absWorkingDir: ROOT });
    fs.chmodSync(work, 0o755);
    fs.chmodSync(bundle, 0o644);
  }
  const script = `const { processAlive } = require(${JSON.stringify(bundle)});
    let kill = "none";
    try { process.kill(${pid}, 0); } catch (error) { kill = error.code; }
    process.stdout.write(JSON.stringify({ kill, alive: processAlive(${pid}) }));`;
  const [file, args] = IS_ROOT
    ? ["/usr/bin/setpriv", [`--reuid=${HUB_UID}`, `--regid=${HUB_UID}`, "--clear-groups", process.execPath, "-e", script]]
    : [process.execPath, ["-e", script]];
  const result = spawnSync(file as string, args as string[], { encoding: "utf8", cwd: "/", timeout: HANG_GUARD_MS });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { kill: string; alive: boolean };
}

describe("liveness without sudo", () => {
  it("sees this process alive and a finished child gone", async () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawn("true");
    await new Promise((resolve) => child.on("exit", resolve));
    expect(processAlive(child.pid as number)).toBe(false);
  });

  it("counts EPERM (someone else's process) as alive, and kill(2) did answer EPERM", async () => {
    // The hub's view: the server belongs to another user. As root, a target of one unprivileged uid
    // and the check run as another; otherwise PID 1 (root's) from here.
    let target: ChildProcess | undefined;
    try {
      let pid = 1;
      if (IS_ROOT) {
        target = spawn("/usr/bin/setpriv", [`--reuid=${TARGET_UID}`, `--regid=${TARGET_UID}`, "--clear-groups", "/bin/sleep", "600"], { stdio: "ignore" });
        pid = target.pid as number;
        await waitUntil(() => procComm(pid) === "sleep", `${pid} to run sleep as uid ${TARGET_UID}`);
        expect(procUid(pid)).toBe(TARGET_UID);
      }
      expect(checkAsAnotherUser(pid)).toEqual({ kill: "EPERM", alive: true });
    } finally {
      target?.kill("SIGKILL");
    }
  });

  it("counts an unreaped zombie as gone, though kill(2) still reaches it", async () => {
    // A parent that never reaps: sh starts a child, then becomes sleep(1), which never waits.
    // Once sh has exec'd, the child is killed and stays a zombie for as long as sleep runs.
    const parent = spawn("/bin/sh", ["-c", "/bin/sleep 600 & echo $!; exec /bin/sleep 600"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = Number(await firstLine(parent));
      await waitUntil(() => procComm(parent.pid as number) === "sleep", "the parent to exec sleep (nothing reaps after that)");
      process.kill(pid, "SIGKILL");
      await waitUntil(() => procState(pid) === "Z", `${pid} to be a zombie`);
      expect(() => process.kill(pid, 0)).not.toThrow();
      expect(processAlive(pid)).toBe(false);
      expect(procState(pid)).toBe("Z"); // still unreaped: the answer was about the zombie
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("waits for an exit with a deadline", async () => {
    const child = spawn("sleep", ["600"]);
    const pid = child.pid as number;
    expect(await waitForExit(pid, 50)).toBe(false);
    child.kill("SIGTERM");
    expect(await waitForExit(pid, HANG_GUARD_MS, { intervalMs: 20 })).toBe(true);
  });

  it("aborts a wait", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    await expect(sleep(10_000, controller.signal)).rejects.toMatchObject({ code: "ABORTED" });
  });

  it("maps signal names and numbers", () => {
    expect(signalNumber("SIGTERM")).toBe(15);
    expect(signalNumber("int")).toBe(2);
    expect(signalNumber(0)).toBe(0);
    expect(signalNumber(9)).toBe(9);
    expect(() => signalNumber(65)).toThrow(/0\.\.64/);
    expect(() => signalNumber("SIGNOPE")).toThrow(/unknown signal/);
  });
});

describe("locating the mediator", async () => {
  const { mediatorFound } = await import("../../src/hub/mediator-call.js");
  it("checks an absolute path, or a bare name on sudo's default secure_path", () => {
    expect(mediatorFound(process.execPath)).toBe(true);
    expect(mediatorFound("/nonexistent/ts-sudospawner")).toBe(false);
    expect(mediatorFound("sh")).toBe(true);
    expect(mediatorFound("ts-sudospawner-surely-not-installed")).toBe(false);
  });
});
