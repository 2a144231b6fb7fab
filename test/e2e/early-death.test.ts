/**
 * A start without the idle second, on real hubs (issue 19): TsSudoSpawner asks the mediator for no
 * grace, so a server that dies early must still reach JupyterHub with its exit status and last
 * output lines, on the spawn page (the progress API it reads) and in the REST answer; and
 * JupyterHub's own double poll (poll_and_notify, then user_stopped) must log the real exit code.
 * It also prints start-to-ready side by side in one run (a figure for docs/performance.md, never
 * asserted here: speed belongs in the bench): as before issue 19 (the policy's 1 s grace, then
 * JupyterHub's own jittered wait for HTTP, which is what the Python SudoSpawner path still does), with
 * the 1 s grace and then start()'s watch for the port, and now (no grace, the watch).
 *
 * Same setup and targets as the matrix (test/e2e/matrix.ts, TSSS_E2E_HUBS); one hub per target.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { firstMissing, skipWithout } from "../helpers/prerequisites.js";
import { procState, waitFor } from "../helpers/system.js";
import { E2E, E2EContext, expectNoLiveProcess, expectRunsAs, selectedTargets, useHub, type HubTarget } from "./matrix.js";

const fx = inject("rootFixture");
const { targets } = selectedTargets();
const skip = skipWithout("early deaths on real JupyterHub (test/e2e/early-death.test.ts)", firstMissing(fx.reason, targets.length === 0 && "TSSS_E2E_HUBS selects no hub"));

/** A root-owned single-user "server" that complains, sleeps $1 seconds, says goodbye and exits 3. */
const DYING = `${E2E.prefix}/tsss-dies-early`;
const COMPLAINT = "tsss-e2e: cannot open the notebook directory /nonexistent";
const GOODBYE = "tsss-e2e: giving up";
/** How each kind of start is asked for: the named server's name starts with the kind. */
const START_KINDS = {
  before: "as before issue 19 (1 s grace, JupyterHub's own wait)",
  grace: "with the 1 s grace and start()'s watch",
  now: "now (no grace, start()'s watch)",
} as const;
type StartKind = keyof typeof START_KINDS;
const READY_RUNS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function defineEarlyDeathSuite(ctx: E2EContext, target: HubTarget): void {
  describe(target.title, () => {
    const { hub: getHub, runtime } = useHub(ctx, target, `${target.key}-early`, (rt) =>
      [
        rt.spawnerConfig,
        // JupyterHub's periodic poll, short: the double poll below comes within seconds.
        "c.Spawner.poll_interval = 1",
        // "before" and "grace" servers name no graceSeconds (the policy's 1 s applies); "before"
        // servers also skip start()'s watch for the port, as start() was before issue 19.
        "from ts_sudospawner import TsSudoSpawner as _TsssSpawner",
        "class _TsssBeforeIssue19(_TsssSpawner):",
        "    async def _wait_listening(self, pid, relay, *rest):",
        "        if not self.name.startswith('before'):",
        "            await super()._wait_listening(pid, relay, *rest)",
        "c.JupyterHub.spawner_class = _TsssBeforeIssue19",
        "def _tsss_e2e_grace(spawner):",
        "    if spawner.name.startswith(('before', 'grace')):",
        "        spawner.start_grace = None",
        "c.Spawner.pre_spawn_hook = _tsss_e2e_grace",
      ].join("\n"),
    );

    beforeAll(() => {
      fs.writeFileSync(DYING, `#!/bin/sh\necho "${COMPLAINT}" >&2\nsleep "$1"\necho "${GOODBYE}" >&2\nexit 3\n`, { mode: 0o755 });
      fs.chownSync(DYING, 0, 0);
      fs.chmodSync(DYING, 0o755);
      ctx.policy.write({
        profiles: {
          "dies-0.3": { description: "dies 0.3 s after exec", executable: DYING, args: ["0.3"] },
          "dies-1.5": { description: "dies 1.5 s after exec", executable: DYING, args: ["1.5"] },
        },
      });
    });
    afterAll(() => {
      ctx.policy.restore();
      fs.rmSync(DYING, { force: true });
    });

    for (const [profile, seconds] of [
      ["dies-0.3", "0.3"],
      ["dies-1.5", "1.5"],
    ] as const) {
      it(`a server that dies ${seconds} s after exec shows its exit status and last lines on the spawn page and in the REST answer`, async () => {
        const hub = getHub();
        const answer = await fetch(`${hub.base}/hub/api/users/${E2E.ann}/server`, {
          method: "POST",
          headers: { Authorization: `token ${hub.adminToken}`, "content-type": "application/json" },
          body: JSON.stringify({ profile }),
        });
        const body = await answer.text();
        // The spawn page's progress stream (GET .../progress): its failed event carries the reason.
        const events = await hub.progressUntil(E2E.ann, (event) => event.failed === true);
        const failed = events.at(-1)?.message ?? "";
        expect(failed, `${JSON.stringify(events)}; ${hub.logTail(3000)}`).toContain("The single-user server exited with status 3");
        expect(failed).toContain(COMPLAINT);
        expect(failed).toContain(GOODBYE);
        // The REST call that asked for the server fails within slow_spawn_timeout (10 s) with the
        // reason: the error is a tornado HTTPError, whose message JupyterHub 3.0-5.x put into the
        // JSON body (log_message % args) and 6.x take from jupyterhub_message.
        expect(answer.status, body).toBe(500);
        expect((JSON.parse(body) as { message?: string }).message, body).toContain("The single-user server exited with status 3");
        await hub.waitStopped(E2E.ann, "", 30_000);
        await expectNoLiveProcess(E2E.ann);
        // The hub's log: the spawner's warning with the status, never an "exit code: 0".
        expect(hub.logText).toMatch(/server pid \d+ exited with status 3/);
        expect(hub.logText).not.toContain("never showed up");
      }, 120_000);
    }

    it("JupyterHub's double poll (poll_and_notify, then user_stopped) logs the server's real exit code, not 0", async () => {
      const hub = getHub();
      await hub.startServer(E2E.jdoe);
      const pid = (await hub.waitReady(E2E.jdoe)).state?.pid;
      expectRunsAs(pid, E2E.jdoe);
      process.kill(pid as number, "SIGKILL"); // as the OOM killer would
      await waitFor(() => procState(pid as number) === undefined, 15_000, `server ${pid} to be gone`);
      await waitFor(() => /server stopped, with exit code: -?\d+/.test(hub.logText), 30_000, "JupyterHub's periodic poll to notice").catch((error: unknown) => {
        throw new Error(`${String(error)}; ${hub.logTail(3000)}`);
      });
      expect(hub.logText).toContain(`User ${E2E.jdoe} server stopped, with exit code: -9`);
      expect(hub.logText).not.toContain(`User ${E2E.jdoe} server stopped, with exit code: 0`);
      await hub.waitStopped(E2E.jdoe, "", 60_000);
      await expectNoLiveProcess(E2E.jdoe);
    }, 180_000);

    it(`start-to-ready, ${READY_RUNS} starts of each kind, alternating (printed, not asserted)`, async () => {
      const hub = getHub();
      const times: Record<StartKind, number[]> = { before: [], grace: [], now: [] };
      for (let run = 0; run < READY_RUNS; run++) {
        for (const kind of Object.keys(START_KINDS) as StartKind[]) {
          const name = `${kind}${run}`;
          const begun = performance.now();
          await hub.startServer(E2E.ann, name);
          await hub.progressUntil(E2E.ann, (event) => event.ready === true || event.failed === true, { serverName: name });
          times[kind].push(performance.now() - begun);
          const server = await hub.server(E2E.ann, name);
          expect(server?.ready, hub.logTail(2000)).toBe(true);
          await hub.stopServer(E2E.ann, name);
          await hub.waitStopped(E2E.ann, name);
        }
      }
      const figures = (Object.keys(START_KINDS) as StartKind[]).map(
        (kind) => `${START_KINDS[kind]}: median ${Math.round(median(times[kind]))} ms, mean ${Math.round(mean(times[kind]))} ms (${times[kind].map(Math.round).join(", ")})`,
      );
      process.stderr.write(`e2e: start-to-ready on JupyterHub ${runtime().version} + ${path.basename(runtime().singleuser)}, ${READY_RUNS} each: ${figures.join("; ")}\n`);
      await expectNoLiveProcess(E2E.ann);
    }, 600_000);
  });
}

describe.skipIf(skip)("a start without the idle second, on real JupyterHub", () => {
  const ctx = new E2EContext();
  beforeAll(() => ctx.setup(targets, fx.tarball, fx.venvRoot), 10 * 60_000);
  afterAll(() => ctx.teardown(), 120_000);
  for (const target of targets) defineEarlyDeathSuite(ctx, target);
});
