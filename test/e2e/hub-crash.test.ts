/**
 * Reconciliation at start, proved on a real JupyterHub 6 that is SIGKILLed during a burst of
 * starts (issue 21): after the restart and one more start per user, no server of those users runs
 * that the hub does not know. A control hub with reconcile_at_start = False, crashed the same way,
 * keeps its orphans after the new start: the check below can fail.
 *
 * Why a crash leaves servers behind: JupyterHub saves a spawner's state (the pid) only after
 * start() returns. A hub killed between the mediator's answer and that save leaves a server
 * running that the restarted hub has no pid for.
 *
 * Same setup as the matrix (test/e2e/matrix.ts: installed tarball, hub user, sudoers rule, the
 * JupyterHub 6 venv, npm's configurable-http-proxy), plus BURST users tsss-e2e-crash-N.
 * TSSS_E2E_HUBS must select 6 (the default selects every hub).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Hub } from "../helpers/hub/jupyterhub.js";
import { firstMissing, skipWithout } from "../helpers/prerequisites.js";
import { ensureUser, liveProcesses, procStartTicks, removeUser, waitFor } from "../helpers/system.js";
import { E2E, E2EContext, environ, selectedTargets, useHub, type HubTarget } from "./matrix.js";

const fx = inject("rootFixture");
const target = selectedTargets().targets.find((candidate) => candidate.key === "6");
const skip = skipWithout(
  "a hub SIGKILLed during a burst of starts (test/e2e/hub-crash.test.ts)",
  firstMissing(fx.reason, !target && `TSSS_E2E_HUBS=${process.env.TSSS_E2E_HUBS ?? ""} does not select JupyterHub 6 (key 6)`),
);

const BURST = 6;
const CONTROL_BURST = 3;
const USERS = Array.from({ length: BURST }, (_, index) => `tsss-e2e-crash-${index}`);
const MARK = "TS_SUDOSPAWNER_PID";
const SERVER_MARK = "TS_SUDOSPAWNER_SERVER";
/** While this file exists in the hub's working directory, start() lingers after the server runs. */
const WINDOW_FLAG = "tsss-crash-window";
const WINDOW_OPEN = "tsss-e2e: crash window open for";

/**
 * The spawner the crashed hubs run: TsSudoSpawner whose start(), while the flag file exists, waits
 * after the real start returned. The server then runs and the hub has not saved its pid: the
 * window a crash must hit to leave an orphan, held open so the SIGKILL hits it every time.
 */
function crashWindowConfig(spawnerConfig: string, reconcile: boolean): string {
  return [
    spawnerConfig,
    "import asyncio, os",
    "from ts_sudospawner import TsSudoSpawner",
    "class CrashWindowSpawner(TsSudoSpawner):",
    "    async def start(self):",
    "        started = await super().start()",
    `        if os.path.exists(${JSON.stringify(WINDOW_FLAG)}):`,
    `            self.log.info("${WINDOW_OPEN} %s (pid %s)", self.user.name, self.pid)`,
    "            await asyncio.sleep(45)",
    "        return started",
    "c.JupyterHub.spawner_class = CrashWindowSpawner",
    `c.TsSudoSpawner.reconcile_at_start = ${reconcile ? "True" : "False"}`,
  ].join("\n");
}

/** A live process of one of the users that carries the mark; a server when `mark` is its own pid. */
interface Marked {
  user: string;
  pid: number;
  mark: number;
  server: string | undefined;
  started: string | undefined;
}

function markedProcesses(users: readonly string[]): Marked[] {
  const found: Marked[] = [];
  for (const user of users) {
    for (const pid of liveProcesses(user)) {
      let env: Record<string, string>;
      try {
        env = environ(pid);
      } catch {
        continue; // gone meanwhile
      }
      if (env[MARK] === undefined) continue;
      found.push({ user, pid, mark: Number(env[MARK]), server: env[SERVER_MARK], started: procStartTicks(pid) });
    }
  }
  return found;
}

const isServer = (marked: Marked) => marked.mark === marked.pid;
const describeMarked = (list: readonly Marked[]) => list.map((m) => `${m.user}: pid ${m.pid} (mark ${m.mark}, server ${JSON.stringify(m.server)})`).join("; ") || "none";

/** Every server the hub's REST API reports for the users, as "user/name" -> pid. */
async function knownServers(hub: Hub, users: readonly string[]): Promise<Map<string, number>> {
  const known = new Map<string, number>();
  for (const user of users) {
    for (const [name, server] of Object.entries((await hub.user(user)).servers ?? {})) {
      if (typeof server.state?.pid === "number") known.set(`${user}/${name}`, server.state.pid);
    }
  }
  return known;
}

/** Whether the process `marked` saw still runs (same pid, same start time). */
const stillRuns = (marked: Marked) => marked.started !== undefined && procStartTicks(marked.pid) === marked.started;

/**
 * POST a start for every user at once, wait until each start() is in its window (server running,
 * pid unsaved), SIGKILL the hub, start it again on the same database; resolves with the servers
 * the restarted hub does not know (failing when there are none: then the window was missed).
 */
