/**
 * `ts-sudospawner ps` against a real JupyterHub 6 (issue 17's ps, issue 21's global sweep): two
 * users' servers started through the hub, and one marked server no hub knows (started through the
 * mediator directly with the hub's sudo rule, as a hub that died before saving its state leaves
 * one). ps lists all three; with the hub's URL and a token holding only the scopes the admin guide
 * names, only that one is an orphan; --stop-orphans stops it and its whole tree, and the hub's two
 * servers keep running.
 *
 * Same setup as the matrix (test/e2e/matrix.ts). TSSS_E2E_HUBS must select 6.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { hubEnvironment } from "../../src/admin/check/hub-environment.js";
import { spawnRequest } from "../../src/protocol/index.js";
import { firstMissing, skipWithout } from "../helpers/prerequisites.js";
import { freePort } from "../helpers/ports.js";
import { ensureUser, liveProcesses, procStartTicks, removeUser, runMediatorAs, waitFor } from "../helpers/system.js";
import { E2E, E2EContext, expectNoLiveProcess, selectedTargets, useHub, type HubTarget } from "./matrix.js";

const fx = inject("rootFixture");
const target = selectedTargets().targets.find((candidate) => candidate.key === "6");
const skip = skipWithout(
  "ts-sudospawner ps against a real JupyterHub 6 (test/e2e/ps.test.ts)",
  firstMissing(fx.reason, !target && `TSSS_E2E_HUBS=${process.env.TSSS_E2E_HUBS ?? ""} does not select JupyterHub 6 (key 6)`),
);

/** The user whose server no hub knows. */
const STRAY = "tsss-e2e-ps-stray";
const STRAY_SERVER = "stray";
/** Tokens of two services: one with the scopes ps needs, one without admin:server_state. */
const TOKEN = randomBytes(24).toString("hex");
const TOKEN_NO_STATE = randomBytes(24).toString("hex");
const PS_SCOPES = ["list:users", "read:users", "read:servers", "admin:server_state"];
/** A named server whose start stays pending: its request names no grace, and the policy's is long. */
const PENDING_SERVER = "pending";
const PENDING_GRACE_SECONDS = 15;

interface PsServer {
  user: string;
  server: string | null;
  pid: number;
  started: string;
  memoryBytes: number | null;
  hub?: "known" | "starting" | "orphan";
  stop?: { stopped: boolean; detail: string };
}

function psConfig(spawnerConfig: string): string {
  return [
    spawnerConfig,
    "def _tsss_e2e_pre_spawn(spawner):",
    `    if spawner.name == ${JSON.stringify(PENDING_SERVER)}:`,
    "        spawner.start_grace = None",
    "c.Spawner.pre_spawn_hook = _tsss_e2e_pre_spawn",
    `c.JupyterHub.services.append({"name": "tsss-ps", "api_token": ${JSON.stringify(TOKEN)}})`,
    `c.JupyterHub.services.append({"name": "tsss-ps-nostate", "api_token": ${JSON.stringify(TOKEN_NO_STATE)}})`,
    "c.JupyterHub.load_roles = [",
    `    {"name": "tsss-ps", "scopes": ${JSON.stringify(PS_SCOPES)}, "services": ["tsss-ps"]},`,
    `    {"name": "tsss-ps-nostate", "scopes": ${JSON.stringify(PS_SCOPES.filter((scope) => scope !== "admin:server_state"))}, "services": ["tsss-ps-nostate"]},`,
    "]",
  ].join("\n");
}

