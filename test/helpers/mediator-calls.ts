/**
 * Spawn and kill through the hub's real sudo rule, as a hub would, with the checks every such
 * call shares: one JSON answer, a refusal on stdout and stderr alike, no stack trace.
 */
import { expect } from "vitest";
import { demoStatus, waitForDemoServer, type DemoStatus } from "./demo-server.js";
import { freePort } from "./ports.js";
import { BASE_ENV, killRequest } from "./requests.js";
import { procState, runMediatorAs, waitFor, type MediatorRun, type TestUser } from "./system.js";

export interface SpawnOptions {
  profile?: string;
  limits?: Record<string, number>;
  cgroup?: Record<string, number>;
  tls?: Record<string, string>;
  env?: Record<string, string>;
  args?: string[];
  graceSeconds?: number;
}

/** A spawn request for the demo server on `port`, BASE_ENV under the options' env. */
export function spawnRequestWith(port: number, options: SpawnOptions = {}): string {
  const request: Record<string, unknown> = {
    action: "spawn",
    args: options.args ?? [`--port=${port}`, "--ip=127.0.0.1"],
    env: { ...BASE_ENV, ...options.env },
  };
  if (options.profile !== undefined) request.profile = options.profile;
  if (options.limits !== undefined) request.limits = options.limits;
  if (options.cgroup !== undefined) request.cgroup = options.cgroup;
  if (options.tls !== undefined) request.tls = options.tls;
  if (options.graceSeconds !== undefined) request.graceSeconds = options.graceSeconds;
  return JSON.stringify(request);
}

/**
 * One JSON refusal on stdout, the same message on stderr, exit status 1, no stack trace from the
 * mediator. `serverPrinted`: the server's own output (a crash report) is relayed on stderr too, so
 * only the mediator's log lines are checked there.
 */
export function expectRefusal(result: MediatorRun, error: string | RegExp, serverPrinted = false): void {
  expect(result.status, result.stderr).toBe(1);
  expect(result.stdout.trim().split("\n")).toHaveLength(1);
  expect(result.answer?.ok).toBe(false);
  if (typeof error === "string") expect(result.answer?.error).toBe(error);
  else expect(String(result.answer?.error)).toMatch(error);
  expect(result.stderr).toContain(String(result.answer?.error));
  if (!serverPrinted) expect(result.stderr).not.toMatch(/\n\s+at /);
  const mediatorLines = result.stderr.split("\n").filter((line) => line.includes(" ts-sudospawner] "));
  for (const line of mediatorLines) expect(line).toMatch(/^\[[DIWEC] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ts-sudospawner\] /);
}

export interface MediatorCalls {
  call(user: TestUser, input: string): Promise<MediatorRun>;
  spawnOk(user: TestUser, options?: SpawnOptions): Promise<{ pid: number; port: number; run: MediatorRun }>;
  stop(user: TestUser, pid: number): Promise<void>;
  serverReport(port: number): Promise<DemoStatus>;
}

/** The calls, through `hub`'s rule to `mediator`. */
export function mediatorCalls(fx: { hub: string; mediator: string }): MediatorCalls {
  const call = (user: TestUser, input: string) => runMediatorAs(fx.hub, user.name, fx.mediator, input, ["--logging=info"]);
  return {
    call,
    async spawnOk(user, options = {}) {
      const port = await freePort();
      const run = await call(user, spawnRequestWith(port, options));
      expect(run.status, run.stderr).toBe(0);
      expect(run.answer).toEqual({ ok: true, pid: expect.any(Number) });
      return { pid: run.answer?.pid as number, port, run };
    },
    async stop(user, pid) {
      const term = await call(user, killRequest(pid, 15));
      expect(term.answer).toEqual({ ok: true, alive: true });
      await waitFor(() => procState(pid) === undefined, 10_000, `server ${pid} to be gone`);
    },
    async serverReport(port) {
      await waitForDemoServer(port);
      return demoStatus(port);
    },
  };
}