async function crashDuringBurst(hub: Hub, users: readonly string[]): Promise<Marked[]> {
  const flag = path.join(hub.workDir, WINDOW_FLAG);
  fs.writeFileSync(flag, "");
  // The REST calls die with the hub: their outcome is not the point.
  const posts = users.map((user) => hub.startServer(user).catch(() => undefined));
  await waitFor(() => users.every((user) => hub.logText.includes(`${WINDOW_OPEN} ${user} `)), 120_000, "every start of the burst to be in its crash window").catch(
    (error: unknown) => {
      throw new Error(`${String(error)}; ${hub.logTail()}`);
    },
  );
  const killed = await hub.crash();
  process.stderr.write(`e2e: hub-crash: SIGKILLed jupyterhub (pid ${killed.hub}) and its proxy (pid ${killed.proxies.join(", ")})\n`);
  await Promise.all(posts);
  fs.rmSync(flag);
  await hub.start();
  const known = new Set((await knownServers(hub, users)).values());
  const orphans = markedProcesses(users).filter((marked) => isServer(marked) && !known.has(marked.pid));
  expect(orphans.length, `the crash left no server the restarted hub does not know (the window was missed); known pids: ${[...known].join(", ") || "none"}`).toBeGreaterThan(0);
  return orphans;
}

/** One more start per user through REST, each waited for until ready. */
async function startAll(hub: Hub, users: readonly string[]): Promise<void> {
  await Promise.all(users.map((user) => hub.startServer(user)));
  await Promise.all(users.map((user) => hub.waitReady(user)));
}

async function stopAll(hub: Hub, users: readonly string[]): Promise<void> {
  await Promise.all(users.map((user) => hub.stopServer(user)));
  await Promise.all(users.map((user) => hub.waitStopped(user)));
}

describe.skipIf(skip)("a JupyterHub 6 SIGKILLed during a burst of starts", () => {
  const ctx = new E2EContext();
  const started = Date.now();

  beforeAll(() => {
    for (const user of USERS) removeUser(user); // an interrupted run's
    ctx.setup(target ? [target] : [], fx.tarball, fx.venvRoot);
    for (const user of USERS) ensureUser(user, { groups: [E2E.group] });
  }, 10 * 60_000);

  afterAll(() => {
    try {
      for (const user of USERS) removeUser(user);
    } finally {
      ctx.teardown();
      process.stderr.write(`e2e: timing: hub-crash ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
  }, 120_000);

  describe("with reconcile_at_start (the default)", () => {
    const { hub: getHub } = useHub(ctx, target as HubTarget, "6-crash", (rt) => crashWindowConfig(rt.spawnerConfig, true), { users: USERS });

    it(`after the restart and one more start per user, no server of the ${BURST} users runs that the hub does not know`, async () => {
      const hub = getHub();
      const orphans = await crashDuringBurst(hub, USERS);
      const restartedAt = hub.logText.length;
      await startAll(hub, USERS);

      const known = await knownServers(hub, USERS);
      const marked = markedProcesses(USERS);
      for (const user of USERS) expect(known.get(`${user}/`), `the hub's pid for ${user}`).toBeGreaterThan(1);
      for (const proc of marked) {
        // Every marked process (server or its child) belongs to a server the hub reports for that user...
        const name = [...known].find(([key, pid]) => key.startsWith(`${proc.user}/`) && pid === proc.mark)?.[0];
        expect(name, `${proc.user}'s marked pid ${proc.pid} (mark ${proc.mark}) is a server the hub knows; marked: ${describeMarked(marked)}`).toBeDefined();
        // ...under that server's name.
        if (isServer(proc)) expect(proc.server, `the server name of pid ${proc.pid}`).toBe((name as string).slice(proc.user.length + 1));
      }
      expect(marked.filter(isServer).length, describeMarked(marked)).toBe(USERS.length);
      for (const orphan of orphans) {
        expect(stillRuns(orphan), `the orphan ${orphan.pid} of ${orphan.user} is gone`).toBe(false);
        // The spawner's WARNING for it, from the start after the restart.
        const warning = hub.logText
          .slice(restartedAt)
          .split("\n")
          .find((line) => line.includes(`stopped 1 server of ${orphan.user} (pid ${orphan.pid}) left by an earlier hub`));
        expect(warning, `the WARNING about ${orphan.user}'s pid ${orphan.pid}; ${hub.logTail()}`).toMatch(/^\[W /);
      }
      process.stderr.write(`e2e: hub-crash: ${orphans.length} of ${USERS.length} starts left an orphan; all stopped at the next start\n`);
      await stopAll(hub, USERS);
    }, 240_000);
  });

  describe("control: with reconcile_at_start = False", () => {
    const users = USERS.slice(0, CONTROL_BURST);
    const { hub: getHub } = useHub(ctx, target as HubTarget, "6-crash-control", (rt) => crashWindowConfig(rt.spawnerConfig, false), { users });

    it("the same crash leaves its orphans running after the next start (the check above can fail)", async () => {
      const hub = getHub();
      const orphans = await crashDuringBurst(hub, users);
      await startAll(hub, users);
      const known = new Set((await knownServers(hub, users)).values());
      for (const orphan of orphans) {
        expect(stillRuns(orphan), `the orphan ${orphan.pid} of ${orphan.user} still runs`).toBe(true);
        expect(known.has(orphan.pid)).toBe(false);
      }
      expect(hub.logText).not.toContain("left by an earlier hub");
      await stopAll(hub, users);
      for (const orphan of orphans) process.kill(orphan.pid, "SIGKILL"); // its reaper ends the rest
    }, 240_000);
  });
});
