/**
 * A real single-node Slurm cluster that a test starts and stops itself: munged, slurmctld and
 * slurmd, no systemd, everything in one fresh root-owned 0755 temp dir (/tmp/tsss-slurm-*) on free
 * ports. The system's /etc/slurm, /etc/munge and /run/munge are never touched, so a cluster of
 * someone else's on the same machine keeps running.
 *
 * Every daemon is started with TSSS_SLURM_DIR=<dir> in its environment (munged: on its command
 * line), and slurmd's job steps inherit it: that is how stop() and leftoverProcesses() tell this
 * cluster's processes from any other. stop() cancels every job, waits until no job and no job step
 * is left, stops the daemons by their pid files, checks they are gone and removes the dir.
 *
 * Opt-in (start({ secondNode: true })): a second node, tsss-n2, whose slurmd runs in a network
 * namespace of the cluster's own (tsss-<random>), joined to the root namespace by a veth pair on
 * a private /30 (10.213.X.1 outside, 10.213.X.2 inside). slurmctld is then named by the outside
 * address, so that slurmd reaches it across the veth; munge is a socket path, shared. The node has
 * a partition of its own, `remote`. stop() also stops that slurmd, deletes the namespace (and with
 * it the veth) and checks that neither is left.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../ports.js";
import { commandExists, waitFor } from "../system.js";
import { HANG_GUARD_MS } from "../deadlines.js";

/** The second node's network: a namespace of its own and a veth pair on 10.213.<subnet>.0/30. */
export interface SecondNodeNet {
  /** The network namespace, tsss-<random>. */
  ns: string;
  /** The veth's end in the root namespace (address `hostAddress`). */
  hostVeth: string;
  /** The veth's end in the namespace (address `nodeAddress`). */
  nodeVeth: string;
  hostAddress: string;
  nodeAddress: string;
}

export const SLURM_DIR_PREFIX = "/tmp/tsss-slurm-";
const SLURMCTLD = "/usr/sbin/slurmctld";
const SLURMD = "/usr/sbin/slurmd";
const MUNGED = "/usr/sbin/munged";
/** The environment variable that marks this helper's daemons and their job steps. */
const MARK = "TSSS_SLURM_DIR";
/** In the dir: the pid of the test process that owns it (leftovers of a dead one are cleaned up). */
const OWNER_FILE = "tsss-slurm-owner";
/** In the dir of a two-node cluster: its SecondNodeNet as JSON, written before the namespace exists. */
const NET_FILE = "tsss-slurm-netns.json";
/** The second node's name and partition. */
export const SECOND_NODE = "tsss-n2";
export const REMOTE_PARTITION = "remote";
const IP = "/usr/sbin/ip";
const NSENTER = "/usr/bin/nsenter";
/** Job states after which nothing of a job runs any more. */
const FINISHED = new Set(["COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"]);

function log(line: string): void {
  process.stderr.write(`slurm: ${line}\n`);
}

/** Why a Slurm cluster cannot be started here, or undefined when it can. */
export function slurmUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root (the test cluster's daemons run as root and munge)";
  for (const file of [SLURMCTLD, SLURMD, MUNGED]) {
    if (!fs.existsSync(file)) return `${file} is not installed (apt-get install slurmctld slurmd slurm-client munge)`;
  }
  for (const tool of ["sbatch", "squeue", "scancel", "sinfo", "scontrol"]) {
    if (!commandExists(tool)) return `${tool} is not installed (apt-get install slurm-client)`;
  }
  if (spawnSync("getent", ["passwd", "munge"]).status !== 0) return "there is no munge user (apt-get install munge)";
  return undefined;
}

