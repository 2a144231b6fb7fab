/**
 * A Slurm submit that commits, and Slurm outages worded as outages, through the real sudo rule
 * against a real single-node cluster (test/helpers/slurm/slurm.ts): the mediator SIGKILLed at points
 * spread over a submit either answered a job id (that job is released and a cancel ends it) or
 * leaves no pending or running job of the user; one SIGKILLed while its sbatch runs (stopped
 * there, so that point is hit every run) leaves a job that is cancelled, never run; slurmctld
 * stopped makes submit and query answer SLURM_UNAVAILABLE naming `scontrol ping`; a node set down
 * ends its job as NODE_FAIL.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { submitRequest } from "../../../src/protocol/index.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { SlurmCluster, slurmUnavailableReason, type SlurmJob } from "../../helpers/slurm/slurm.js";
import { cmdline, signal, submitStoppedAtSbatch, waitIdle } from "../../helpers/process-tree.js";
import { SlurmMediator, slurmSection } from "../../helpers/slurm/slurm-mediator.js";
import { collectMediator, killUserProcesses, userInfo, userProcesses, waitFor, type MediatorRun, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const reason = !fx.available ? fx.reason : (slurmUnavailableReason() ?? "");
const skip = skipWithout("a Slurm submit that commits (test/integration/slurm/slurm-commit.test.ts)", reason);

/** The mediator's node process among the user's: its command line names the install's cli. */
function mediatorPid(user: string): number | undefined {
  return userProcesses(user).find((pid) => {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return cmdline.includes(`${fx.prefix}/`) && (cmdline.includes("cli.cjs") || cmdline.includes(fx.mediator)) && !cmdline.includes("tsss-slurm-watchdog");
    } catch {
      return false;
    }
  });
}

