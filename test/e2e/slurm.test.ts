/**
 * Slurm mode end to end: a real JupyterHub 6 (pip, JupyterLab, configurable-http-proxy from npm)
 * with `spawner_class = "ts-sudospawner-slurm"` from the installed tarball, the sudoers rule the
 * package generates, the root policy's `slurm` section, and a real single-node Slurm cluster the
 * test starts itself (test/helpers/slurm/slurm.ts). Each server is a batch job of its user.
 *
 * The hub runs with a canary, SBATCH_TIMELIMIT=1 and SLURM_CONF=/nonexistent in its own
 * environment throughout: none of it may reach a job, and every job still finds the cluster.
 *
 * Shares the matrix's set-up (test/e2e/matrix.ts: prefix /opt/tsss-e2e, users tsss-e2e-*, venvs in
 * /tmp/tsss-e2e-venvs-*), all removed at the end with the cluster, its jobs and its directory.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import type { ServerModel } from "../helpers/hub/jupyterhub.js";
import { SlurmCluster, slurmUnavailableReason } from "../helpers/slurm/slurm.js";
import { slurmSection } from "../helpers/slurm/slurm-mediator.js";
import { procState, userInfo, userProcesses, waitFor } from "../helpers/system.js";
import { skipWithout } from "../helpers/prerequisites.js";
import { E2E, E2EContext, environ, expectKernelRunsAs, expectNoLiveProcess, expectRunsAs, HUB_TARGETS, useHub, type HubTarget } from "./matrix.js";

const fx = inject("rootFixture");
const NODE = os.hostname().split(".")[0] as string;
/** The hub reaches each server at its node's name, as on any Slurm site: it must resolve. */
const unresolvable = spawnSync("getent", ["hosts", NODE]).status === 0 ? "" : `the node name ${NODE} (hostname -s) does not resolve: add it to /etc/hosts (.ci/run does)`;
const reason = !fx.available ? fx.reason : (slurmUnavailableReason() ?? unresolvable);
const skip = skipWithout("JupyterHub in Slurm mode end to end (test/e2e/slurm.test.ts)", reason);

const TARGET = HUB_TARGETS.find((target) => target.key === "6") as HubTarget;
const USERS = [E2E.ann, E2E.jdoe];
const CANARY = randomBytes(12).toString("hex");
/** In the hub's own environment: Slurm's clients would obey the last two, were they passed on. */
const HUB_ENV = { TSSS_HUB_CANARY: CANARY, SBATCH_TIMELIMIT: "1", SLURM_CONF: "/nonexistent" };
const POLICY_MINUTES = 60;
const POLL_SECONDS = 1;
const HUB_POLL_SECONDS = 3;

function log(line: string): void {
  process.stderr.write(`e2e slurm: ${line}\n`);
}

/** The slurm section of the root policy for `cluster` (the shared one, with room for JupyterLab). */
function slurmPolicy(cluster: SlurmCluster): Record<string, unknown> {
  return slurmSection(cluster, cluster.partitions, {
    minutes: { default: POLICY_MINUTES, max: 120 },
    memoryMB: { default: 512, max: 2000 },
    gpus: { default: 0, max: 0 },
    // The server's log in the user's home (removed with the user): shown when a start fails.
    output: "{home}/.tsss-slurm-%j.log",
  });
}

function jobIdOf(server: ServerModel | undefined): number {
  const id = server?.state?.job_id;
  expect(id, `the spawner state holds the job id: ${JSON.stringify(server?.state)}`).toEqual(expect.any(Number));
  return id as number;
}

