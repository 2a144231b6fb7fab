/**
 * The Slurm test cluster (test/helpers/slurm/slurm.ts) proves itself: a job a test user submits with
 * `sbatch --export=NONE` runs as that user without the submitter's environment, and stop() leaves
 * no daemon, job, job process or directory behind. The Slurm suites (test/e2e/slurm.test.ts) rely
 * on both.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { clusterProcesses, SlurmCluster, slurmUnavailableReason } from "../../helpers/slurm/slurm.js";
import { procStatus, userInfo, userProcesses, waitFor } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const reason = !fx.available ? fx.reason : (slurmUnavailableReason() ?? "");
const skip = skipWithout("Slurm test cluster (test/integration/slurm/slurm-cluster.test.ts)", reason);

describe.skipIf(skip)("a single-node Slurm cluster started by the test itself", () => {
  let cluster: SlurmCluster | undefined;
  const get = (): SlurmCluster => {
    if (!cluster) throw new Error("the cluster did not start (see beforeAll)");
    return cluster;
  };

  beforeAll(async () => {
    cluster = await SlurmCluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    const { home } = userInfo(fx.users[0] as string);
    for (const file of fs.readdirSync(home)) if (file.startsWith("tsss-slurm-")) fs.rmSync(path.join(home, file), { force: true });
  }, 60_000);

  /** A job of the user's, with a canary in the submitter's environment. */
  function submitAs(user: string, script: string, canary: string): number {
    const { home } = userInfo(user);
    return get().submitAs(user, script, ["--export=NONE", `--chdir=${home}`, `--output=${home}/tsss-slurm-%j.out`, "--time=5"], { TSSS_CANARY: canary });
  }

  it("a job submitted with sbatch --export=NONE runs as the submitting user, without the submitter's environment", async () => {
    const user = userInfo(fx.users[0] as string);
    const canary = randomBytes(8).toString("hex");
    const id = submitAs(user.name, '#!/bin/sh\necho "uid=$(/usr/bin/id -u) job=$SLURM_JOB_ID canary=$TSSS_CANARY"\n', canary);
    expect(get().job(id)?.user).toBe(user.name);
    const output = path.join(user.home, `tsss-slurm-${id}.out`);
    await waitFor(() => get().job(id)?.state === "COMPLETED", 30_000, `job ${id} to complete`).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(get().job(id))}\n${get().logTail()}`);
    });
    expect(fs.readFileSync(output, "utf8").trim()).toBe(`uid=${user.uid} job=${id} canary=`);
    expect(fs.statSync(output).uid).toBe(user.uid);
  }, 40_000);

  it("stop() cancels a running job and leaves no daemon, job process or directory", async () => {
    const user = userInfo(fx.users[0] as string);
    const c = get();
    const id = submitAs(user.name, "#!/bin/sh\nexec /bin/sleep 300\n", "");
    await waitFor(() => c.job(id)?.state === "RUNNING" && c.jobPids(id).length > 0, 20_000, `job ${id} to run`);
    // The job's process (not its root-owned slurmstepd) is the user's.
    const pids = c.jobPids(id);
    expect(pids.map((pid) => procStatus(pid)?.Uid?.split(/\s+/)[0])).toContain(String(user.uid));
    const before = c.processes();
    expect(before.length).toBeGreaterThanOrEqual(5); // munged, slurmctld (+ slurmscriptd), slurmd, the job step, the job

    await c.stop();
    expect(fs.existsSync(c.dir)).toBe(false);
    expect(clusterProcesses(c.dir)).toEqual([]);
    for (const pid of before) expect(procStatus(pid)?.State ?? "gone", `process ${pid} of the cluster`).toMatch(/^(gone|Z)/);
    const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout;
    expect(ps.split("\n").filter((line) => line.includes(c.dir))).toEqual([]);
    expect(userProcesses(user.name).filter((pid) => procStatus(pid)?.State?.charAt(0) !== "Z")).toEqual([]);
  }, 60_000);
});