describe.skipIf(skip)("a Slurm submit that commits, and outages worded as outages", () => {
  let cluster: SlurmCluster;
  let alice: TestUser;
  let slurm: SlurmMediator;
  const policy = new SitePolicyGuard();

  beforeAll(async () => {
    alice = userInfo(fx.users[0] as string);
    cluster = await SlurmCluster.start();
    slurm = new SlurmMediator(fx, cluster);
    policy.write({ slurm: slurmSection(cluster) });
  }, 90_000);

  async function cancelJobsOf(user: TestUser): Promise<void> {
    for (const job of cluster.jobsOf(user.name)) cluster.tool("scancel", [String(job.id)]);
    await waitFor(() => cluster.jobsOf(user.name).length === 0, 30_000, `no job of ${user.name}`);
  }

  afterEach(() => cancelJobsOf(alice), 60_000);

  afterAll(async () => {
    await cluster?.stop();
    policy.restore();
    killUserProcesses(alice.name);
    expect(userProcesses(alice.name)).toEqual([]);
  }, 90_000);

  /** A submit through the hub's rule whose mediator is SIGKILLed `delayMs` after sudo started. */
  async function submitKilledAfter(delayMs: number): Promise<{ run: MediatorRun; killed: boolean }> {
    const request = JSON.stringify(submitRequest([`--port=${await freePort()}`, "--ip=127.0.0.1"], BASE_ENV));
    const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=debug"], { stdio: ["pipe", "pipe", "pipe"] });
    const result = collectMediator(child, request);
    const started = Date.now();
    let killed = false;
    while (child.exitCode === null && !killed) {
      const pid = mediatorPid(alice.name);
      if (pid !== undefined && Date.now() - started >= delayMs) {
        process.kill(pid, "SIGKILL");
        killed = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return { run: await result, killed };
  }

  it("a mediator SIGKILLed anywhere in a submit either answered the job id (released, then cancelled by a kill request) or leaves no job of the user", async () => {
    const timed = Date.now();
    const first = slurm.jobOf((await slurm.submit(alice)).result);
    const submitMs = Date.now() - timed;
    await slurm.waitRunning(alice, first); // released after the answer: it runs
    expect((await slurm.call(alice, { action: "cancel", job: first })).answer).toEqual({ ok: true, cancelled: true });
    await waitFor(() => cluster.jobsOf(alice.name).length === 0, 30_000, "the first job to end");

    const outcomes: string[] = [];
    for (let point = 0; point < 12; point++) {
      const delay = Math.round((submitMs * point) / 10);
      const { run } = await submitKilledAfter(delay);
      const answer = run.answer;
      if (answer?.ok === true && typeof answer.job === "number") {
        outcomes.push(`${delay} ms: answered job ${answer.job}`);
        await slurm.waitRunning(alice, answer.job);
        expect((await slurm.call(alice, { action: "cancel", job: answer.job })).answer).toEqual({ ok: true, cancelled: true });
      } else {
        outcomes.push(`${delay} ms: no answer (${run.status})`);
      }
      // No pending or running job of the user stays: the watchdog cancelled what no answer carried.
      await waitFor(() => cluster.jobsOf(alice.name).length === 0, 30_000, `no job of ${alice.name} after the kill at ${delay} ms (${JSON.stringify(cluster.jobsOf(alice.name))})`);
    }
    process.stderr.write(`slurm-commit: submit took ${submitMs} ms; kill points: ${outcomes.join("; ")}\n`);
    // The points cover both sides: kills before the answer and submits that answered.
    expect(outcomes.some((line) => line.includes("no answer"))).toBe(true);
    expect(outcomes.some((line) => line.includes("answered job"))).toBe(true);
  }, 600_000);

  it("a mediator SIGKILLed while its sbatch runs answers nothing, and the held job sbatch then submits is cancelled, never run", async () => {
    // sbatch stopped before it answered; the mediator killed once it has written the job script.
    let before = 0; // the newest job id before the submit that counts
    const { result, tree, misses } = await submitStoppedAtSbatch(
      async () => {
        before = Math.max(0, ...cluster.jobs().map((job) => job.id));
        const request = JSON.stringify(submitRequest([`--port=${await freePort()}`, "--ip=127.0.0.1"], BASE_ENV));
        const child = spawn("sudo", ["-u", fx.hub, "sudo", "-n", "-u", alice.name, "-H", fx.mediator, "--logging=debug"], { stdio: ["pipe", "pipe", "pipe"] });
        return { child, result: collectMediator(child, request) };
      },
      fx.prefix,
      () => cancelJobsOf(alice),
    );
    if (misses > 0) process.stderr.write(`slurm-commit: sbatch was missed ${misses} time(s) before it was stopped\n`);
    try {
      await waitIdle(tree.mediator).catch(async (error: unknown) => {
        signal(tree.sbatch, "SIGCONT");
        throw new Error(`${String(error)}; the mediator's run: ${JSON.stringify(await result)}`);
      });
      signal(tree.mediator, "SIGKILL");
      await waitFor(() => cmdline(tree.mediator) === "", 10_000, "the mediator to be gone");
    } finally {
      signal(tree.sbatch, "SIGCONT");
    }
    expect((await result).answer).toBeUndefined();
    // sbatch submits the job held; the watchdog gets no commit (stdin ends) and cancels it.
    let job: SlurmJob | undefined;
    await waitFor(() => (job = cluster.jobs().find((entry) => entry.id > before && entry.user === alice.name))?.state === "CANCELLED", 30_000, "the job sbatch submitted to be cancelled").catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(job)}`);
    });
    expect(job).toMatchObject({ state: "CANCELLED", nodes: "" }); // it never ran on a node
    expect(cluster.jobsOf(alice.name)).toEqual([]);
  }, 120_000);

  it("with slurmctld stopped, submit and query answer that Slurm is not answering, naming scontrol ping and squeue; after a restart the job is there", async () => {
    const job = slurm.jobOf((await slurm.submit(alice)).result);
    await slurm.waitRunning(alice, job);
    await cluster.stopController();
    try {
      const submit = (await slurm.submit(alice)).result;
      expect(submit.status).toBe(1);
      const error = String(submit.answer?.error);
      expect(error).toMatch(/^Slurm is not answering: \S*sbatch could not reach the controller/);
      expect(error).toContain(`run \`scontrol ping\` and \`squeue -u ${alice.name}\` as ${alice.name}`);
      const query = await slurm.call(alice, { action: "query", job });
      expect(String(query.answer?.error)).toMatch(/^Slurm is not answering: squeue could not reach the controller/);
    } finally {
      await cluster.startController();
    }
    expect(await slurm.query(alice, job)).toMatchObject({ ok: true, state: "RUNNING" });
  }, 300_000);

  it("a node set down under a running job ends it as NODE_FAIL, which query reports", async () => {
    const job = slurm.jobOf((await slurm.submit(alice)).result);
    await slurm.waitRunning(alice, job);
    cluster.tool("scontrol", ["update", `nodename=${cluster.node}`, "state=down", "reason=tsss-test"]);
    try {
      let status: Record<string, unknown> = {};
      await waitFor(async () => (status = await slurm.query(alice, job)).state !== "RUNNING", 60_000, `job ${job} to end with its node`);
      expect(status).toMatchObject({ ok: true, state: "NODE_FAIL" });
    } finally {
      // A DOWN node with no job left is brought back with state=idle (22.05 refuses resume then).
      cluster.tool("scontrol", ["update", `nodename=${cluster.node}`, "state=idle"]);
      await cluster.waitIdle(60_000);
    }
  }, 300_000);
});
