/**
 * Slurm mode of the mediator through the real sudo rule, against a real single-node Slurm cluster
 * (test/helpers/slurm/slurm.ts): the job runs as the user with the policy's bounds; nothing the hub
 * controls (request, the environment of the mediator) picks the executable, the options or the
 * cluster; query and cancel reach only marked jobs of the user; Slurm mode is off without a
 * policy section. docs/security.md's "Slurm mode" lines point here.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { submitRequest } from "../../../src/protocol/index.js";
import { demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { freePort } from "../../helpers/ports.js";
import { BASE_ENV } from "../../helpers/requests.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { SlurmCluster, slurmUnavailableReason } from "../../helpers/slurm/slurm.js";
import { SlurmMediator, slurmSection as policySection } from "../../helpers/slurm/slurm-mediator.js";
import { killUserProcesses, run, userInfo, userProcesses, waitFor, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const reason = !fx.available ? fx.reason : (slurmUnavailableReason() ?? "");
const skip = skipWithout("Slurm mode of the mediator (test/integration/slurm/slurm.test.ts)", reason);

describe.skipIf(skip)("Slurm mode through real sudo and a real Slurm cluster", () => {
  let cluster: SlurmCluster;
  let alice: TestUser;
  let bob: TestUser;
  const policy = new SitePolicyGuard();

  let slurm: SlurmMediator;

  function slurmSection(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return policySection(cluster, ["debug", "short"], extra);
  }

  beforeAll(async () => {
    alice = userInfo(fx.users[0] as string);
    bob = userInfo(fx.users[1] as string);
    cluster = await SlurmCluster.start();
    slurm = new SlurmMediator(fx, cluster);
    policy.write({ slurm: slurmSection() });
  }, 90_000);

  afterEach(async () => {
    for (const user of [alice, bob]) for (const job of cluster.jobsOf(user.name)) cluster.tool("scancel", [String(job.id)]);
    await waitFor(() => cluster.jobsOf(alice.name).length + cluster.jobsOf(bob.name).length === 0, 30_000, "no job of the test users");
    policy.write({ slurm: slurmSection() });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    policy.restore();
    for (const user of fx.users) killUserProcesses(user);
    for (const user of fx.users) expect(userProcesses(user)).toEqual([]);
  }, 90_000);

  const call: SlurmMediator["call"] = (user, request) => slurm.call(user, request);
  const submit: SlurmMediator["submit"] = (user, job, env) => slurm.submit(user, job, env);
  const jobOf: SlurmMediator["jobOf"] = (result) => slurm.jobOf(result);
  const query: SlurmMediator["query"] = (user, job) => slurm.query(user, job);
  const waitRunning: SlurmMediator["waitRunning"] = (user, job) => slurm.waitRunning(user, job);

  it("submit runs the server as the user's job with the policy's defaults; query follows it; cancel ends it and leaves nothing", async () => {
    const { result, port } = await submit(alice, {}, { JUPYTERHUB_API_TOKEN: "tok-slurm" });
    const job = jobOf(result);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(`submitted the server of ${alice.name} as Slurm job ${job} (partition debug, 60 min, 256 MB, 1 CPU)`);
    expect(await waitRunning(alice, job)).toEqual({ ok: true, state: "RUNNING", reason: null, node: cluster.node });
    await waitForDemoServer(port);
    const status = await demoStatus(port);
    expect([status.uid, status.cwd]).toEqual([alice.uid, alice.home]);
    expect(status.argv.slice(-2)).toEqual([`--port=${port}`, "--ip=127.0.0.1"]);
    expect(status.env.JUPYTERHUB_API_TOKEN).toBe("tok-slurm");
    expect(status.env.SLURM_JOB_ID).toBe(String(job));
    const queued = cluster.job(job);
    expect(queued).toMatchObject({ user: alice.name, name: "jupyterhub-singleuser", comment: "ts-sudospawner", timeLimit: "1:00:00" });

    const cancel = await call(alice, { action: "cancel", job });
    expect(cancel.answer).toEqual({ ok: true, cancelled: true });
    await waitFor(async () => ["CANCELLED", "GONE"].includes((await query(alice, job)).state as string), 30_000, `job ${job} to end`);
    await waitFor(() => userProcesses(alice.name).length === 0, 15_000, `no process of ${alice.name}`);
    expect(await call(alice, { action: "cancel", job })).toMatchObject({ answer: { ok: true, cancelled: false } });
  }, 90_000);

  it("the job's options come from the policy: the environment the mediator runs with cannot add sbatch options or pick another cluster", async () => {
    const canary = randomBytes(6).toString("hex");
    const port = await freePort();
    const request = JSON.stringify(
      submitRequest([`--port=${port}`, "--ip=127.0.0.1"], { ...BASE_ENV, SBATCH_TIMELIMIT: "1", SBATCH_PARTITION: "short", TSSS_CANARY: canary }),
    );
    // As root may: the mediator as the user with a hostile environment of its own (sudo's
    // env_reset would drop these; a site's env_keep might not).
    const result = run("sudo", ["-u", alice.name, "-H", "env", "SBATCH_TIMELIMIT=1", "SBATCH_PARTITION=short", "SLURM_CONF=/nonexistent/slurm.conf", `SBATCH_COMMENT=${canary}`, fx.mediator], { input: request });
    const job = JSON.parse(result.stdout) as { ok: boolean; job: number };
    expect(job.ok, result.stderr).toBe(true);
    await waitRunning(alice, job.job);
    expect(cluster.job(job.job)).toMatchObject({ timeLimit: "1:00:00", comment: "ts-sudospawner" });
    expect(cluster.squeue("-h", "-j", String(job.job), "-o", "%P").trim()).toBe("debug");
    // Variables outside the allow-list never reach the job script.
    await waitForDemoServer(port);
    const env = (await demoStatus(port)).env;
    expect(Object.keys(env).filter((name) => name.startsWith("SBATCH_") || name === "TSSS_CANARY")).toEqual([]);
    expect(Object.values(env)).not.toContain(canary);
  }, 90_000);

  it("query and cancel refuse a job without the mark and another user's job, which keep running", async () => {
    const unmarked = cluster.submitAs(alice.name, "#!/bin/sh\nexec /bin/sleep 300\n", ["--export=NONE", `--chdir=${alice.home}`, "--output=/dev/null", "--time=5", "--mem=100M"]);
    const bobs = jobOf((await submit(bob)).result);
    await waitFor(() => cluster.job(unmarked)?.state === "RUNNING" && cluster.job(bobs)?.state === "RUNNING", 30_000, "both jobs to run");
    for (const [job, owner] of [
      [unmarked, alice.name],
      [bobs, bob.name],
    ] as const) {
      for (const action of ["query", "cancel"]) {
        const result = await call(alice, { action, job });
        expect(result.status).toBe(1);
        expect(result.answer, `${action} of ${owner}'s job ${job}`).toEqual({ ok: false, error: `job ${job} is not a server ts-sudospawner submitted for ${alice.name}; leaving it alone` });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect([cluster.job(unmarked)?.state, cluster.job(bobs)?.state]).toEqual(["RUNNING", "RUNNING"]);
  }, 90_000);

  it("a job pending for resources shows Slurm's reason", async () => {
    const hog = cluster.submitAs(bob.name, "#!/bin/sh\nexec /bin/sleep 300\n", ["--export=NONE", `--chdir=${bob.home}`, "--output=/dev/null", "--time=5", "--cpus-per-task=2", "--mem=100M"]);
    await waitFor(() => cluster.job(hog)?.state === "RUNNING", 30_000, "the job holding both CPUs to run");
    const job = jobOf((await submit(alice)).result);
    await waitFor(async () => (await query(alice, job)).reason === "Resources", 30_000, `job ${job} to wait for resources`);
    expect(await query(alice, job)).toEqual({ ok: true, state: "PENDING", reason: "Resources", node: null });
    expect(await call(alice, { action: "cancel", job })).toMatchObject({ answer: { ok: true, cancelled: true } });
  }, 90_000);

  it("refuses resources beyond the policy and partitions it does not list, and queues nothing", async () => {
    for (const [job, message] of [
      [{ cpus: 3 }, "job.cpus 3 is above the site policy's maximum 2 (slurm.cpus.max in /etc/ts-sudospawner/config.json)"],
      [{ memoryMB: 1001 }, "job.memoryMB 1001 is above the site policy's maximum 1000 (slurm.memoryMB.max in /etc/ts-sudospawner/config.json)"],
      [{ partition: "gpu" }, 'partition "gpu" is not offered by the site policy (slurm.partitions in /etc/ts-sudospawner/config.json: debug, short)'],
    ] as const) {
      const { result } = await submit(alice, job);
      expect(result.answer).toEqual({ ok: false, error: message });
    }
    expect(cluster.jobsOf(alice.name)).toEqual([]);
  }, 60_000);

  it("submit-test asks sbatch --test-only, as the user, and queues nothing; slurm-options shows the bounds", async () => {
    const result = await call(alice, submitRequest([], BASE_ENV, { job: { partition: "short", minutes: 30 } }, "submit-test"));
    expect(result.answer, result.stderr).toMatchObject({ ok: true, estimate: expect.stringMatching(new RegExp(`^Job \\d+ to start at \\S+ using 1 processors on nodes ${cluster.node} in partition short$`)) as unknown });
    expect(cluster.jobsOf(alice.name)).toEqual([]);
    expect((await call(alice, { action: "slurm-options" })).answer).toEqual({
      ok: true,
      partitions: ["debug", "short"],
      minutes: { default: 60, max: 120 },
      memoryMB: { default: 256, max: 1000 },
      cpus: { default: 1, max: 2 },
      gpus: { default: 0, max: 0 },
    });
  }, 60_000);

  /** A copy of `source` owned by `uid` (the hub user's by default), in /tmp (sticky), removed after `use`. */
  async function withCopyOwnedBy(source: string, use: (copy: string) => Promise<void>, uid = userInfo(fx.hub).uid): Promise<void> {
    const copy = `/tmp/tsss-${uid}-${source.split("/").pop() as string}-${randomBytes(4).toString("hex")}`;
    fs.copyFileSync(source, copy);
    fs.chownSync(copy, uid, 0);
    fs.chmodSync(copy, 0o755);
    try {
      await use(copy);
    } finally {
      fs.rmSync(copy, { force: true });
    }
  }

  /**
   * A stand-in for Slurm's `tool` owned by `uid`, in /tmp (sticky): a script that leaves a mark
   * (`ran`) when it runs and then runs the real tool, as a hub's replacement would. Removed after.
   */
  async function withStandInOwnedBy(tool: string, uid: number, use: (standIn: string, ran: string) => Promise<void>): Promise<void> {
    const standIn = `/tmp/tsss-${uid}-${tool}-${randomBytes(4).toString("hex")}`;
    const ran = `${standIn}.ran`;
    fs.writeFileSync(standIn, `#!/bin/sh\ntouch ${ran}\nexec /usr/bin/${tool} "$@"\n`);
    fs.chownSync(standIn, uid, 0);
    fs.chmodSync(standIn, 0o755);
    try {
      await use(standIn, ran);
    } finally {
      fs.rmSync(standIn, { force: true });
      fs.rmSync(ran, { force: true });
    }
  }

  it("sbatch, squeue and scancel are audited: a copy the hub or even the user could replace is refused before it runs", async () => {
    // A marked job of alice's for query (squeue) and cancel (scancel) to act on.
    const job = jobOf((await submit(alice)).result);
    for (const owner of [userInfo(fx.hub).uid, alice.uid]) {
      for (const [tool, request] of [
        ["sbatch", submitRequest([`--port=${await freePort()}`, "--ip=127.0.0.1"], BASE_ENV)],
        ["squeue", { action: "query", job }],
        ["scancel", { action: "cancel", job }],
      ] as const) {
        await withStandInOwnedBy(tool, owner, async (standIn, ran) => {
          policy.write({ slurm: slurmSection({ [tool]: standIn }) });
          const result = await call(alice, request);
          expect(result.status, `${request.action} with ${tool} owned by uid ${owner}`).toBe(1);
          expect(result.answer).toMatchObject({ ok: false, error: expect.stringContaining(`Slurm's ${standIn.split("/").pop() as string}`) as unknown });
          expect(result.answer).toMatchObject({ error: expect.stringContaining("who must not control what runs") as unknown });
          expect(fs.existsSync(ran), `${standIn} ran`).toBe(false);
        });
      }
    }
    // Nothing was queued, and the job the refused cancel named still runs or waits.
    expect(cluster.jobsOf(alice.name).map((queued) => queued.id)).toEqual([job]);
    expect(["PENDING", "RUNNING"]).toContain(cluster.job(job)?.state);
  }, 90_000);

  it("the server's executable is audited as for a spawn: one the hub could replace is refused, and nothing is queued", async () => {
    await withCopyOwnedBy(`${fx.binDir}/jupyterhub-singleuser`, async (copy) => {
      policy.write({ singleuser: copy, slurm: slurmSection() });
      for (const action of ["submit", "submit-test"] as const) {
        const result = await call(alice, submitRequest([], BASE_ENV, {}, action));
        expect(result.answer).toMatchObject({ ok: false, error: expect.stringContaining(copy) as unknown });
        expect(result.answer).toMatchObject({ error: expect.stringContaining("who must not control what runs") as unknown });
      }
      expect(cluster.jobsOf(alice.name)).toEqual([]);
    });
  }, 60_000);

  it("is off without a slurm section in the policy: every Slurm action is refused", async () => {
    policy.write({});
    for (const request of [submitRequest([], BASE_ENV), submitRequest([], BASE_ENV, {}, "submit-test"), { action: "query", job: 1 }, { action: "cancel", job: 1 }, { action: "slurm-options" }]) {
      const result = await call(alice, request);
      expect(result.status).toBe(1);
      expect(result.answer).toEqual({ ok: false, error: 'Slurm mode is off: the site policy /etc/ts-sudospawner/config.json has no "slurm" section (see docs/policy.md#slurm)' });
    }
    expect(cluster.jobsOf(alice.name)).toEqual([]);
  }, 60_000);
});
