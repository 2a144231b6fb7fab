import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { processAlive, signalNumber, sleep, waitForExit } from "../../src/hub/liveness.js";
import { STAT_FIELD, statField } from "../../src/system/proc-stat.js";

describe("liveness without sudo", () => {
  it("sees this process alive and a finished child gone", async () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawn("true");
    await new Promise((resolve) => child.on("exit", resolve));
    expect(processAlive(child.pid as number)).toBe(false);
  });

  it("counts EPERM (someone else's process) as alive", () => {
    // PID 1 belongs to root: EPERM for an ordinary user, success for root; alive either way.
    expect(processAlive(1)).toBe(true);
  });

  it("counts an unreaped zombie as gone", async () => {
    // A child that exited but that we have not reaped yet: kill(pid, 0) still succeeds.
    const child = spawn("sh", ["-c", "exit 0"], { stdio: "ignore" });
    const pid = child.pid as number;
    child.unref();
    const { readFileSync } = await import("node:fs");
    // Node reaps quickly; only assert when we caught it in the zombie state.
    let state: string | undefined;
    try {
      state = statField(readFileSync(`/proc/${pid}/stat`, "utf8"), STAT_FIELD.state);
    } catch {
      state = undefined;
    }
    if (state === "Z") expect(processAlive(pid)).toBe(false);
    await new Promise((resolve) => child.on("exit", resolve));
    expect(processAlive(pid)).toBe(false);
  });


  it("waits for an exit with a deadline", async () => {
    const child = spawn("sleep", ["0.3"]);
    const pid = child.pid as number;
    expect(await waitForExit(pid, 50)).toBe(false);
    expect(await waitForExit(pid, 5000, { intervalMs: 20 })).toBe(true);
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
