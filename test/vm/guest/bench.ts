/**
 * The guest bench (issue 17; root inside a VM booted for the bench only, from the driver unit):
 * what the cgroup placement adds to the spawn answer and to the kill round trip. Each repetition
 * measures the floors (sudo true as the hub, node -e 0 as the user) and then, for the policy with
 * the "cgroup" section and without it (their order alternating, so neither always comes first),
 * a spawn of the demo server with graceSeconds 0 timed to the answer and a kill round trip with
 * SIGTERM; the server, its reaper and its scope must be gone before the next call. Calls are made
 * as a hub makes them: the hub's uid, real sudo, the request on stdin. Medians and p90 go out as
 * one JSON line per figure; a failure as {"check":"error"}, and the host gives up on the run.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { median, quantile } from "../../../scripts/bench/bench-stats.mjs";
import { freePort } from "../../helpers/ports.js";
import { killRequest, spawnRequest } from "../../../src/protocol/wire.js";
import { BENCH, BENCH_FIGURES, BENCH_FIRST_SPAWN, GUEST, type BenchFigure, type BenchSettings } from "./names.js";
import { alive, cgroupOf, openReport, parentOf, processesOf, read } from "./observe.js";

const report = openReport();
const NODE = "/usr/local/bin/node";
/** Only hang guards: TCG is slow, and a stop ends a tree and a scope. */
const GONE_WITHIN_MS = 60_000;
const MANAGER_WITHIN_MS = 120_000;

interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function account(name: string): Account {
  const line = read("/etc/passwd")
    ?.split("\n")
    .find((entry) => entry.startsWith(`${name}:`));
  const fields = line?.split(":");
  if (fields === undefined || fields.length < 7) throw new Error(`no passwd entry for ${name}`);
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? "/" };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await sleep(10);
  }
}

let calls = 0;

interface Timed {
  ms: number;
  status: number | null;
  stdout: string;
  errFile: string;
}

/**
 * `file args` as `who` (Node sets the ids itself: no extra exec in the figure), `input` on stdin,
 * timed until it has exited and its stdout is closed: the moment a hub has its answer. stderr goes
 * to a file, since a started server keeps it open.
 */
function timed(who: Account, file: string, args: readonly string[], input = ""): Promise<Timed> {
  const errFile = `/tmp/tsss-bench-${++calls}.err`;
  const errFd = fs.openSync(errFile, "w", 0o644);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, args, {
      uid: who.uid,
      gid: who.gid,
      cwd: "/",
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8", HOME: who.home, USER: who.name, LOGNAME: who.name },
      stdio: ["pipe", "pipe", errFd],
    });
    fs.closeSync(errFd);
    const { stdin, stdout } = child;
    if (stdin === null || stdout === null) throw new Error("spawn gave no stdin or stdout pipe");
    let output = "";
    stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("error", reject);
    child.on("close", (status) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status, stdout: output, errFile }));
    stdin.on("error", () => undefined);
    stdin.end(input);
  });
}

function answerOf(call: Timed, what: string): Record<string, unknown> {
  let answer: unknown;
  try {
    answer = JSON.parse(call.stdout);
  } catch {
    answer = undefined;
  }
  if (call.status !== 0 || typeof answer !== "object" || answer === null || (answer as { ok?: unknown }).ok !== true) {
    throw new Error(`${what}: exit ${String(call.status)}, answer ${JSON.stringify(call.stdout)}\n${read(call.errFile) ?? ""}`);
  }
  return answer as Record<string, unknown>;
}

/** The policy the next call reads (it is read per call): replaced whole, by rename. */
function usePolicy(withPlacement: boolean): void {
  const next = `${GUEST.policy}.next`;
  fs.copyFileSync(withPlacement ? BENCH.policyWithCgroup : BENCH.policyWithout, next);
  fs.chmodSync(next, 0o644);
  fs.renameSync(next, GUEST.policy);
}

const hub = account(GUEST.hub);

function mediatorCall(user: Account, request: object): Promise<Timed> {
  return timed(hub, "sudo", ["-n", "-u", user.name, "-H", GUEST.mediator, "--logging=INFO"], JSON.stringify(request));
}

/** A scope of the user's own manager, as placement.ts names it. */
function inScope(cgroup: string | undefined, uid: number): boolean {
  const scope = new RegExp(`^/user\\.slice/user-${uid}\\.slice/user@${uid}\\.service/app\\.slice/ts-sudospawner-${uid}-[0-9a-f]+\\.scope$`);
  return cgroup !== undefined && scope.test(cgroup);
}

interface Round {
  spawnMs: number;
  killMs: number;
}

/**
 * One spawn (timed) and its stop (the kill round trip timed; the wait until everything is gone
 * not). The server must be where the policy puts it, or the figure would be of something else.
 */
