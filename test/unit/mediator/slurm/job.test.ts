import { describe, expect, it } from "vitest";
import { SudoSpawnerError } from "../../../../src/errors.js";
import { validatePolicy, type SlurmPolicy } from "../../../../src/mediator/policy.js";
import {
  JOB_MARK,
  assertOurJob,
  findJob,
  isFinished,
  jobScript,
  parseEstimate,
  parseSqueueLine,
  parseSubmitted,
  resolveJob,
  sbatchArgs,
  slurmOptions,
} from "../../../../src/mediator/slurm/job.js";

const SLURM = {
  sbatch: "/usr/bin/sbatch",
  squeue: "/usr/bin/squeue",
  scancel: "/usr/bin/scancel",
  partitions: ["debug", "short"],
  minutes: { default: 60, max: 120 },
  memoryMB: { default: 512, max: 2000 },
  cpus: { default: 1, max: 2 },
};

function slurmPolicy(extra: Record<string, unknown> = {}): SlurmPolicy {
  return validatePolicy({ slurm: { ...SLURM, ...extra } }).slurm as SlurmPolicy;
}

function errorOf(action: () => unknown): SudoSpawnerError {
  try {
    action();
  } catch (error) {
    if (error instanceof SudoSpawnerError) return error;
    throw error;
  }
  throw new Error("no error");
}

describe("the policy's slurm section", () => {
  it("reads the bounds; gpus default to none", () => {
    const slurm = slurmPolicy({ conf: "/etc/slurm/slurm.conf" });
    expect(slurm.bounds).toEqual({ minutes: { default: 60, max: 120 }, memoryMB: { default: 512, max: 2000 }, cpus: { default: 1, max: 2 }, gpus: { default: 0, max: 0 } });
    expect(slurm.conf).toBe("/etc/slurm/slurm.conf");
    expect(slurmOptions(slurm)).toEqual({ partitions: ["debug", "short"], ...slurm.bounds });
  });

  it.each([
    [{ sbatch: "sbatch" }, /"slurm.sbatch" must be a normalised absolute path/],
    [{ partitions: [] }, /must name at least one partition/],
    [{ partitions: ["a b"] }, /"slurm.partitions"\[0\] is not a valid entry/],
    [{ cpus: undefined }, /"slurm.cpus" is required/],
    [{ cpus: { default: 3, max: 2 } }, /"slurm.cpus.default" must be an integer from 0 to 2/],
    [{ minutes: { default: 0, max: 2 } }, /"slurm.minutes.default" must be at least 1/],
    [{ cpus: { default: 1, max: 2, min: 1 } }, /"slurm.cpus" has unknown key "min"/],
    [{ output: "relative.log" }, /"slurm.output" must be an absolute path template/],
    [{ output: "{home}/../x" }, /"slurm.output" must be an absolute path template/],
    [{ account: "x" }, /"slurm" has unknown key "account"/],
  ])("refuses %j", (extra, message) => {
    expect(errorOf(() => slurmPolicy(extra))).toMatchObject({ code: "POLICY", message: expect.stringMatching(message) as unknown });
  });
});

describe("resolveJob", () => {
  const slurm = slurmPolicy({ gpus: { default: 0, max: 1 } });

  it("fills in the policy's defaults and its first partition", () => {
    expect(resolveJob(undefined, slurm)).toEqual({ partition: "debug", minutes: 60, memoryMB: 512, cpus: 1, gpus: 0 });
    expect(resolveJob({ partition: "short", cpus: 2, gpus: 1 }, slurm)).toEqual({ partition: "short", minutes: 60, memoryMB: 512, cpus: 2, gpus: 1 });
  });

  it.each([
    [{ partition: "gpu" }, /partition "gpu" is not offered by the site policy \(slurm.partitions in .*: debug, short\)/],
    [{ cpus: 3 }, /job.cpus 3 is above the site policy's maximum 2 \(slurm.cpus.max/],
    [{ memoryMB: 2001 }, /job.memoryMB 2001 is above the site policy's maximum 2000/],
    [{ gpus: 2 }, /job.gpus 2 is above/],
    [{ minutes: 0 }, /job.minutes must be at least 1/],
  ])("refuses %j", (job, message) => {
    expect(errorOf(() => resolveJob(job, slurm))).toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(message) as unknown });
  });
});

describe("jobScript", () => {
  it("quotes every value and word; names a shell cannot export are left out", () => {
    const script = jobScript("/opt/x/bin/jupyterhub-singleuser", ["--a=b c", "it's"], { A: "1", "B;touch /tmp/x": "2", "C-D": "3", E: "$(id)\n`id`" });
    expect(script.text).toBe(
      [
        "#!/bin/sh",
        "# A JupyterHub single-user server, submitted by ts-sudospawner.",
        "export A='1'",
        "export E='$(id)\n`id`'",
        "exec '/opt/x/bin/jupyterhub-singleuser' '--a=b c' 'it'\\''s'",
        "",
      ].join("\n"),
    );
    expect(script.skipped).toEqual(["B;touch /tmp/x", "C-D"]);
  });
});

