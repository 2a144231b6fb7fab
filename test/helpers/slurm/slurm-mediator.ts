/**
 * The mediator's Slurm actions as the hub makes them, through the real sudo rule, against a test
 * cluster (test/helpers/slurm/slurm.ts): the policy's slurm section for that cluster, submit of the demo
 * server, query until it runs, the job id of an answer. Shared by the Slurm integration suites.
 */
import { expect } from "vitest";
import { submitRequest, type JobRequest } from "../../../src/protocol/index.js";
import type { RootFixture } from "../../global-setup.js";
import { freePort } from "../ports.js";
import { BASE_ENV } from "../requests.js";
import type { SlurmCluster } from "./slurm.js";
import { runMediatorAs, waitFor, type MediatorRun, type TestUser } from "../system.js";

/** The site policy's slurm section for `cluster`: its client tools, its slurm.conf, these partitions. */
export function slurmSection(cluster: SlurmCluster, partitions: readonly string[] = ["debug", "short"], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sbatch: "/usr/bin/sbatch",
    squeue: "/usr/bin/squeue",
    scancel: "/usr/bin/scancel",
    conf: cluster.conf,
    partitions: [...partitions],
    minutes: { default: 60, max: 120 },
    memoryMB: { default: 256, max: 1000 },
    cpus: { default: 1, max: 2 },
    ...extra,
  };
}

export class SlurmMediator {
  constructor(
    private readonly fx: RootFixture,
    private readonly cluster: SlurmCluster,
  ) {}

  /** One request to the mediator, as the hub user through sudo, as `user`. */
  call(user: TestUser, request: unknown): Promise<MediatorRun> {
    return runMediatorAs(this.fx.hub, user.name, this.fx.mediator, JSON.stringify(request));
  }

  /** A submit of the demo server (next to the mediator) on a free port, listening on `ip`. */
  async submit(user: TestUser, job: JobRequest = {}, env: Record<string, string> = {}, ip = "127.0.0.1"): Promise<{ result: MediatorRun; port: number }> {
    const port = await freePort();
    const result = await this.call(user, submitRequest([`--port=${port}`, `--ip=${ip}`], { ...BASE_ENV, ...env }, { job }));
    return { result, port };
  }

  /** The job id of a successful submit's answer (fails the test otherwise). */
  jobOf(result: MediatorRun): number {
    expect(result.answer, result.stderr).toMatchObject({ ok: true, job: expect.any(Number) as unknown });
    return (result.answer as { job: number }).job;
  }

  async query(user: TestUser, job: number): Promise<Record<string, unknown>> {
    const result = await this.call(user, { action: "query", job });
    return result.answer as Record<string, unknown>;
  }

  /** Query until the job runs; its last answer (with the cluster's logs when it never does). */
  async waitRunning(user: TestUser, job: number, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    let status: Record<string, unknown> = {};
    await waitFor(async () => (status = await this.query(user, job)).state === "RUNNING", timeoutMs, `job ${job} to run`).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(status)}\n${this.cluster.logTail()}`);
    });
    return status;
  }
}