async function spawnAndStop(user: Account, withPlacement: boolean): Promise<Round> {
  const port = await freePort();
  const spawned = await mediatorCall(user, spawnRequest([`--port=${port}`, "--ip=127.0.0.1"], { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" }, { graceSeconds: 0 }));
  const pid = answerOf(spawned, `spawn as ${user.name}`).pid;
  if (typeof pid !== "number") throw new Error(`spawn as ${user.name}: no pid in ${spawned.stdout}`);
  const reaper = parentOf(pid);
  const cgroup = cgroupOf(pid);
  if (inScope(cgroup, user.uid) !== withPlacement) {
    throw new Error(`server ${pid} of ${user.name} runs in ${String(cgroup)}, ${withPlacement ? "not in a scope of the user's manager" : "in a scope although the policy has no cgroup section"}`);
  }
  const stopped = await mediatorCall(user, killRequest(pid, 15));
  answerOf(stopped, `kill of ${pid}`);
  const scopeDir = withPlacement ? `/sys/fs/cgroup${String(cgroup)}` : undefined;
  await waitFor(`server ${pid}, its reaper ${String(reaper)} and its scope to go`, () => {
    return !alive(pid) && (reaper === undefined || !alive(reaper)) && (scopeDir === undefined || !fs.existsSync(scopeDir));
  }, GONE_WITHIN_MS);
  // Nothing of the user's may run on but their manager (its init.scope).
  const manager = `/user.slice/user-${user.uid}.slice/user@${user.uid}.service/init.scope`;
  const left = processesOf(user.uid).filter((p) => p.cgroup !== manager);
  if (left.length > 0) throw new Error(`after the stop of ${pid}, ${user.name} still runs ${JSON.stringify(left)}`);
  return { spawnMs: spawned.ms, killMs: stopped.ms };
}

async function floorSudo(user: Account): Promise<number> {
  const call = await timed(hub, "sudo", ["-n", "-u", user.name, "/usr/bin/true"]);
  if (call.status !== 0) throw new Error(`sudo -n -u ${user.name} /usr/bin/true: exit ${String(call.status)}: ${read(call.errFile) ?? ""}`);
  return call.ms;
}

async function floorNode(user: Account): Promise<number> {
  const call = await timed(user, NODE, ["-e", "0"]);
  if (call.status !== 0) throw new Error(`node -e 0 as ${user.name}: exit ${String(call.status)}`);
  return call.ms;
}

function settings(): BenchSettings {
  const value = JSON.parse(read(BENCH.settings) ?? "{}") as Partial<BenchSettings>;
  const count = (n: unknown, fallback: number) => (typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : fallback);
  return { reps: Math.max(1, count(value.reps, 20)), warmup: count(value.warmup, 3) };
}

async function bench(): Promise<void> {
  const { reps, warmup } = settings();
  const user = account(GUEST.user);
  // The lingering user's manager, started by logind at boot: the figures are of a running one.
  await waitFor(`${user.name}'s systemd manager`, () => fs.existsSync(`/run/user/${user.uid}/systemd/private`), MANAGER_WITHIN_MS);
  report("bench-start", { uptimeSeconds: Number(read("/proc/uptime")?.split(" ")[0]), reps, warmup, cpus: os.cpus().length, node: process.version });

  const samples = Object.fromEntries(BENCH_FIGURES.map((name) => [name, [] as number[]])) as Record<BenchFigure, number[]>;
  for (let round = 0; round < warmup + reps; round++) {
    report("progress", { round: round + 1, of: warmup + reps });
    const keep = (figure: BenchFigure, ms: number) => {
      if (round >= warmup) samples[figure].push(ms);
    };
    keep("sudoTrue", await floorSudo(user));
    keep("node", await floorNode(user));
    for (const withPlacement of round % 2 === 0 ? [true, false] : [false, true]) {
      usePolicy(withPlacement);
      const { spawnMs, killMs } = await spawnAndStop(user, withPlacement);
      keep(withPlacement ? "spawnWithPlacement" : "spawnWithoutPlacement", spawnMs);
      keep(withPlacement ? "killWithPlacement" : "killWithoutPlacement", killMs);
    }
  }

  const summary = (values: number[]) => ({ n: values.length, median: median(values), p90: quantile(values, 0.9), samples: values });
  for (const name of BENCH_FIGURES) report(name, summary(samples[name]));

  // Users who never lingered: the first spawn asks logind for linger and waits for the manager.
  try {
    usePolicy(true);
    const first: number[] = [];
    for (const name of BENCH.firstSpawnUsers) {
      if (fs.existsSync(`/var/lib/systemd/linger/${name}`)) throw new Error(`${name} lingers already`);
      first.push((await spawnAndStop(account(name), true)).spawnMs);
    }
    report(BENCH_FIRST_SPAWN, summary(first));
  } catch (error) {
    report(BENCH_FIRST_SPAWN, { error: error instanceof Error ? error.message : String(error) });
  }
  report("done", { uptimeSeconds: Number(read("/proc/uptime")?.split(" ")[0]), loadavg: os.loadavg() });
}

try {
  await bench();
} catch (error) {
  report("error", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
}
