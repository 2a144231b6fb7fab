/**
 * examples/policy.json is the complete example docs/policy.md points admins to: it must validate,
 * use every top-level key, and every key it uses must be documented.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chooseLaunch } from "../../../src/mediator/launch.js";
import { validatePolicy } from "../../../src/mediator/policy.js";
import { TRAITLETS } from "../../../src/mediator/vocabulary/traitlets-table.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const example = JSON.parse(fs.readFileSync(path.join(ROOT, "examples/policy.json"), "utf8")) as Record<string, unknown>;
const reference = fs.readFileSync(path.join(ROOT, "docs/policy.md"), "utf8");

describe("examples/policy.json", () => {
  it("validates, and reads as the admin meant it", () => {
    const policy = validatePolicy(example);
    expect(policy.singleuser).toBe("/usr/local/bin/jupyterhub-singleuser");
    expect(Object.keys(policy.profiles)).toEqual(["lab", "voila", "conda-ml"]);
    expect(policy.profiles["conda-ml"]).toEqual({ description: "Machine learning (conda env, 64 GiB address space)", executable: "/opt/conda/envs/ml/bin/jupyterhub-singleuser", args: [], limits: { as: 68719476736, nofile: 8192 }, cgroup: { MemoryMax: 16 * 1024 ** 3, CPUQuota: 400 } });
    expect(policy.cgroup).toEqual({ default: { MemoryMax: 4 * 1024 ** 3, CPUQuota: 200, TasksMax: 512 }, max: { MemoryMax: 16 * 1024 ** 3, CPUQuota: 800, TasksMax: 2048 }, oomPolicy: "continue" });
    expect(policy.env).toEqual({ deniedNames: ["JUPYTERHUB_DEBUG"], deniedPatterns: ["AWS_*", "GOOGLE_*"], allowPatterns: ["CONDA_DEFAULT_ENV", "SITE_*"] });
    expect(policy.path).toBe("/opt/conda/bin:/usr/local/bin:/usr/bin:/bin");
    expect(policy.serverArgs).toEqual({ allow: ["--MappingKernelManager.cull_idle_timeout", "--ServerApp.terminals_enabled"] });
    expect(policy.limits).toEqual({ nofile: 4096, nproc: 1024, as: 17179869184, data: 8589934592, cpu: 86400, core: 0 });
    expect([policy.umask, policy.nice, policy.graceMs, policy.minUid]).toEqual([0o77, 5, 1000, 1000]);
    expect(policy.serverLog).toBe("{home}/.jupyterhub-singleuser.log");
    expect(policy.sandbox).toEqual({ noNewPrivileges: true, privateTmp: true, readOnlyPaths: ["/opt/conda", "/srv/datasets"], leftoverGraceMs: 3000 });
  });

  it("launches a profile the way docs/policy.md describes it", () => {
    const policy = validatePolicy(example);
    const launch = chooseLaunch(
      { action: "spawn", args: ["--port=8888"], env: {}, profile: "voila", limits: { nofile: 1024, cpu: 99999 } },
      policy,
      { name: "alice", home: "/home/alice" },
      TRAITLETS,
    );
    expect(launch).toEqual({
      executable: "/usr/local/bin/jupyterhub-singleuser",
      args: ["--ServerApp.default_url=/voila/tree", "--port=8888"],
      fixed: new Set(["default_url"]),
      rootDirOptions: [],
      // The profile's cpu replaces the site's; the hub lowered nofile but cannot raise cpu.
      reaperOptions: [
        "--rlimit", "NOFILE=1024:1024", "--rlimit", "NPROC=1024:1024", "--rlimit", "AS=17179869184:17179869184", "--rlimit", "DATA=8589934592:8589934592",
        "--rlimit", "CPU=7200:7200", "--rlimit", "CORE=0:0", "--umask", "0077", "--nice", "5",
        "--log-file", "/home/alice/.jupyterhub-singleuser.log",
        "--private-tmp", "--read-only", "/opt/conda", "--read-only", "/srv/datasets", "--leftover-grace-ms", "3000",
      ],
      logFile: "/home/alice/.jupyterhub-singleuser.log",
      // No profile cgroup for voila: the section's default.
      cgroupCaps: { MemoryMax: 4 * 1024 ** 3, CPUQuota: 200, TasksMax: 512 },
    });
  });

  /** The keys the validator allows at one level, read from its own refusal of an unknown key. */
  function allowedKeys(probe: unknown): string[] {
    try {
      validatePolicy(probe);
    } catch (error) {
      const match = /\(allowed: ([^)]*)\)/.exec((error as Error).message);
      if (match) return (match[1] as string).split(", ");
    }
    throw new Error(`no list of allowed keys for ${JSON.stringify(probe)}`);
  }

  it("uses every key the validator knows, each documented in docs/policy.md", () => {
    const top = allowedKeys({ tsssProbe: 1 });
    const profile = allowedKeys({ profiles: { p: { executable: "/x", tsssProbe: 1 } } });
    const env = allowedKeys({ env: { tsssProbe: 1 } });
    const limits = allowedKeys({ limits: { tsssProbe: 1 } });
    const sandbox = allowedKeys({ sandbox: { tsssProbe: 1 } });
    const slurm = allowedKeys({ slurm: { tsssProbe: 1 } });
    // Slurm mode is a mode of its own: examples/slurm/policy.json shows the "slurm" section.
    expect(Object.keys(example)).toEqual(top.filter((key) => key !== "slurm"));
    const profiles = Object.values(example.profiles as Record<string, Record<string, unknown>>);
    expect([...new Set(profiles.flatMap((p) => Object.keys(p)))].sort()).toEqual([...profile].sort());
    expect(Object.keys(example.limits as object)).toEqual(limits);
    expect(Object.keys(example.env as object)).toEqual(env);
    expect(Object.keys(example.sandbox as object)).toEqual(sandbox);
    for (const key of [...top, ...profile, ...env, ...limits, ...sandbox, ...slurm]) {
      expect(reference, `docs/policy.md documents \`${key}\``).toContain(`\`${key}\``);
    }
  });

  it("is refused when an unknown key is added, as docs/policy.md promises", () => {
    expect(() => validatePolicy({ ...example, comment: "x" })).toThrow(/the policy has unknown key "comment"/);
  });
});