describe("sbatchArgs", () => {
  const account = { name: "ann", home: "/home/ann" };

  it("fixes the mark, the environment and the output; the resources come from resolveJob", () => {
    const resources = { partition: "short", minutes: 30, memoryMB: 1024, cpus: 2, gpus: 0 };
    expect(sbatchArgs(resources, account, {}, false)).toEqual([
      "--parsable",
      "--hold", // released by the watchdog once the hub has the id
      "--export=NONE",
      "--no-requeue",
      "--job-name=jupyterhub-singleuser",
      `--comment=${JOB_MARK}`,
      "--chdir=/home/ann",
      "--output=/dev/null",
      "--partition=short",
      "--time=30",
      "--mem=1024M",
      "--cpus-per-task=2",
    ]);
  });

  it("asks for GPUs only when wanted, expands the output template, and can only test", () => {
    const args = sbatchArgs({ partition: "debug", minutes: 1, memoryMB: 1, cpus: 1, gpus: 1 }, account, { output: "{home}/.slurm-{user}-%j.log" }, true);
    expect(args[0]).toBe("--test-only");
    expect(args).toContain("--output=/home/ann/.slurm-ann-%j.log");
    expect(args.at(-1)).toBe("--gres=gpu:1");
  });
});

describe("what sbatch and squeue print", () => {
  it("reads a job id, with or without a cluster", () => {
    expect(parseSubmitted("4711\n")).toBe(4711);
    expect(parseSubmitted("4711;cluster\n")).toBe(4711);
    for (const text of ["", "abc", "0\n", "12 13", "Submitted batch job 12\n", "99999999999\n"]) {
      expect(errorOf(() => parseSubmitted(text)).code).toBe("SLURM");
    }
  });

  it("reads the estimate of --test-only, escaped", () => {
    expect(parseEstimate("sbatch: Job 10 to start at 2026-11-30T15:25:38 using 1 processors on nodes vm in partition short\n")).toBe(
      "Job 10 to start at 2026-11-30T15:25:38 using 1 processors on nodes vm in partition short",
    );
    expect(errorOf(() => parseEstimate("sbatch: error: invalid partition\n")).message).toMatch(/sbatch --test-only printed something unexpected/);
  });

  it("reads squeue lines; the comment may hold anything", () => {
    expect(parseSqueueLine("12|1001|PENDING|Resources|n/a|ts-sudospawner")).toEqual({ job: 12, uid: 1001, state: "PENDING", reason: "Resources", node: null, comment: "ts-sudospawner" });
    expect(parseSqueueLine("12|1001|RUNNING|None|node07|a|b")).toEqual({ job: 12, uid: 1001, state: "RUNNING", reason: null, node: "node07", comment: "a|b" });
    expect(parseSqueueLine("12|1001|PENDING|Priority\u001b[2J||x").reason).toBe("Priority\\e[2J");
    expect(errorOf(() => parseSqueueLine("12|1001|running|None|vm|x")).code).toBe("SLURM");
    expect(errorOf(() => parseSqueueLine("garbage")).code).toBe("SLURM");
    expect(findJob("12|1|RUNNING|None|vm|x\n13|1|RUNNING|None|vm|y\n", 13)?.comment).toBe("y");
    expect(findJob("", 13)).toBeUndefined();
  });

  it("acts only on a job of this user that carries the mark", () => {
    const ours = parseSqueueLine(`12|1001|RUNNING|None|vm|${JOB_MARK}`);
    expect(assertOurJob(ours, 1001, "ann")).toBe(ours);
    expect(errorOf(() => assertOurJob(ours, 1002, "bob"))).toMatchObject({ code: "NOT_OURS", message: "job 12 is not a server ts-sudospawner submitted for bob; leaving it alone" });
    expect(errorOf(() => assertOurJob({ ...ours, comment: "" }, 1001, "ann")).code).toBe("NOT_OURS");
  });

  it("knows which states have ended", () => {
    expect(["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED"].map(isFinished)).toEqual([false, false, false, false, false]);
    expect(["COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "GONE"].every(isFinished)).toBe(true);
  });
});

describe("the Python spawner reads the mediator's refusals", () => {
  it("knows the NOT_OURS text (src/jupyterhub/ts_sudospawner/slurm_job.py)", async () => {
    const fs = await import("node:fs");
    const { NOT_OUR_JOB } = await import("../../../../src/protocol/index.js");
    const python = fs.readFileSync(new URL("../../../../src/jupyterhub/ts_sudospawner/slurm_job.py", import.meta.url), "utf8");
    expect(python).toContain(`NOT_OUR_JOB = ${JSON.stringify(NOT_OUR_JOB)}`);
    expect(errorOf(() => assertOurJob(parseSqueueLine("1|1|RUNNING|None|vm|x"), 1, "ann")).message).toContain(NOT_OUR_JOB);
  });
});

describe("Slurm outages", () => {
  it("words a controller that does not answer as an outage naming scontrol ping and squeue, with its own code", async () => {
    const { isOutage, slurmUnavailable } = await import("../../../../src/mediator/slurm/job.js");
    const { SLURM_NOT_ANSWERING } = await import("../../../../src/protocol/index.js");
    expect(isOutage("sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)")).toBe(true);
    expect(isOutage("slurm_load_jobs error: Socket timed out on send/recv operation")).toBe(true);
    expect(isOutage("sbatch: error: Batch job submission failed: Invalid partition name specified")).toBe(false);
    const error = slurmUnavailable("squeue", "Unable to contact slurm controller (connect failure)", "ann");
    expect(error.code).toBe("SLURM_UNAVAILABLE");
    expect(error.message.startsWith(`${SLURM_NOT_ANSWERING}: squeue could not reach the controller`)).toBe(true);
    expect(error.message).toContain("`scontrol ping` and `squeue -u ann` as ann");
    const fs = await import("node:fs");
    const python = fs.readFileSync(new URL("../../../../src/jupyterhub/ts_sudospawner/slurm_job.py", import.meta.url), "utf8");
    expect(python).toContain(`SLURM_NOT_ANSWERING = ${JSON.stringify(SLURM_NOT_ANSWERING)}`);
  });
});