/** Why a two-node cluster (start({ secondNode: true })) cannot be started here, or undefined. */
export function secondNodeUnavailableReason(): string | undefined {
  const reason = slurmUnavailableReason();
  if (reason) return reason;
  if (!fs.existsSync(IP)) return `${IP} is not installed (apt-get install iproute2)`;
  if (!fs.existsSync(NSENTER)) return `${NSENTER} is not installed (apt-get install util-linux)`;
  // A throwaway namespace proves that this machine (or container) lets us make one.
  const probe = `tsss-probe-${randomBytes(3).toString("hex")}`;
  const add = spawnSync(IP, ["netns", "add", probe], { encoding: "utf8" });
  if (add.status !== 0) return `network namespaces are not available (ip netns add: ${add.stderr.trim()})`;
  const veth = spawnSync(IP, ["link", "add", `${probe}-h`.slice(0, 15), "type", "veth", "peer", "name", "tsss-probe-n", "netns", probe], { encoding: "utf8" });
  spawnSync(IP, ["link", "del", `${probe}-h`.slice(0, 15)]);
  spawnSync(IP, ["netns", "delete", probe]);
  if (veth.status !== 0) return `veth pairs are not available (ip link add type veth: ${veth.stderr.trim()})`;
  return undefined;
}

function ipCommand(args: string[]): string {
  const result = spawnSync(IP, args, { encoding: "utf8", timeout: 10_000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** A /30 of 10.213.0.0/16 that no interface of the root namespace uses, and names for it. */
function chooseSecondNodeNet(): SecondNodeNet {
  const used = ipCommand(["-o", "-4", "addr", "show"]);
  for (let attempt = 0; attempt < 50; attempt++) {
    const x = 1 + (randomBytes(1)[0] as number) % 250;
    if (used.includes(`10.213.${x}.`)) continue;
    const suffix = randomBytes(3).toString("hex");
    return { ns: `tsss-${suffix}`, hostVeth: `tsss-${suffix}-h`, nodeVeth: `tsss-${suffix}-n`, hostAddress: `10.213.${x}.1`, nodeAddress: `10.213.${x}.2` };
  }
  throw new Error("no free 10.213.X.0/30 for the second node's veth");
}

export interface SlurmJob {
  id: number;
  user: string;
  state: string;
  reason: string;
  /** Nodes of a running job, "" while pending. */
  nodes: string;
  /** Time limit as squeue prints it, e.g. "1:00:00". */
  timeLimit: string;
  name: string;
  comment: string;
}

interface Daemons {
  munged: string;
  slurmctld: string;
  slurmd: string;
  /** The second node's slurmd (only a two-node cluster has one running). */
  slurmd2: string;
}

export class SlurmCluster {
  readonly conf: string;
  readonly mungeSocket: string;
  readonly node = os.hostname().split(".")[0] as string;
  readonly partitions = ["debug", "short"] as const;
  /** The environment Slurm's client tools need to find this cluster. */
  readonly env: { SLURM_CONF: string };
  private readonly pidFiles: Daemons;
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly ports: { slurmctld: number; slurmd: number },
    /** The second node's network, for a cluster started with { secondNode: true }. */
    readonly net?: SecondNodeNet,
  ) {
    this.conf = path.join(dir, "slurm.conf");
    this.mungeSocket = path.join(dir, "munge-run/munge.socket");
    this.env = { SLURM_CONF: this.conf };
    this.pidFiles = {
      munged: path.join(dir, "munge-run/munged.pid"),
      slurmctld: path.join(dir, "run/slurmctld.pid"),
      slurmd: path.join(dir, `run/slurmd-${this.node}.pid`),
      slurmd2: path.join(dir, `run/slurmd-${SECOND_NODE}.pid`),
    };
  }

  /** A cluster dir left by a dead test process, to stop it (its ports are no longer needed). */
  static adopt(dir: string): SlurmCluster {
    let net: SecondNodeNet | undefined;
    try {
      net = JSON.parse(fs.readFileSync(path.join(dir, NET_FILE), "utf8")) as SecondNodeNet;
    } catch {
      net = undefined;
    }
    return new SlurmCluster(dir, { slurmctld: 0, slurmd: 0 }, net);
  }

  /**
   * Start munged, slurmctld and slurmd; resolves once the node is idle. With `secondNode`, also
   * the namespace, the veth and the second node's slurmd (see the top of this file), and resolves
   * once both nodes are idle.
   */
  static async start(options: { secondNode?: boolean } = {}): Promise<SlurmCluster> {
    const reason = options.secondNode ? secondNodeUnavailableReason() : slurmUnavailableReason();
    if (reason) throw new Error(`cannot start a Slurm test cluster: ${reason}`);
    await cleanLeftoverClusters();
    const started = Date.now();
    const dir = fs.mkdtempSync(SLURM_DIR_PREFIX);
    fs.chmodSync(dir, 0o755); // Slurm's clients run as the test users: they read slurm.conf and reach munge
    fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
    const net = options.secondNode ? chooseSecondNodeNet() : undefined;
    // Written before the namespace exists: a dead test process's namespace is found from its dir.
    if (net) fs.writeFileSync(path.join(dir, NET_FILE), `${JSON.stringify(net)}\n`);
    const cluster = new SlurmCluster(dir, { slurmctld: await freePort(), slurmd: await freePort() }, net);
    try {
      if (net) cluster.createNetwork(net);
      cluster.startDaemons();
      await cluster.waitIdle();
    } catch (error) {
      const logs = cluster.logTail();
      await cluster.stop().catch((stopError: unknown) => log(`stop after a failed start: ${String(stopError)}`));
      throw new Error(`${String(error)}\n${logs}`);
    }
    const second = net ? `, node ${SECOND_NODE} at ${net.nodeAddress} in namespace ${net.ns}` : "";
    log(`cluster in ${dir} up after ${Date.now() - started} ms (node ${cluster.node}${second}, slurmctld port ${cluster.ports.slurmctld})`);
    return cluster;
  }

  /** The namespace, the veth pair across it with its /30, and loopback inside. */
  private createNetwork(net: SecondNodeNet): void {
    log(`creating namespace ${net.ns} and veth ${net.hostVeth} (${net.hostAddress}) <-> ${net.nodeVeth} (${net.nodeAddress})`);
    ipCommand(["netns", "add", net.ns]);
    ipCommand(["link", "add", net.hostVeth, "type", "veth", "peer", "name", net.nodeVeth, "netns", net.ns]);
    ipCommand(["addr", "add", `${net.hostAddress}/30`, "dev", net.hostVeth]);
    ipCommand(["link", "set", net.hostVeth, "up"]);
    ipCommand(["-n", net.ns, "addr", "add", `${net.nodeAddress}/30`, "dev", net.nodeVeth]);
    ipCommand(["-n", net.ns, "link", "set", net.nodeVeth, "up"]);
    ipCommand(["-n", net.ns, "link", "set", "lo", "up"]);
  }

  /** The nodes this cluster has: the first, and tsss-n2 in a two-node cluster. */
  get nodes(): string[] {
    return this.net ? [this.node, SECOND_NODE] : [this.node];
  }

  private startDaemons(): void {
    const { dir } = this;
    const munge = spawnSync("id", ["-u", "munge"], { encoding: "utf8" });
    const mungeUid = Number(munge.stdout.trim());
    const mungeGid = Number(spawnSync("id", ["-g", "munge"], { encoding: "utf8" }).stdout.trim());
    // munged insists on a private key directory and a socket directory others can only enter.
    const keyDir = path.join(dir, "munge");
    const socketDir = path.dirname(this.mungeSocket);
    fs.mkdirSync(keyDir, { mode: 0o700 });
    fs.mkdirSync(socketDir, { mode: 0o755 });
    const key = path.join(keyDir, "munge.key");
    fs.writeFileSync(key, randomBytes(1024), { mode: 0o400 });
    for (const file of [keyDir, socketDir, key]) fs.chownSync(file, mungeUid, mungeGid);
    for (const sub of ["run", "state", "log", ...this.nodes.map((node) => `spool/${node}`)]) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
    fs.writeFileSync(this.conf, this.confText(), { mode: 0o644 });

    log(`starting munged (socket ${this.mungeSocket})`);
    // --pid-file etc. name the dir on munged's command line: that marks it (sudo drops the environment).
    this.daemon("sudo", ["-u", "munge", MUNGED, `--key-file=${key}`, `--socket=${this.mungeSocket}`, `--pid-file=${this.pidFiles.munged}`, `--log-file=${path.join(keyDir, "munged.log")}`, `--seed-file=${path.join(keyDir, "munged.seed")}`]);
    log("starting slurmctld");
    this.daemon(SLURMCTLD, ["-f", this.conf]);
    log("starting slurmd");
    this.daemon(SLURMD, ["-f", this.conf]);
    if (this.net) {
      log(`starting slurmd of ${SECOND_NODE} in namespace ${this.net.ns}`);
      // nsenter --net, not `ip netns exec`: that also gives slurmd a mount namespace with a fresh
      // /sys, without /sys/fs/cgroup, and slurmd 22.05 then fails ("Unable to initialize cgroup
      // plugin"). Only the network namespace is the node's own; files (munge's socket) are shared.
      this.daemon(NSENTER, [`--net=/run/netns/${this.net.ns}`, SLURMD, "-f", this.conf, "-N", SECOND_NODE]);
    }
  }

  /** Run a daemon that forks into the background; fail with its output when it does not. */
  private daemon(file: string, args: string[]): void {
    const result = spawnSync(file, args, { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...this.env, [MARK]: this.dir }, encoding: "utf8", timeout: 30_000, cwd: "/" });
    if (result.status !== 0) throw new Error(`${file} ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stdout}${result.stderr}`);
  }

  private confText(): string {
    const { dir, node } = this;
    return [
      "# tsss test cluster: generated by test/helpers/slurm/slurm.ts, removed with its directory",
      "ClusterName=tsss",
      // Two nodes: slurmd in the namespace reaches slurmctld across the veth (slurmctld listens on
      // every address, so the first node reaches it at the same address).
      `SlurmctldHost=${node}(${this.net ? this.net.hostAddress : "127.0.0.1"})`,
      `SlurmctldPort=${this.ports.slurmctld}`,
      `SlurmdPort=${this.ports.slurmd}`,
      "AuthType=auth/munge",
      `AuthInfo=socket=${this.mungeSocket}`,
      "CredType=cred/munge",
      "SlurmUser=root",
      "SlurmdUser=root",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool/%n`,
      `SlurmctldPidFile=${this.pidFiles.slurmctld}`,
      `SlurmdPidFile=${dir}/run/slurmd-%n.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd-%n.log`,
      // cgroup v1 only here: linuxproc tracks a job's processes by their parents, without cgroups.
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      "SchedulerType=sched/backfill",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core_Memory",
      "MpiDefault=none",
      "ReturnToService=2",
      "SlurmctldTimeout=30",
      "SlurmdTimeout=30",
      "InactiveLimit=0",
      // A finished job stays visible to squeue for 30 s (its end state), then it is gone.
      "MinJobAge=30",
      "KillWait=5",
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 State=UNKNOWN`,
      `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      `PartitionName=short Nodes=${node} MaxTime=60 State=UP`,
      ...(this.net
        ? [`NodeName=${SECOND_NODE} NodeAddr=${this.net.nodeAddress} CPUs=1 RealMemory=1000 State=UNKNOWN`, `PartitionName=${REMOTE_PARTITION} Nodes=${SECOND_NODE} MaxTime=60 State=UP`]
        : []),
      "",
    ].join("\n");
  }

  /** Stop slurmctld alone (an outage); startController() brings it back with its saved state. */
  async stopController(): Promise<void> {
    const pid = readPid(this.pidFiles.slurmctld);
    if (pid === undefined || !clusterProcesses(this.dir).includes(pid)) throw new Error("slurmctld is not running");
    process.kill(pid, "SIGTERM");
    await waitFor(() => isZombieOrGone(pid), 30_000, `slurmctld (${pid}) to exit`);
  }

  async startController(): Promise<void> {
    log("starting slurmctld again");
    this.daemon(SLURMCTLD, ["-f", this.conf]);
    await waitFor(() => spawnSync("scontrol", ["ping"], { env: { PATH: "/usr/bin:/bin", ...this.env }, encoding: "utf8", timeout: 10_000 }).stdout.includes("is UP"), 30_000, "slurmctld to answer");
  }

  /** Run one of Slurm's client tools against this cluster, as root; throws on failure. */
  tool(name: string, args: string[]): string {
    const result = spawnSync(name, args, { env: { PATH: "/usr/bin:/bin", ...this.env }, encoding: "utf8", timeout: 30_000 });
    if (result.status !== 0) throw new Error(`${name} ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  /**
   * sbatch as `user` (through sudo, as root may), the script on stdin, with `env` added to the
   * submitter's environment; returns the job id.
   */
  submitAs(user: string, script: string, args: string[] = [], env: Record<string, string> = {}): number {
    const assignments = Object.entries({ ...env, ...this.env }).map(([name, value]) => `${name}=${value}`);
    const result = spawnSync("sudo", ["-u", user, "env", ...assignments, "sbatch", "--parsable", ...args], { input: script, encoding: "utf8", cwd: "/", timeout: 30_000 });
    const id = Number(result.stdout.trim().split(";")[0]);
    if (result.status !== 0 || !Number.isSafeInteger(id)) throw new Error(`sbatch ${args.join(" ")} as ${user} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
    return id;
  }

  /** squeue with these arguments (add -h for no header). */
  squeue(...args: string[]): string {
    return this.tool("squeue", args);
  }

  /** Every job squeue still knows, in any state. */
  jobs(): SlurmJob[] {
    const out = this.squeue("-h", "--states=all", "-o", "%i\t%u\t%T\t%r\t%N\t%l\t%j\t%k");
    return out
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [id, user, state, reason, nodes, timeLimit, name, comment] = line.split("\t");
        return { id: Number(id), user: user ?? "", state: state ?? "", reason: reason ?? "", nodes: nodes ?? "", timeLimit: timeLimit ?? "", name: name ?? "", comment: comment ?? "" };
      });
  }

  /** Jobs of the user that have not finished (pending, running, completing...). */
  jobsOf(user: string): SlurmJob[] {
    return this.jobs().filter((job) => job.user === user && !FINISHED.has(job.state));
  }

  job(id: number): SlurmJob | undefined {
    return this.jobs().find((job) => job.id === id);
  }

  /** Pids of a running job's processes on the node (scontrol listpids), the job step's own included. */
  jobPids(id: number): number[] {
    const result = spawnSync("scontrol", ["listpids", String(id)], { env: { PATH: "/usr/bin:/bin", ...this.env }, encoding: "utf8", timeout: 30_000 });
    if (result.status !== 0) return [];
    return result.stdout
      .split("\n")
      .slice(1)
      .map((line) => Number(line.trim().split(/\s+/)[0]))
      .filter((pid) => Number.isSafeInteger(pid) && pid > 1);
  }

  /**
   * Wait until every node is idle: registered, and no job holds any of its CPUs. slurmctld's own
   * node record (`scontrol show node`) decides: after a slurmctld restart sinfo went on saying
   * "mixed" for a node that scontrol showed IDLE with no CPU allocated and no job in the queue.
   */
  async waitIdle(timeoutMs = 30_000): Promise<void> {
    const env = { PATH: "/usr/bin:/bin", ...this.env };
    let last = "";
    await waitFor(
      () => {
        const result = spawnSync("scontrol", ["-o", "show", "node", this.nodes.join(",")], { env, encoding: "utf8", timeout: 10_000 });
        last = `${result.stdout}${result.stderr}`.trim();
        if (result.status !== 0) return false;
        const records = result.stdout.split("\n").filter(Boolean);
        return this.nodes.every((node) => records.some((line) => line.startsWith(`NodeName=${node} `) && / State=IDLE /.test(line) && / CPUAlloc=0 /.test(line)));
      },
      timeoutMs,
      `node(s) ${this.nodes.join(",")} of ${this.dir} to be idle`,
    ).catch((error: unknown) => {
      const jobs = spawnSync("squeue", ["-a", "-t", "all", "-o", "%i %u %T %r %N %k"], { env, encoding: "utf8", timeout: 10_000 }).stdout;
      throw new Error(`${String(error)} (scontrol says: ${last}; squeue says: ${jobs.trim()})`);
    });
  }

  /** Processes of this cluster: its daemons and job steps (marked), and the jobs' own processes. */
  processes(): number[] {
    return clusterProcesses(this.dir);
  }

  logTail(lines = 30): string {
    const parts: string[] = [];
    for (const file of ["log/slurmctld.log", ...this.nodes.map((node) => `log/slurmd-${node}.log`), "munge/munged.log"]) {
      try {
        const text = fs.readFileSync(path.join(this.dir, file), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
        parts.push(`--- ${file}\n${text}`);
      } catch {
        // not written (yet)
      }
    }
    return parts.join("\n");
  }

  /**
   * Cancel every job, wait until no job and no job step is left, stop slurmd, slurmctld and munged
   * by their pid files, check that nothing of the cluster runs any more and remove the dir.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const started = Date.now();
    try {
      await this.cancelAll();
    } finally {
      try {
        await stopDaemons(this.dir, this.pidFiles);
      } finally {
        if (this.net) removeNetwork(this.net);
      }
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
    log(`cluster in ${this.dir} stopped and removed after ${Date.now() - started} ms`);
  }

  private async cancelAll(): Promise<void> {
    let active: SlurmJob[] = [];
    try {
      active = this.jobs().filter((job) => !FINISHED.has(job.state));
    } catch (error) {
      log(`squeue failed before the stop (${String(error).trim()}); stopping the daemons anyway`);
      return;
    }
    if (active.length > 0) {
      log(`cancelling ${active.length} job(s): ${active.map((job) => `${job.id} (${job.user}, ${job.state})`).join(", ")}`);
      this.tool("scancel", ["--full", ...active.map((job) => String(job.id))]);
    }
    // KillWait is 5 s: a job that ignores SIGTERM is gone after it, its step shortly after.
    await waitFor(() => this.jobs().every((job) => FINISHED.has(job.state)), 30_000, `every job of ${this.dir} to end`);
    await waitFor(() => jobProcesses(this.dir).length === 0, 30_000, `no job step or job process of ${this.dir} to remain`).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${listProcesses(jobProcesses(this.dir))}`);
    });
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function procText(pid: number, file: "cmdline" | "environ"): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

function isZombieOrGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

function allPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/**
 * Live processes of the cluster in `dir`: its daemons (the mark in their environment, or the dir on
 * munged's command line), job steps (slurmstepd inherits slurmd's environment) and the jobs' own
 * processes (slurmstepd gives them SLURM_CONF=<dir>/slurm.conf).
 */
export function clusterProcesses(dir: string): number[] {
  const marks = [`${MARK}=${dir}\0`, `SLURM_CONF=${dir}/slurm.conf\0`];
  return allPids().filter((pid) => {
    if (isZombieOrGone(pid)) return false;
    const environ = procText(pid, "environ");
    return marks.some((mark) => environ.includes(mark)) || procText(pid, "cmdline").split("\0").some((arg) => arg === dir || arg.includes(`${dir}/`));
  });
}

/** The cluster's job steps and the processes of its jobs (not its daemons). */
function jobProcesses(dir: string): number[] {
  return clusterProcesses(dir).filter((pid) => procText(pid, "cmdline").startsWith("slurmstepd") || /(^|\0)SLURM_JOB_ID=/.test(procText(pid, "environ")));
}

function listProcesses(pids: number[]): string {
  return pids.map((pid) => `${pid} ${procText(pid, "cmdline").split("\0").join(" ").trim()}`).join("; ") || "none";
}

/**
 * Delete the second node's namespace (its end of the veth goes with it, and so the pair) and
 * check that neither the namespace nor either end of the veth is left. Call once no process of
 * the cluster runs: a process left inside would keep the namespace alive, unlisted.
 */
export function removeNetwork(net: SecondNodeNet): void {
  const listed = (): boolean => ipCommand(["netns", "list"]).split("\n").some((line) => line.split(" ")[0] === net.ns);
  if (listed()) ipCommand(["netns", "delete", net.ns]);
  // The kernel tears a namespace down in the background (cleanup_net): the pair goes a moment
  // after the delete returns. Wait for that (a hang guard only); what is still there then is left.
  const vethThere = (): boolean => spawnSync(IP, ["link", "show", net.hostVeth], { stdio: "ignore" }).status === 0;
  const deadline = Date.now() + HANG_GUARD_MS;
  while (vethThere() && Date.now() < deadline) spawnSync("sleep", ["0.05"]);
  const left = [listed() ? `namespace ${net.ns}` : "", vethThere() ? `veth ${net.hostVeth}` : ""].filter(Boolean);
  if (left.length > 0) throw new Error(`left behind after the stop: ${left.join(", ")}`);
  log(`namespace ${net.ns} and veth ${net.hostVeth} removed`);
}

/** SIGTERM each daemon by its pid file (slurmds first), SIGKILL what remains, then check nothing of `dir` runs. */
async function stopDaemons(dir: string, pidFiles: Daemons): Promise<void> {
  for (const name of ["slurmd2", "slurmd", "slurmctld", "munged"] as const) {
    const pid = readPid(pidFiles[name]);
    if (pid === undefined) continue;
    // Only a process that is really this cluster's: a pid file can outlive its process.
    if (!clusterProcesses(dir).includes(pid)) continue;
    process.kill(pid, "SIGTERM");
    await waitFor(() => isZombieOrGone(pid), 15_000, `${name} (${pid}) to exit`).catch(() => {
      log(`${name} (${pid}) ignored SIGTERM for 15 s: SIGKILL`);
      process.kill(pid, "SIGKILL");
    });
  }
  // slurmctld's slurmscriptd and anything else of the dir: they end with their daemon.
  await waitFor(() => clusterProcesses(dir).length === 0, 15_000, `no process of ${dir} to remain`).catch(() => {
    const left = clusterProcesses(dir);
    log(`SIGKILL to what is left of ${dir}: ${listProcesses(left)}`);
    for (const pid of left) process.kill(pid, "SIGKILL");
  });
  await waitFor(() => clusterProcesses(dir).length === 0, 10_000, `no process of ${dir} to remain`).catch((error: unknown) => {
    throw new Error(`${String(error)}: ${listProcesses(clusterProcesses(dir))}`);
  });
}

/**
 * Clusters of an earlier test process that died before its stop(): only dirs this helper made
 * (they hold the owner file) whose owner is no longer alive, stopped the same way as stop() does.
 * Anyone else's /tmp/tsss-slurm-* stays.
 */
export async function cleanLeftoverClusters(): Promise<void> {
  for (const entry of fs.readdirSync("/tmp")) {
    const dir = path.join("/tmp", entry);
    if (!dir.startsWith(SLURM_DIR_PREFIX)) continue;
    const owner = readPid(path.join(dir, OWNER_FILE));
    if (owner === undefined || !isZombieOrGone(owner)) continue;
    log(`stopping the leftover cluster ${dir} of the dead test process ${owner}`);
    await SlurmCluster.adopt(dir).stop();
  }
}