describe.skipIf(skip)("ts-sudospawner ps with a JupyterHub 6", () => {
  const ctx = new E2EContext();
  let tmp = "";
  let tokenFile = "";

  beforeAll(() => {
    removeUser(STRAY); // an interrupted run's
    ctx.setup(target ? [target] : [], fx.tarball, fx.venvRoot);
    ensureUser(STRAY, { groups: [E2E.group] });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsss-e2e-ps-"));
    tokenFile = path.join(tmp, "token");
    fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  }, 10 * 60_000);

  afterAll(() => {
    try {
      removeUser(STRAY);
      if (tmp !== "") fs.rmSync(tmp, { recursive: true, force: true });
    } finally {
      ctx.teardown();
    }
  }, 120_000);

  const { hub: getHub } = useHub(ctx, target as HubTarget, "6-ps", (rt) => psConfig(rt.spawnerConfig));

  /** ps as root, as an admin runs it; its servers of the test's users, its status and stderr. */
  function ps(args: string[], env: Record<string, string> = {}): { status: number | null; servers: PsServer[]; stderr: string } {
    const began = process.hrtime.bigint();
    const result = spawnSync(ctx.installation.mediator, ["ps", "--json", ...args], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
    let servers: PsServer[] = [];
    if (result.stdout.trim() !== "") servers = (JSON.parse(result.stdout) as { servers: PsServer[] }).servers;
    // A figure for the report, never asserted (timing belongs in the bench).
    process.stderr.write(`e2e: ps ${args.join(" ").replace(tokenFile, "FILE")}: ${Number((process.hrtime.bigint() - began) / 1_000_000n)} ms\n`);
    const ours = new Set([E2E.ann, E2E.jdoe, STRAY]);
    return { status: result.status, servers: servers.filter((server) => ours.has(server.user)), stderr: result.stderr };
  }

  const byUser = (servers: readonly PsServer[]) => Object.fromEntries(servers.map((server) => [server.user, server]));

  it("lists the hub's servers and the stray one, tells the orphan apart, and stops only it", async () => {
    const hub = getHub();
    const hubPids: Record<string, number> = {};
    for (const user of [E2E.ann, E2E.jdoe]) {
      await hub.startServer(user);
      const pid = (await hub.waitReady(user)).state?.pid;
      expect(pid, `the hub's pid for ${user}`).toBeGreaterThan(1);
      hubPids[user] = pid as number;
    }
    const port = await freePort();
    const stray = await runMediatorAs(
      E2E.hub,
      STRAY,
      ctx.installation.mediator,
      JSON.stringify(spawnRequest([`--port=${port}`, "--ip=127.0.0.1"], { ...hubEnvironment(STRAY, port), JUPYTERHUB_SERVER_NAME: STRAY_SERVER }, { server: STRAY_SERVER })),
      ["--logging=info"],
    );
    expect(stray.answer, stray.stderr).toEqual({ ok: true, pid: expect.any(Number) });
    const strayPid = stray.answer?.pid as number;
    const started = Object.fromEntries(Object.entries(hubPids).map(([user, pid]) => [user, procStartTicks(pid)]));

    // Without a hub: all three, with their users, pids and server names.
    const listed = ps([]);
    expect(listed.status, listed.stderr).toBe(0);
    expect(byUser(listed.servers)).toEqual({
      [E2E.ann]: expect.objectContaining({ pid: hubPids[E2E.ann], server: "", memoryBytes: null }),
      [E2E.jdoe]: expect.objectContaining({ pid: hubPids[E2E.jdoe], server: "" }),
      [STRAY]: expect.objectContaining({ pid: strayPid, server: STRAY_SERVER }),
    });
    expect(listed.servers).toHaveLength(3);
    for (const server of listed.servers) expect(Date.parse(server.started), server.started).toBeGreaterThan(Date.now() - 15 * 60_000);

    // With the hub (token from a file, then from the environment): only the stray one is an orphan.
    const judged = ps(["--hub-url", hub.base, "--token-file", tokenFile]);
    expect(judged.status, judged.stderr).toBe(0);
    expect(Object.fromEntries(judged.servers.map((server) => [server.user, server.hub]))).toEqual({ [E2E.ann]: "known", [E2E.jdoe]: "known", [STRAY]: "orphan" });
    const fromEnv = ps(["--hub-url", hub.base], { JUPYTERHUB_API_TOKEN: TOKEN });
    expect(fromEnv.servers.map((server) => server.hub).sort(), fromEnv.stderr).toEqual(["known", "known", "orphan"]);

    // A token without admin:server_state cannot tell: refused, naming the scope, nothing stopped.
    const noState = ps(["--hub-url", hub.base, "--stop-orphans"], { JUPYTERHUB_API_TOKEN: TOKEN_NO_STATE });
    expect(noState.status).toBe(1);
    expect(noState.stderr).toMatch(/admin:server_state/);
    expect(procStartTicks(strayPid)).toBeDefined();

    // --stop-orphans: the stray server and everything of it goes; the hub's two keep running.
    const swept = ps(["--hub-url", hub.base, "--token-file", tokenFile, "--stop-orphans"]);
    expect(swept.status, swept.stderr).toBe(0);
    expect(byUser(swept.servers)[STRAY]?.stop).toEqual({ stopped: true, detail: expect.stringMatching(/^stopped by SIG(TERM|KILL)$/) });
    expect(byUser(swept.servers)[E2E.ann]?.stop).toBeUndefined();
    await expectNoLiveProcess(STRAY);
    for (const [user, pid] of Object.entries(hubPids)) {
      expect(procStartTicks(pid), `${user}'s server ${pid} still runs`).toBe(started[user]);
      expect((await hub.server(user))?.ready, `the hub still has ${user}'s server ready`).toBe(true);
    }
    expect(ps([]).servers.map((server) => server.user).sort()).toEqual([E2E.ann, E2E.jdoe].sort());

    for (const user of [E2E.ann, E2E.jdoe]) {
      await hub.stopServer(user);
      await hub.waitStopped(user);
      await expectNoLiveProcess(user);
    }
    expect(liveProcesses(STRAY)).toEqual([]);
  }, 300_000);

  it("never stops a server the hub is still starting (no pid in its state yet): ps calls it starting, and the hub gets it", async () => {
    const hub = getHub();
    // The mediator answers only after the grace: until then the hub's state for the server holds no pid.
    ctx.policy.write({ graceSeconds: PENDING_GRACE_SECONDS });
    try {
      await hub.startServer(E2E.ann, PENDING_SERVER);
      let marked: PsServer | undefined;
      await waitFor(
        () => (marked = ps([]).servers.find((server) => server.user === E2E.ann && server.server === PENDING_SERVER)) !== undefined,
        60_000,
        `the mediator to start ${E2E.ann}'s server ${PENDING_SERVER}`,
      );
      const pid = (marked as PsServer).pid;
      const pending = await hub.server(E2E.ann, PENDING_SERVER);
      expect([pending?.pending, pending?.state?.pid]).toEqual(["spawn", undefined]);

      const swept = ps(["--hub-url", hub.base, "--token-file", tokenFile, "--stop-orphans"]);
      expect(swept.status, swept.stderr).toBe(0);
      expect(swept.servers.find((server) => server.pid === pid)).toEqual(expect.objectContaining({ hub: "starting", server: PENDING_SERVER }));
      expect(swept.servers.find((server) => server.pid === pid)?.stop).toBeUndefined();

      const ready = await hub.waitReady(E2E.ann, PENDING_SERVER, (PENDING_GRACE_SECONDS + 60) * 1000);
      expect(ready.state?.pid).toBe(pid);
      await hub.stopServer(E2E.ann, PENDING_SERVER);
      await hub.waitStopped(E2E.ann, PENDING_SERVER);
      await expectNoLiveProcess(E2E.ann);
    } finally {
      ctx.policy.restore();
    }
  }, 300_000);
});
