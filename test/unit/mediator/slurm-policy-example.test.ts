/**
 * examples/slurm/policy.json is the policy docs/policy.md#slurm and the admin guide point to: it
 * must validate, use every key of the slurm section, and each of those keys must be documented.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validatePolicy } from "../../../src/mediator/policy.js";
import { resolveJob, sbatchArgs, slurmOptions } from "../../../src/mediator/slurm/job.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const example = JSON.parse(fs.readFileSync(path.join(ROOT, "examples/slurm/policy.json"), "utf8")) as { slurm: Record<string, unknown> };
const reference = fs.readFileSync(path.join(ROOT, "docs/policy.md"), "utf8");

/** The keys the validator allows in the slurm section, read from its refusal of an unknown one. */
function slurmKeys(): string[] {
  try {
    validatePolicy({ slurm: { ...example.slurm, tsssProbe: 1 } });
  } catch (error) {
    const match = /\(allowed: ([^)]*)\)/.exec((error as Error).message);
    if (match) return (match[1] as string).split(", ");
  }
  throw new Error("no list of allowed slurm keys");
}

describe("examples/slurm/policy.json", () => {
  it("validates, and reads as the admin meant it", () => {
    const { slurm } = validatePolicy(example);
    expect(slurm).toEqual({
      sbatch: "/usr/bin/sbatch",
      squeue: "/usr/bin/squeue",
      scancel: "/usr/bin/scancel",
      scontrol: "/usr/bin/scontrol",
      conf: "/etc/slurm/slurm.conf",
      partitions: ["debug", "short"],
      bounds: { minutes: { default: 60, max: 480 }, memoryMB: { default: 2048, max: 8192 }, cpus: { default: 1, max: 4 }, gpus: { default: 0, max: 0 } },
      output: "{home}/.ts-sudospawner-slurm-%j.log",
    });
    expect(slurmOptions(slurm ?? fail())).toEqual({ partitions: ["debug", "short"], minutes: { default: 60, max: 480 }, memoryMB: { default: 2048, max: 8192 }, cpus: { default: 1, max: 4 }, gpus: { default: 0, max: 0 } });
  });

  it("submits a job without a job key the way docs/policy.md describes: the first partition, the defaults", () => {
    const slurm = validatePolicy(example).slurm ?? fail();
    const resources = resolveJob(undefined, slurm);
    expect(resources).toEqual({ partition: "debug", minutes: 60, memoryMB: 2048, cpus: 1, gpus: 0 });
    expect(sbatchArgs(resources, { name: "alice", home: "/home/alice" }, slurm, false)).toContain("--output=/home/alice/.ts-sudospawner-slurm-%j.log");
    expect(() => resolveJob({ partition: "long" }, slurm)).toThrow(/partition "long" is not offered by the site policy/);
    expect(() => resolveJob({ minutes: 481 }, slurm)).toThrow(/job.minutes 481 is above the site policy's maximum 480/);
  });

  it("uses every key of the slurm section, each documented in docs/policy.md", () => {
    const keys = slurmKeys();
    expect(Object.keys(example.slurm).sort()).toEqual([...keys].sort());
    expect(reference).toContain("### `slurm`");
    for (const key of keys) expect(reference, `docs/policy.md documents \`${key}\``).toContain(`\`${key}\``);
  });

  it("fills gpus with none and output with /dev/null when they are left out", () => {
    const { gpus: _gpus, output: _output, ...required } = example.slurm;
    const slurm = validatePolicy({ slurm: required }).slurm ?? fail();
    expect(slurm.bounds.gpus).toEqual({ default: 0, max: 0 });
    expect(sbatchArgs(resolveJob(undefined, slurm), { name: "alice", home: "/home/alice" }, slurm, false)).toContain("--output=/dev/null");
  });
});

function fail(): never {
  throw new Error("the example has no slurm section");
}
