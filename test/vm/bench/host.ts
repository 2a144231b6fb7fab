/**
 * The host side of the VM bench (issue 17): one boot of a machine laid out as the VM tier's test
 * lays it out (test/vm/setup.ts), with the bench's own users, a bench-only sudoers rule for the
 * floor and both policy texts, running test/vm/guest/bench.ts as its driver. Returns the guest's
 * figures; `npm run bench` judges them (scripts/bench/bench-vm.mjs).
 */
import path from "node:path";
import { ensureBaseImage } from "../image.js";
import { type DriverReport } from "../machine.js";
import { prepareMachine } from "../setup.js";
import { BENCH, BENCH_FIGURES, BENCH_FIRST_SPAWN, CAPS, GUEST, type BenchFigure, type BenchSettings } from "../guest/names.js";

/** Only a hang guard: the bench boot measures for a few minutes under TCG. */
const BOOT_DEADLINE_MS = 30 * 60_000;
const PROGRESS_EVERY_MS = 20_000;

export interface FigureSummary {
  n: number;
  median: number;
  p90: number;
  samples: number[];
}

export interface VmBenchResult {
  figures: Record<BenchFigure, FigureSummary>;
  /** The first spawn of never-lingering users (it starts their manager), or why it could not be had. */
  firstSpawn: FigureSummary | { error: string };
  guest: { cpus: number; node: string; uptimeAtStart: number; uptimeAtEnd: number; loadavg: number[] };
  /** Wall time of each step on the host, in seconds; `image` is 0 when the base image was cached. */
  seconds: { image: number; tree: number; boot: number };
  imageCached: boolean;
}

export interface VmBenchOptions extends BenchSettings {
  tarball: string;
  /** The checkout, for the guest script's source (this file may run bundled, from elsewhere). */
  repoRoot: string;
  progress: (message: string) => void;
}

function numbers(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((n) => typeof n === "number" && Number.isFinite(n));
}

function summary(entry: DriverReport | undefined): FigureSummary | undefined {
  if (entry === undefined || typeof entry.median !== "number" || typeof entry.p90 !== "number" || !numbers(entry.samples) || entry.samples.length === 0) return undefined;
  return { n: entry.samples.length, median: entry.median, p90: entry.p90, samples: entry.samples };
}

/** The guest's lines as figures (pure): an error line, or a missing figure, is the run's failure. */
export function benchFigures(reports: readonly DriverReport[]): Pick<VmBenchResult, "figures" | "firstSpawn" | "guest"> {
  const byCheck = new Map(reports.map((entry) => [entry.check, entry]));
  const error = byCheck.get("error");
  if (error !== undefined) throw new Error(`the guest bench failed: ${String(error.error)}`);
  const start = byCheck.get("bench-start");
  const done = byCheck.get("done");
  if (start === undefined || done === undefined) throw new Error(`the guest bench did not run to its end (reports: ${reports.map((r) => r.check).join(", ") || "none"})`);
  const figures = {} as Record<BenchFigure, FigureSummary>;
  for (const name of BENCH_FIGURES) {
    const figure = summary(byCheck.get(name));
    if (figure === undefined) throw new Error(`the guest bench reported no figure "${name}": ${JSON.stringify(byCheck.get(name))}`);
    figures[name] = figure;
  }
  const first = byCheck.get(BENCH_FIRST_SPAWN);
  return {
    figures,
    firstSpawn: summary(first) ?? { error: String(first?.error ?? "not reported") },
    guest: {
      cpus: Number(start.cpus),
      node: String(start.node),
      uptimeAtStart: Number(start.uptimeSeconds),
      uptimeAtEnd: Number(done.uptimeSeconds),
      loadavg: numbers(done.loadavg) ? done.loadavg : [],
    },
  };
}

const floorRule = [
  "# ts-sudospawner VM bench: the floor, sudo -n -u USER /usr/bin/true as the hub",
  `${GUEST.hub} ALL=(%${GUEST.group}) NOPASSWD: /usr/bin/true`,
  "",
].join("\n");

export async function runVmBench(options: VmBenchOptions): Promise<VmBenchResult> {
  const { progress } = options;
  let mark = Date.now();
  const lap = () => {
    const seconds = (Date.now() - mark) / 1000;
    mark = Date.now();
    return seconds;
  };
  progress("base image (mmdebstrap of Debian 12 the first time, about 1-2 min; cached after)");
  const base = ensureBaseImage();
  const image = lap();
  progress("the machine's tree and disk (the tarball installed with npm, users, sudoers, mkfs.ext4)");
  const machine = prepareMachine(base.tar, options.tarball, [
    { name: GUEST.hub },
    { name: GUEST.user, groups: [GUEST.group], linger: true },
    ...BENCH.firstSpawnUsers.map((name) => ({ name, groups: [GUEST.group] })),
  ]);
  // A bench interrupted (bench.mjs stops this process) kills qemu and removes the tree all the same.
  const disposeOnExit = () => machine.dispose();
  process.once("exit", disposeOnExit);
  try {
    machine.write(BENCH.floorSudoers, floorRule, 0o440);
    machine.chroot(["visudo", "-cf", BENCH.floorSudoers], "visudo -cf of the bench's floor rule");
    machine.write(BENCH.policyWithCgroup, JSON.stringify({ cgroup: CAPS.section }));
    machine.write(BENCH.policyWithout, JSON.stringify({}));
    machine.write(GUEST.policy, JSON.stringify({}));
    machine.write(BENCH.settings, JSON.stringify({ reps: options.reps, warmup: options.warmup } satisfies BenchSettings));
    await machine.bundle(path.join(options.repoRoot, "test/vm/guest/bench.ts"), BENCH.script);
    machine.installDriver(BENCH.script);
    machine.makeDisk();
    const tree = lap();
    progress(`booting the VM (qemu TCG); ${options.warmup} warm-up and ${options.reps} measured rounds in the guest, a few minutes`);
    const heartbeat = setInterval(() => {
      const rounds = machine.reportsSoFar().filter((entry) => entry.check === "progress");
      const last = rounds.at(-1);
      progress(last === undefined ? `booting (${Math.round((Date.now() - mark) / 1000)} s)` : `guest round ${String(last.round)}/${String(last.of)}`);
    }, PROGRESS_EVERY_MS);
    let reports: DriverReport[];
    try {
      reports = (await machine.boot(BOOT_DEADLINE_MS)).reports;
    } finally {
      clearInterval(heartbeat);
    }
    const boot = lap();
    try {
      return { ...benchFigures(reports), seconds: { image, tree, boot }, imageCached: base.cached };
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nconsole:\n${machine.consoleTail()}`);
    }
  } finally {
    process.removeListener("exit", disposeOnExit);
    machine.dispose();
  }
}