describe.skipIf(skip)("JupyterHub 6 in Slurm mode on a single-node Slurm cluster of the test's own", () => {
  const ctx = new E2EContext();
  let cluster: SlurmCluster | undefined;
  const started = Date.now();
  const getCluster = (): SlurmCluster => {
    if (!cluster) throw new Error("the Slurm cluster did not start (see beforeAll)");
    return cluster;
  };

  beforeAll(async () => {
    ctx.setup([TARGET], fx.tarball, fx.venvRoot);
    cluster = await SlurmCluster.start();
    ctx.policy.write({ slurm: slurmPolicy(cluster) });
  }, 10 * 60_000);

  afterAll(async () => {
    try {
      await cluster?.stop();
    } finally {
      ctx.teardown();
      log(`timing: whole file ${Math.round((Date.now() - started) / 1000)} s`);
    }
  }, 120_000);

  describe("with the ts-sudospawner-slurm spawner", () => {
    const { hub: getHub, runtime } = useHub(
      ctx,
      TARGET,
      "slurm-6",
      (rt) =>
        [
          rt.spawnerConfig,
          // The Slurm spawner subclasses TsSudoSpawner: mediator_path above applies to it as well.
          'c.JupyterHub.spawner_class = "ts-sudospawner-slurm"',
          `c.TsSudoSlurmSpawner.slurm_poll_interval = ${POLL_SECONDS}`,
          "c.Spawner.start_timeout = 120",
          // JupyterHub's periodic poll, short: a job cancelled outside the hub is noticed within seconds.
          `c.Spawner.poll_interval = ${HUB_POLL_SECONDS}`,
        ].join("\n"),
      { env: HUB_ENV },
    );
    const tokens: Record<string, string> = {};
    const jobs: Record<string, number> = {};
    const pids: Record<string, number> = {};
    let testStarted = 0;

    beforeEach(() => {
      testStarted = Date.now();
    });
    afterEach((context) => {
      log(`timing: ${Math.round((Date.now() - testStarted) / 100) / 10} s: ${context.task.name.slice(0, 80)}`);
    });

    /** The job's single-user server: the process of the job that runs jupyterhub-singleuser. */
    async function serverPid(job: number): Promise<number> {
      let found: number | undefined;
      await waitFor(
        () => {
          found = getCluster()
            .jobPids(job)
            .find((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("jupyterhub-singleuser") && environ(pid).SLURM_JOB_ID === String(job));
          return found !== undefined;
        },
        15_000,
        `the single-user server among the processes of job ${job}`,
      );
      return found as number;
    }

    /** The server's log (the policy's output), for a failure message. */
    function serverLog(user: string, job: number): string {
      try {
        return fs.readFileSync(`${userInfo(user).home}/.tsss-slurm-${job}.log`, "utf8").slice(-3000);
      } catch {
        return "(no server log)";
      }
    }

    async function expectJobGone(user: string, job: number): Promise<void> {
      const c = getCluster();
      await waitFor(() => c.jobsOf(user).length === 0, 30_000, `no job of ${user} left`).catch((error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(c.jobsOf(user))}`);
      });
      // squeue keeps an ended job for MinJobAge: it was cancelled (or gone already).
      expect(c.job(job)?.state ?? "GONE").toMatch(/^(CANCELLED|COMPLETED|GONE)$/);
      await expectNoLiveProcess(user, 30_000, ` after job ${job} ended`);
    }

    it("two users' servers run as their Slurm jobs at once, with the users' uids, and a kernel through the proxy reports the user's uid", async () => {
      const hub = getHub();
      const c = getCluster();
      for (const user of USERS) tokens[user] = await hub.token(user);
      await Promise.all(USERS.map((user) => hub.startServer(user)));
      const servers = await Promise.all(USERS.map((user) => hub.waitReady(user, "", 120_000)));
      for (const [index, user] of USERS.entries()) {
        const job = jobIdOf(servers[index]);
        jobs[user] = job;
        const queued = c.job(job);
        // The hub names its default server "", and the job's mark carries that name.
        expect(queued, `squeue knows job ${job}`).toMatchObject({ user, state: "RUNNING", name: "jupyterhub-singleuser", comment: "ts-sudospawner server=" });
        expect(c.squeue("-h", "-j", String(job), "-o", "%N").trim()).toBe(c.node);
        const pid = await serverPid(job);
        pids[user] = pid;
        expectRunsAs(pid, user);
        expect(fs.readlinkSync(`/proc/${pid}/cwd`)).toBe(userInfo(user).home);
        await expectKernelRunsAs(hub, user, tokens[user] as string).catch((error: unknown) => {
          throw new Error(`${String(error)}\nserver log:\n${serverLog(user, job)}`);
        });
      }
      expect(jobs[E2E.ann]).not.toBe(jobs[E2E.jdoe]);
      // Both at once: each job still runs while the other's kernel was checked.
      for (const user of USERS) expect(c.job(jobs[user] as number)?.state).toBe("RUNNING");
    }, 240_000);

    it("the hub's environment never reaches a job: no canary in the server's environment, the cluster's SLURM_CONF, and the policy's time limit rather than SBATCH_TIMELIMIT=1", () => {
      const c = getCluster();
      // The hub itself did run with them.
      const hubEnv = userProcesses(E2E.hub).map((pid) => fs.readFileSync(`/proc/${pid}/environ`, "utf8"));
      expect(hubEnv.some((text) => text.includes(`TSSS_HUB_CANARY=${CANARY}`)), "the hub's environment holds the canary").toBe(true);
      for (const user of USERS) {
        const pid = pids[user] as number;
        const raw = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
        expect(raw.includes(CANARY), `the canary in /proc/${pid}/environ of ${user}'s server`).toBe(false);
        const env = environ(pid);
        expect(env.TSSS_HUB_CANARY).toBeUndefined();
        expect(env.SBATCH_TIMELIMIT).toBeUndefined();
        expect(env.SLURM_CONF).toBe(c.conf);
        expect(env.JUPYTERHUB_USER).toBe(user);
        // squeue's %l: 1:00:00 is the policy's 60 minutes; SBATCH_TIMELIMIT=1 would read 1:00.
        expect(c.job(jobs[user] as number)?.timeLimit).toBe("1:00:00");
      }
    });

    it("stopping a server cancels its job: squeue shows no job of the user and no process of the user is left", async () => {
      const hub = getHub();
      const job = jobs[E2E.jdoe] as number;
      await hub.stopServer(E2E.jdoe);
      await hub.waitStopped(E2E.jdoe);
      await expectJobGone(E2E.jdoe, job);
      expect(procState(pids[E2E.ann] as number), "the other user's server was not touched").toMatch(/[RS]/);
      expect(getCluster().job(jobs[E2E.ann] as number)?.state).toBe("RUNNING");
    }, 120_000);

    it("a job pending for CPUs shows 'pending: Resources' in the hub's progress stream, and the server starts once the CPUs are free", async () => {
      const hub = getHub();
      const c = getCluster();
      // ann's server holds one of the two CPUs; a plain job of j.doe's takes the other.
      const sleeper = c.submitAs(E2E.jdoe, "#!/bin/sh\nexec /bin/sleep 600\n", ["--export=NONE", "--chdir=/", "--output=/dev/null", "--cpus-per-task=1", "--mem=64M", "--time=10", "--job-name=tsss-sleeper"]);
      await waitFor(() => c.job(sleeper)?.state === "RUNNING", 20_000, `the sleeper job ${sleeper} to run`);
      // The POST answers only after JupyterHub's slow_spawn_timeout (10 s) while the job waits: read
      // the progress stream meanwhile, as the spawn page does.
      const requested = hub.startServer(E2E.jdoe);
      await waitFor(async () => (await hub.server(E2E.jdoe))?.pending === "spawn", 10_000, `the spawn of ${E2E.jdoe} to be pending`);
      const events = await hub.progressUntil(E2E.jdoe, (event) => /pending: Resources/.test(event.message ?? ""), { timeoutMs: 60_000 });
      log(`progress events while pending: ${JSON.stringify(events.map((event) => event.message))}`);
      const pending = c.jobsOf(E2E.jdoe).find((job) => job.name === "jupyterhub-singleuser");
      expect(pending, `the server's job of ${E2E.jdoe}`).toMatchObject({ state: "PENDING", reason: "Resources" });
      expect((await hub.server(E2E.jdoe))?.ready).toBe(false);

      c.tool("scancel", [String(sleeper)]);
      await requested;
      const server = await hub.waitReady(E2E.jdoe, "", 90_000);
      expect(jobIdOf(server)).toBe(pending?.id);
      expectRunsAs(await serverPid(pending?.id as number), E2E.jdoe);
      await hub.stopServer(E2E.jdoe);
      await hub.waitStopped(E2E.jdoe);
      await expectJobGone(E2E.jdoe, pending?.id as number);
    }, 180_000);

    it("a restarted hub (cleanup_servers = False) finds the running job again: ready, the same job id, and it can be stopped", async () => {
      const hub = getHub();
      const c = getCluster();
      const job = jobs[E2E.ann] as number;
      const pid = pids[E2E.ann] as number;
      await hub.stop();
      expect(c.job(job)?.state, "the job outlived the hub").toBe("RUNNING");
      expect(procState(pid), "the server outlived the hub").toMatch(/[RS]/);
      await hub.start();
      const after = await hub.server(E2E.ann);
      expect(after?.ready).toBe(true);
      expect(jobIdOf(after)).toBe(job);
      // The proxy route was restored, and the server still serves the user.
      const status = await hub.userFetch(E2E.ann, tokens[E2E.ann] as string, "api/status");
      expect(status.status).toBe(200);
      await hub.stopServer(E2E.ann);
      await hub.waitStopped(E2E.ann);
      await expectJobGone(E2E.ann, job);
      expect(c.jobs().filter((queued) => queued.state === "RUNNING" || queued.state === "PENDING"), `no job left on the cluster (JupyterHub ${runtime().version})`).toEqual([]);
    }, 240_000);

    it("a job cancelled outside the hub reaches JupyterHub's double poll (poll_and_notify, then user_stopped) as exit code 1 with its state, never 0", async () => {
      const hub = getHub();
      const c = getCluster();
      await hub.startServer(E2E.jdoe);
      const job = jobIdOf(await hub.waitReady(E2E.jdoe, "", 120_000));
      c.tool("scancel", [String(job)]); // an admin, or the cluster, ends it
      const stopped = `User ${E2E.jdoe} server stopped, with exit code: `;
      await waitFor(() => hub.logText.includes(stopped), 60_000, "JupyterHub's periodic poll to notice the cancelled job").catch((error: unknown) => {
        throw new Error(`${String(error)}; ${hub.logTail(3000)}`);
      });
      expect(hub.logText).toContain(`${stopped}1`);
      expect(hub.logText).not.toContain(`${stopped}0`);
      expect(hub.logText).toMatch(new RegExp(`Slurm job ${job} has ended: CANCELLED`));
      await hub.waitStopped(E2E.jdoe, "", 60_000);
      await expectJobGone(E2E.jdoe, job);
    }, 240_000);
  });
});
