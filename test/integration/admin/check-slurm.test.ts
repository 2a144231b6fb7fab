/**
 * `ts-sudospawner check` and Slurm mode, as root against the real installed command, the real
 * sudo rule of the shared fixture and a real single-node Slurm cluster the suite starts itself
 * (test/helpers/slurm/slurm.ts): off without a slurm section, every Slurm row passing for a real user
 * with one, and the right row failing, with a next step, for a partition Slurm does not have, an
 * sbatch or scontrol anyone in a group could replace, and a stopped munged.
 *
 * The site policy is written with SitePolicyGuard and put back after the suite; the suite's own
 * directory /opt/tsss-chk-slurm is removed.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCheckJson, type CheckRun } from "../../helpers/check-run.js";
import { SitePolicyGuard } from "../../helpers/site-policy.js";
import { clusterProcesses, SlurmCluster, slurmUnavailableReason } from "../../helpers/slurm/slurm.js";
import { userInfo, waitFor } from "../../helpers/system.js";
import { skipWithout } from "../../helpers/prerequisites.js";

const fx = inject("rootFixture");
const reason = !fx.available ? fx.reason : (slurmUnavailableReason() ?? "");
const skip = skipWithout("check in Slurm mode (test/integration/admin/check-slurm.test.ts)", reason);

const UNSAFE_DIR = "/opt/tsss-chk-slurm/bin";
const SLURM_IDS = ["slurm-mode", "slurm-munge", "slurm-submit-test"];

function check(user: string): CheckRun {
  return runCheckJson(fx.mediator, fx.hub, user);
}

describe.skipIf(skip)("check in Slurm mode (root, real sudo, a real Slurm cluster)", () => {
  const policy = new SitePolicyGuard();
  const user = userInfo(fx.users[0] as string);
  let cluster: SlurmCluster | undefined;
  const get = (): SlurmCluster => {
    if (!cluster) throw new Error("the cluster did not start (see beforeAll)");
    return cluster;
  };

  /** A slurm section that fits the test cluster (2 CPUs, 4000 MB): every maximum is possible. */
  function slurmSection(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      sbatch: "/usr/bin/sbatch",
      squeue: "/usr/bin/squeue",
      scancel: "/usr/bin/scancel",
      conf: get().conf,
      partitions: ["debug", "short"],
      minutes: { default: 30, max: 60 },
      memoryMB: { default: 256, max: 1024 },
      cpus: { default: 1, max: 2 },
      ...extra,
    };
  }

  beforeAll(async () => {
    policy.backup();
    fs.rmSync(path.dirname(UNSAFE_DIR), { recursive: true, force: true });
    cluster = await SlurmCluster.start();
  }, 90_000);

  afterAll(async () => {
    policy.restore();
    fs.rmSync(path.dirname(UNSAFE_DIR), { recursive: true, force: true });
    await cluster?.stop();
  }, 90_000);

  it("shows one informational row when the policy has no slurm section", () => {
    policy.write({ minUid: 1000 });
    const run = check(user.name);
    expect(run.ids.filter((id) => id.startsWith("slurm-"))).toEqual(["slurm-mode"]);
    // The Slurm rows come last but for SELinux's.
    expect(run.ids.slice(-2)).toEqual(["slurm-mode", "selinux-execmem"]);
    const row = run.rows["slurm-mode"];
    expect(row?.status).toBe("skip");
    expect(row?.detail).toBe('off: the site policy /etc/ts-sudospawner/config.json has no "slurm" section (see docs/policy.md#slurm)');
    expect(run.stderr).toContain(`[20/21] asking the mediator as ${user.name} whether Slurm mode is on (slurm-options)...\n`);
    expect(run.stderr).not.toContain("munge -n");
  });

  it("passes every Slurm row for a real user, and queues nothing", () => {
    policy.write({ slurm: slurmSection() });
    const c = get();
    const run = check(user.name);
    expect(run.ids.slice(-4)).toEqual([...SLURM_IDS, "selinux-execmem"]);
    for (const id of SLURM_IDS) expect(run.rows[id]?.status, JSON.stringify(run.rows[id])).toBe("pass");
    expect(run.rows["slurm-mode"]?.detail).toBe(`on, as ${user.name}: partitions debug (default), short; minutes 30 (max 60), memoryMB 256 (max 1024), cpus 1 (max 2), gpus 0 (max 0)`);
    expect(run.rows["slurm-munge"]?.detail).toBe(
      `\`runuser -u ${user.name} -- munge -n --socket ${c.mungeSocket} | unmunge\`: Success (0), UID ${user.name} (${user.uid}), through ${c.mungeSocket} (AuthInfo in ${c.conf})`,
    );
    expect(run.rows["slurm-submit-test"]?.detail).toMatch(
      new RegExp(`^nothing queued; with the defaults: partition debug: Job \\d+ to start at \\S+ using 1 processors on nodes ${c.node} in partition debug; partition short: Job \\d+ to start at \\S+ using 1 processors on nodes ${c.node} in partition short$`),
    );
    expect(run.stderr).toContain(`[20/21] munge -n as ${user.name}, decoded by unmunge...\n`);
    expect(run.stderr).toContain(`[20/21] sbatch --test-only as ${user.name} through the mediator (partitions debug, short)...\n`);
    expect(c.jobs()).toEqual([]);
  });

  it("fails the sbatch row, naming the partition and the fix, when the policy lists a partition Slurm does not have", () => {
    policy.write({ slurm: slurmSection({ partitions: ["debug", "nosuch"] }) });
    const run = check(user.name);
    expect(run.status).toBe(1);
    expect(run.rows["slurm-mode"]?.status).toBe("pass");
    expect(run.rows["slurm-munge"]?.status).toBe("pass");
    const row = run.rows["slurm-submit-test"];
    expect(row?.status).toBe("fail");
    expect(row?.detail).toMatch(/^submit-test through the mediator \(the policy's defaults\) was refused: partition nosuch: sbatch failed with status 1: .*invalid partition specified: nosuch/);
    expect(row?.fix).toMatch(/^the policy's "slurm.partitions" names a partition Slurm does not have \(`sinfo -s` lists them\)/);
  });

  it("warns when the cluster cannot give a policy maximum", () => {
    policy.write({ slurm: slurmSection({ memoryMB: { default: 256, max: 64_000 } }) });
    const row = check(user.name).rows["slurm-submit-test"];
    expect(row?.status).toBe("warn");
    expect(row?.detail).toMatch(/Asking for every maximum of the policy was refused, so a user who picks them gets no server: partition debug: sbatch failed with status 1: .*Requested node configuration is not available/);
    expect(row?.fix).toMatch(/^the request exceeds what the partition's nodes have/);
  });

  it("carries the mediator's UNSAFE_PATH refusal of an sbatch, or an scontrol, in a group-writable directory", () => {
    fs.mkdirSync(UNSAFE_DIR, { recursive: true, mode: 0o755 });
    fs.chmodSync(UNSAFE_DIR, 0o775);
    fs.chownSync(UNSAFE_DIR, 0, userInfo(fx.hub).gid);
    for (const tool of ["sbatch", "scontrol"]) {
      fs.copyFileSync(`/usr/bin/${tool}`, `${UNSAFE_DIR}/${tool}`);
      fs.chmodSync(`${UNSAFE_DIR}/${tool}`, 0o755);
      // scontrol releases every held job: it is audited as sbatch is, and the check says so the same way.
      policy.write({ slurm: slurmSection({ [tool]: `${UNSAFE_DIR}/${tool}` }) });
      const row = check(user.name).rows["slurm-submit-test"];
      expect(row?.status, tool).toBe("fail");
      expect(row?.detail).toMatch(new RegExp(`partition debug: refusing to run Slurm's ${tool} ${UNSAFE_DIR}/${tool}: ${UNSAFE_DIR}: writable by group`));
      expect(row?.fix).toMatch(/^as root: make the named path and every directory above it owned by root and not writable by group or others/);
    }
  });

  // Last: the cluster cannot work without munged (its stop() copes with that).
  it("fails the munge row, saying to start munged on slurm.conf's socket, when munged is stopped", async () => {
    const c = get();
    policy.write({ slurm: slurmSection() });
    const pid = Number(fs.readFileSync(path.join(path.dirname(c.mungeSocket), "munged.pid"), "utf8").trim());
    expect(clusterProcesses(c.dir)).toContain(pid);
    process.kill(pid, "SIGTERM");
    await waitFor(() => !clusterProcesses(c.dir).includes(pid), 15_000, `munged (${pid}) to exit`);
    const run = check(user.name);
    expect(run.rows["slurm-mode"]?.status).toBe("pass");
    const munge = run.rows["slurm-munge"];
    expect(munge?.status).toBe("fail");
    expect(munge?.detail).toMatch(new RegExp(`munge failed as ${user.name} on ${c.mungeSocket} \\(AuthInfo in ${c.conf}\\): munge: Error: Failed to (access|connect to) "${c.mungeSocket}": .*\\(Did you start munged\\?\\)`));
    expect(munge?.fix).toMatch(new RegExp(`^start munged on this host \\(as root: \`systemctl enable --now munge\`\\) listening on ${c.mungeSocket}`));
    const submit = run.rows["slurm-submit-test"];
    expect(submit?.status).toBe("fail");
    expect(submit?.fix).toMatch(/^munge: see the munge row/);
  }, 60_000);
});
