/**
 * A second Slurm node across a network: the test cluster (test/helpers/slurm/slurm.ts) started with a
 * second node, tsss-n2, whose slurmd runs in a network namespace of the test's own, reached over
 * a veth pair. Through the real mediator and sudo, the demo server submitted to the `remote`
 * partition runs as the user on tsss-n2, query says so, the server answers across the veth (and
 * not on the hub's loopback), cancel ends it, and stop() leaves no namespace, veth or process.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { demoStatus, waitForDemoServer } from "../../helpers/demo-server.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { clusterProcesses, REMOTE_PARTITION, SECOND_NODE, SlurmCluster, secondNodeUnavailableReason } from "../../helpers/slurm/slurm.js";
import { SlurmMediator, slurmSection } from "../../helpers/slurm/slurm-mediator.js";
import { killUserProcesses, userInfo, userProcesses, waitFor, type TestUser } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const reason = !fx.available ? fx.reason : (secondNodeUnavailableReason() ?? "");
const skip = skipWithout("a second Slurm node in a network namespace (test/integration/slurm/slurm-two-nodes.test.ts)", reason);

describe.skipIf(skip)("Slurm mode with a second node in a network namespace, across a veth", () => {
  let cluster: SlurmCluster | undefined;
  let slurm: SlurmMediator;
  let alice: TestUser;
  const policy = new SitePolicyGuard();
  const get = (): SlurmCluster => {
    if (!cluster) throw new Error("the cluster did not start (see beforeAll)");
    return cluster;
  };

  beforeAll(async () => {
    alice = userInfo(fx.users[0] as string);
    cluster = await SlurmCluster.start({ secondNode: true });
    slurm = new SlurmMediator(fx, cluster);
    policy.write({ slurm: slurmSection(cluster, ["debug", REMOTE_PARTITION]) });
  }, 60_000);

  afterAll(async () => {
    try {
      await cluster?.stop();
    } finally {
      policy.restore();
      for (const user of fx.users) killUserProcesses(user);
    }
    for (const user of fx.users) expect(userProcesses(user)).toEqual([]);
    if (!cluster?.net) return;
    const { ns, hostVeth } = cluster.net;
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((line) => line.split(" ")[0])).not.toContain(ns);
    expect(fs.existsSync(`/run/netns/${ns}`)).toBe(false);
    expect(spawnSync("ip", ["link", "show", hostVeth]).status, `veth ${hostVeth}`).not.toBe(0);
    expect(spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout).not.toContain(ns);
    expect(clusterProcesses(cluster.dir)).toEqual([]);
    expect(fs.existsSync(cluster.dir)).toBe(false);
  }, 60_000);

  it("the server submitted to the remote partition runs as the user on tsss-n2 and answers across the veth; cancel leaves nothing", async () => {
    const c = get();
    const net = c.net as NonNullable<SlurmCluster["net"]>;
    const { result, port } = await slurm.submit(alice, { partition: REMOTE_PARTITION }, { JUPYTERHUB_API_TOKEN: "tok-remote" }, "0.0.0.0");
    const job = slurm.jobOf(result);
    expect(result.stderr).toContain(`submitted the server of ${alice.name} as Slurm job ${job} (partition ${REMOTE_PARTITION}, 60 min, 256 MB, 1 CPU)`);
    expect(await slurm.waitRunning(alice, job)).toEqual({ ok: true, state: "RUNNING", reason: null, node: SECOND_NODE });

    await waitForDemoServer(port, 15_000, net.nodeAddress);
    const status = await demoStatus(port, net.nodeAddress);
    expect([status.uid, status.cwd]).toEqual([alice.uid, alice.home]);
    expect(status.env.SLURM_JOB_ID).toBe(String(job));
    expect(status.env.JUPYTERHUB_API_TOKEN).toBe("tok-remote");
    // It runs in the node's namespace: not on the hub's loopback, and in another network namespace.
    await expect(fetch(`http://127.0.0.1:${port}/api/status`)).rejects.toThrow();
    expect(fs.readlinkSync(`/proc/${status.pid}/ns/net`)).not.toBe(fs.readlinkSync("/proc/self/ns/net"));

    expect((await slurm.call(alice, { action: "cancel", job })).answer).toEqual({ ok: true, cancelled: true });
    await waitFor(async () => ["CANCELLED", "GONE"].includes((await slurm.query(alice, job)).state as string), 20_000, `job ${job} to end`);
    await waitFor(() => userProcesses(alice.name).length === 0, 15_000, `no process of ${alice.name}`);
    await expect(fetch(`http://${net.nodeAddress}:${port}/api/status`)).rejects.toThrow();
    expect(c.jobsOf(alice.name)).toEqual([]);
  }, 60_000);
});
