/**
 * Reconciliation at start and the held submit, through the real sudo rule against a real
 * single-node cluster (test/helpers/slurm/slurm.ts): a submit with `"server": NAME, "reconcile": true`
 * cancels exactly the user's jobs marked with that name (never another name's, another user's, and
 * nothing at a submit-test or a refused submit); and a watchdog SIGKILLed between sbatch's report
 * and the release leaves a held job that the next such submit cancels.
 */
import { spawn } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { submitRequest, type JobRequest, type SubmitRequest } from "../../../src/protocol/index.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { SlurmCluster, slurmUnavailableReason, type SlurmJob } from "../../helpers/slurm/slurm.js";
import { SlurmMediator, slurmSection } from "../../helpers/slurm/slurm-mediator.js";
import { collectMediator, killUserProcesses, userInfo, userProcesses, waitFor, type MediatorRun, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";
import { cmdline, children, descendants, parentOf, signal, submitStoppedAtSbatch, waitIdle } from "../../helpers/process-tree.js";

const fx = inject("rootFixture");
const reason = !fx.available ? fx.reason : (slurmUnavailableReason() ?? "");
const skip = skipWithout("reconciliation and the held submit on Slurm (test/integration/slurm/slurm-reconcile.test.ts)", reason);

/** The comment a submit for `server` gives its job (src/mediator/slurm/job.ts, jobMarkFor). */
const markOf = (server: string): string => `ts-sudospawner server=${encodeURIComponent(server)}`;
const ACTIVE = ["PENDING", "RUNNING"];

describe.skipIf(skip)("reconciliation and the held submit against a real Slurm cluster", () => {
  let cluster: SlurmCluster;
  let alice: TestUser;
  let bob: TestUser;
  let slurm: SlurmMediator;
  const policy = new SitePolicyGuard();

  beforeAll(async () => {
    alice = userInfo(fx.users[0] as string);
    bob = userInfo(fx.users[1] as string);
    cluster = await SlurmCluster.start();
    slurm = new SlurmMediator(fx, cluster);
    policy.write({ slurm: slurmSection(cluster) });
  }, 90_000);

  async function cancelJobsOf(users: TestUser[]): Promise<void> {
    for (const user of users) for (const job of cluster.jobsOf(user.name)) cluster.tool("scancel", [String(job.id)]);
    await waitFor(() => users.every((user) => cluster.jobsOf(user.name).length === 0), 30_000, "no job of the test users");
  }

  afterEach(() => cancelJobsOf([alice, bob]), 60_000);

  afterAll(async () => {
    await cluster?.stop();
    policy.restore();
    for (const user of [alice, bob]) {
      killUserProcesses(user.name);
      expect(userProcesses(user.name)).toEqual([]);
    }
  }, 90_000);

  /** A submit request for `server` (the hub sends the name in the environment too). */
  async function request(server: string, reconcile: boolean, job: JobRequest = {}, action: "submit" | "submit-test" = "submit"): Promise<SubmitRequest> {
    const env = { ...BASE_ENV, JUPYTERHUB_SERVER_NAME: server };
    return submitRequest([`--port=${await freePort()}`, "--ip=127.0.0.1"], env, { job, server, reconcile }, action);
  }

  async function submit(user: TestUser, server: string, reconcile: boolean, job: JobRequest = {}, action: "submit" | "submit-test" = "submit"): Promise<MediatorRun> {
    return slurm.call(user, await request(server, reconcile, job, action));
  }

  function job(id: number): SlurmJob {
    const entry = cluster.job(id);
    if (entry === undefined) throw new Error(`squeue does not know job ${id}`);
    return entry;
  }

  /** Each job still pends or runs. */
  function expectActive(ids: number[]): void {
    for (const id of ids) expect(ACTIVE, `job ${id}: ${JSON.stringify(cluster.job(id))}`).toContain(job(id).state);
  }

  it("cancels exactly the user's job of that server name: not another name's, not another user's, and nothing at a submit-test or a refused submit", async () => {
    const aliceDefault = slurm.jobOf(await submit(alice, "", false));
    const aliceTwo = slurm.jobOf(await submit(alice, "two", false));
    const bobDefault = slurm.jobOf(await submit(bob, "", false));
    expect(job(aliceDefault)).toMatchObject({ user: alice.name, comment: markOf("") });
    expect(job(aliceTwo)).toMatchObject({ user: alice.name, comment: markOf("two") });
    expect(job(bobDefault)).toMatchObject({ user: bob.name, comment: markOf("") });
    const all = [aliceDefault, aliceTwo, bobDefault];
    expectActive(all);

    // A submit-test with reconcile queues nothing and cancels nothing.
    const test = await submit(alice, "", true, {}, "submit-test");
    expect(test.answer, test.stderr).toEqual({ ok: true, estimate: expect.stringMatching(/^Job \d+ to start at /) as unknown });
    // A submit refused for its resources cancels nothing either (the bounds are checked first).
    const refused = await submit(alice, "", true, { cpus: 3 });
    expect(refused.status).not.toBe(0);
    expect(refused.answer).toEqual({ ok: false, error: expect.stringMatching(/^job\.cpus 3 is above the site policy's maximum 2/) as unknown });
    expect(refused.stderr).not.toMatch(/cancelling Slurm job/);
    expectActive(all);
    expect(cluster.jobsOf(alice.name).map((entry) => entry.id).sort((a, b) => a - b)).toEqual([aliceDefault, aliceTwo]);

    const fresh = await submit(alice, "", true);
    expect(fresh.answer, fresh.stderr).toEqual({ ok: true, job: expect.any(Number) as unknown, stopped: [aliceDefault] });
    expect(fresh.stderr).toContain(`cancelling Slurm job ${aliceDefault}, a default server of ${alice.name} that no hub knows`);
    const freshJob = slurm.jobOf(fresh);
    // The cancelled job ends: CANCELLED while squeue still lists it, then not listed.
    await waitFor(() => cluster.job(aliceDefault) === undefined || cluster.job(aliceDefault)?.state === "CANCELLED", 30_000, `job ${aliceDefault} to be cancelled`);
    expect(cluster.jobsOf(alice.name).map((entry) => entry.id)).not.toContain(aliceDefault);
    expectActive([aliceTwo, bobDefault, freshJob]);
    expect(job(freshJob)).toMatchObject({ user: alice.name, comment: markOf("") });

    // Bob's reconcile of his default server reaches only his own job.
    const bobFresh = await submit(bob, "", true);
    expect(bobFresh.answer, bobFresh.stderr).toEqual({ ok: true, job: expect.any(Number) as unknown, stopped: [bobDefault] });
    expectActive([aliceTwo, freshJob]);
  }, 300_000);

  it("a watchdog SIGKILLed after sbatch --hold reported the id, before the release, leaves a held job; the next start of that server with reconcile cancels it", async () => {
    // sbatch is stopped as soon as it shows (it has not answered then); the mediator once it has
    // nothing left to do but wait for the watchdog's report (the job script is written and its
    // pipe shut). Then sbatch goes on: the watchdog reports the id, but no commit can reach it
    // (sudo stops itself with its command; all four go on at the end).
    const { child, result, tree, misses } = await submitStoppedAtSbatch(
      async () => {
        const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=debug"], { stdio: ["pipe", "pipe", "pipe"] });
        return { child, result: collectMediator(child, JSON.stringify(await request("lost", false))) };
      },
      fx.prefix,
      () => cancelJobsOf([alice]),
    );
    if (misses > 0) process.stderr.write(`slurm-reconcile: sbatch was missed ${misses} time(s) before it was stopped\n`);
    const { mediator, watchdog, sbatch } = tree;
    const sudos = [parentOf(mediator), child.pid as number];
    let held: SlurmJob | undefined;
    try {
      await waitIdle(mediator);
      signal(mediator, "SIGSTOP");
      signal(sbatch, "SIGCONT");
      // sbatch --hold has answered and the watchdog waits for the commit: the job is held.
      await waitFor(() => (held = cluster.jobsOf(alice.name)[0]) !== undefined && children(watchdog).length === 0, 30_000, "the held job, and sbatch done").catch((error: unknown) => {
        const procs = descendants(mediator).map((pid) => `${pid} ${cmdline(pid).replace(/\0/g, " ").slice(0, 80)}`);
        throw new Error(`${String(error)}: jobs ${JSON.stringify(cluster.jobs())}; processes ${procs.join("; ")}`);
      });
      expect(held).toMatchObject({ state: "PENDING", reason: "JobHeldUser", comment: markOf("lost") });
      signal(watchdog, "SIGKILL");
      await waitFor(() => cmdline(watchdog) === "", 10_000, "the watchdog to be gone");
    } finally {
      for (const pid of [sbatch, mediator, ...sudos]) signal(pid, "SIGCONT");
    }
    const run = await result;
    const heldId = (held as SlurmJob).id;
    // The mediator read the report the watchdog wrote before it died: the hub has the id.
    expect(run.answer, run.stderr).toEqual({ ok: true, job: heldId });
    // Nobody releases or cancels it: it stays held, never running.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(job(heldId)).toMatchObject({ state: "PENDING", reason: "JobHeldUser" });
    expect(await slurm.query(alice, heldId)).toEqual({ ok: true, state: "PENDING", reason: "JobHeldUser", node: null });

    const fresh = await submit(alice, "lost", true);
    expect(fresh.answer, fresh.stderr).toEqual({ ok: true, job: expect.any(Number) as unknown, stopped: [heldId] });
    await waitFor(() => cluster.job(heldId) === undefined || cluster.job(heldId)?.state === "CANCELLED", 30_000, `held job ${heldId} to be cancelled`);
    await slurm.waitRunning(alice, slurm.jobOf(fresh));
  }, 300_000);
});
