#!/usr/bin/env node
// `npm run bench` (runs `npm run build` first): speed and memory of the mediator, measured in ONE
// run against floors measured in the same run, printed as a table. Needs root: it installs the
// packed tarball into a root-owned prefix and creates its own hub user, target user and sudoers
// rule, exactly the way an admin sets up a hub, and removes all of it at the end (also on Ctrl-C).
//
// Every figure is timed from a process running as the user the real call runs as:
//   hub side  (uid tsss-bench-hub):  sudo -n -u U /usr/bin/true,  sudo -n -u U -H MEDIATOR (kill,
//                                    spawn, and SIGTERM to a call that waits on stdin)
//   user side (uid tsss-bench-user): node -e 0,  MEDIATOR --help,  one mediator call's peak RSS,
//                                    the reaper stopping what a server left behind
// Timing is measured here, never asserted in the tests: their deadlines only guard against hangs.
// The bench process (root) starts each of them with setuid/setgid done by Node itself (no extra
// exec in between), so the user-side floors are the user's processes and nothing else. The figures
// are interleaved (one of each per repetition) so that noise on a shared machine hits all alike.
//
// After the host's figures, the cgroup placement's cost on a real systemd host: a VM booted with
// qemu TCG (scripts/bench/bench-vm.mjs), skipped loudly where qemu or mmdebstrap is missing.
//
// Environment: BENCH_REPS (default 30), BENCH_WARMUP (default 3), BENCH_KEEP=1 keeps the setup;
// BENCH_VM=0 skips the VM section, BENCH_VM_REPS (default 20) sets its rounds.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
// The wire protocol from the built library (npm run bench builds first).
import * as protocol from "../../dist/index.js";
import { median, quantile } from "./bench-stats.mjs";
import { stopVmBench, vmSection } from "./bench-vm.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PREFIX = "/opt/tsss-bench";
const MEDIATOR = `${PREFIX}/bin/ts-sudospawner`;
const REAPER = `${PREFIX}/lib/node_modules/ts-sudospawner/build/Release/tsss-reaper`;
const HUB = "tsss-bench-hub";
const USER = "tsss-bench-user";
const GROUP = "tsss-bench";
const SUDOERS = "/etc/sudoers.d/tsss-bench";
const TMP = "/tmp/tsss-bench";
const NODE = fs.realpathSync(process.execPath);
const TRUE = "/usr/bin/true";
const GRACE_MS = 1000;
const REPS = positiveInt(process.env.BENCH_REPS, 30);
const WARMUP = positiveInt(process.env.BENCH_WARMUP, 3);
const KEEP = process.env.BENCH_KEEP === "1";
const VM_REPS = positiveInt(process.env.BENCH_VM_REPS, 20);

// The Python mediator is not installed here; these are the figures, measured elsewhere.
const PYTHON_REFERENCE = { killMs: 520, spawnMs: 1500, rssMiB: 47 };

function positiveInt(raw, fallback) {
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

function progress(message) {
  process.stderr.write(`bench: ${message}\n`);
}

// ---- setup and teardown -----------------------------------------------------------------------

function quiet(file, args) {
  return spawnSync(file, args, { stdio: "ignore" }).status;
}

/** Processes of `user` that are not zombies (our own exited children stay zombies while we block). */
function liveProcesses(user) {
  const uid = spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim();
  if (!/^\d+$/.test(uid)) return [];
  return fs.readdirSync("/proc").filter((pid) => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      return new RegExp(`^Uid:\\t${uid}\\t`, "m").test(status) && !/^State:\tZ/m.test(status);
    } catch {
      return false;
    }
  });
}

let cleaned = false;
/** Remove everything the bench created. Synchronous and idempotent: also runs on Ctrl-C. */
function cleanup() {
  if (cleaned || KEEP) return;
  cleaned = true;
  for (const user of [USER, HUB]) {
    quiet("pkill", ["-KILL", "-u", user]);
    for (let i = 0; i < 50 && liveProcesses(user).length > 0; i++) spawnSync("sleep", ["0.1"]);
    quiet("userdel", ["--remove", "--force", user]);
    quiet("groupdel", [user]);
  }
  quiet("groupdel", [GROUP]);
  fs.rmSync(SUDOERS, { force: true });
  fs.rmSync(`${SUDOERS}.tmp`, { force: true });
  fs.rmSync(PREFIX, { recursive: true, force: true });
  fs.rmSync(TMP, { recursive: true, force: true });
}

// The root test suites hold this lock while they run (test/helpers/run-lock.ts). The bench shares no
// names with them, but their load would distort the figures: take turns.
const RUN_LOCK = "/tmp/tsss-test-run.lock";
let lockHeld = false;

function lockHolder() {
  try {
    const pid = Number(fs.readFileSync(`${RUN_LOCK}/pid`, "utf8"));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function acquireRunLock() {
  let announced = false;
  for (;;) {
    try {
      fs.mkdirSync(RUN_LOCK, { mode: 0o700 });
      fs.writeFileSync(`${RUN_LOCK}/pid`, String(process.pid));
      lockHeld = true;
      return;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    const pid = lockHolder();
    let alive = false;
    try {
      if (pid !== undefined) process.kill(pid, 0);
      alive = pid !== undefined;
    } catch {
      alive = false;
    }
    if (pid !== undefined && !alive) {
      fs.rmSync(RUN_LOCK, { recursive: true, force: true }); // a crashed run's lock
      continue;
    }
    if (!announced) {
      progress(`waiting for a root test run (pid ${pid ?? "?"}) to finish, so that it does not distort the figures`);
      announced = true;
    }
    spawnSync("sleep", ["1"]);
  }
}

function releaseRunLock() {
  if (lockHeld && lockHolder() === process.pid) fs.rmSync(RUN_LOCK, { recursive: true, force: true });
  lockHeld = false;
}

function onSignal(signal) {
  progress(`${signal}: removing the bench users, sudoers rule and ${PREFIX}`);
  cleaned = false;
  cleanup();
  releaseRunLock();
  process.exit(128 + (os.constants.signals[signal] ?? 1));
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, onSignal);
process.on("exit", () => {
  stopVmBench();
  cleanup();
  releaseRunLock();
});

function userEntry(name) {
  const fields = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim().split(":");
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
}

function setup() {
  cleanup(); // leftovers of an interrupted run
  cleaned = false;
  fs.mkdirSync(TMP, { recursive: true, mode: 0o755 });
  fs.chmodSync(TMP, 0o755);
  progress("packing ts-sudospawner (npm pack)");
  const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", TMP], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const tarball = path.join(TMP, packed.trim().split("\n").pop());
  progress(`installing it into ${PREFIX} (npm install -g --prefix, builds the addon)`);
  fs.mkdirSync(PREFIX, { recursive: true, mode: 0o755 });
  fs.chmodSync(PREFIX, 0o755);
  execFileSync("npm", ["install", "-g", "--no-audit", "--no-fund", "--prefix", PREFIX, tarball], { stdio: ["ignore", "ignore", "inherit"] });
  const server = `${PREFIX}/bin/jupyterhub-singleuser`;
  fs.copyFileSync(`${PREFIX}/lib/node_modules/ts-sudospawner/dist/demo-singleuser.cjs`, server);
  fs.chmodSync(server, 0o755);

  progress(`creating users ${HUB}, ${USER} and the sudoers rule ${SUDOERS}`);
  execFileSync("groupadd", [GROUP]);
  execFileSync("useradd", ["--shell", "/bin/bash", "--user-group", "--create-home", HUB]);
  execFileSync("useradd", ["--shell", "/bin/bash", "--user-group", "--create-home", "--groups", GROUP, USER]);
  // The mediator as a hub's rule allows it; /usr/bin/true and node only for the floors.
  const rule = [
    "# ts-sudospawner benchmark (removed when the bench ends)",
    `Cmnd_Alias TSSS_BENCH_MEDIATOR = ${MEDIATOR}`,
    `Cmnd_Alias TSSS_BENCH_FLOORS = ${TRUE}, ${NODE}`,
    `Defaults:${HUB} !requiretty`,
    `${HUB} ALL=(%${GROUP}) NOPASSWD: TSSS_BENCH_MEDIATOR, TSSS_BENCH_FLOORS`,
    "",
  ].join("\n");
  fs.writeFileSync(`${SUDOERS}.tmp`, rule, { mode: 0o440 });
  const check = spawnSync("visudo", ["-cf", `${SUDOERS}.tmp`], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`visudo rejected the bench rule: ${check.stdout}${check.stderr}`);
  fs.renameSync(`${SUDOERS}.tmp`, SUDOERS);

  // Preload for the peak-RSS figure: reports VmHWM (the process's peak RSS) as it exits.
  const hwmDir = path.join(TMP, "hwm");
  fs.mkdirSync(hwmDir, { mode: 0o700 });
  const user = userEntry(USER);
  fs.chownSync(hwmDir, user.uid, user.gid);
  const preload = path.join(TMP, "hwm-preload.cjs");
  fs.writeFileSync(
    preload,
    [
      '"use strict";',
      'const fs = require("node:fs");',
      'process.on("exit", () => {',
      '  const status = fs.readFileSync("/proc/self/status", "utf8");',
      "  const kib = Number(/^VmHWM:\\s+(\\d+) kB$/m.exec(status)?.[1]);",
      "  fs.writeFileSync(process.env.TSSS_BENCH_HWM_FILE, String(kib));",
      "});",
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  // The reaper figure's working directory (its --cwd and the leftovers' ready files), the user's.
  const leftoverDir = path.join(TMP, "leftover");
  fs.mkdirSync(leftoverDir, { mode: 0o700 });
  fs.chownSync(leftoverDir, user.uid, user.gid);
  return { hub: userEntry(HUB), user, preload, hwmDir, leftoverDir, tarball };
}

// ---- running things as a user ------------------------------------------------------------------

function envFor(account) {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    LANG: "C.UTF-8",
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: "/bin/bash",
  };
}

/**
 * Start `file args` as `account`, write `input`, and time it until the process has exited and its
 * stdout is closed (the moment a hub has its answer). stderr is not waited for: after a spawn the
 * server keeps it open, as it does the hub's pipe. `keepStderr`: it is read on (as a hub's relay
 * does) until the caller's closeStderr(); a server answered at its exec would otherwise write its
 * first lines into a closed pipe and die of EPIPE.
 */
function timed(account, file, args, input = "", extraEnv = {}, keepStderr = false) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, args, {
      uid: account.uid,
      gid: account.gid,
      cwd: account.home,
      env: { ...envFor(account), ...extraEnv },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let exit;
    let ended = false;
    const finish = () => {
      if (!exit || !ended) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const closeStderr = () => child.stderr.destroy();
      if (!keepStderr) closeStderr();
      resolve({ ms, status: exit.code, signal: exit.signal, stdout, stderr, closeStderr });
    };
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.stdout.on("end", () => {
      ended = true;
      finish();
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      finish();
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function procField(pid, field) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return new RegExp(`^${field}:\\s+(.*)$`, "m").exec(status)?.[1];
  } catch {
    return undefined;
  }
}

function isGone(pid) {
  const state = procField(pid, "State");
  return state === undefined;
}

async function waitGone(pid, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!isGone(pid)) {
    if (Date.now() > deadline) throw new Error(`server pid ${pid} still there ${timeoutMs} ms after SIGTERM`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function expectAnswer(result, expected, what) {
  const line = result.stdout.trim();
  let answer;
  try {
    answer = JSON.parse(line);
  } catch {
    answer = undefined;
  }
  const ok = answer !== undefined && Object.entries(expected).every(([k, v]) => (v === Number ? typeof answer[k] === "number" : answer[k] === v));
  if (!ok || result.status !== 0) {
    throw new Error(`${what}: unexpected answer ${JSON.stringify(line)} (exit ${result.status})\n${result.stderr}`);
  }
  return answer;
}

// ---- the measurements --------------------------------------------------------------------------

/** `extra.graceSeconds: 0`: the answer at the exec, as TsSudoSpawner asks (docs/protocol.md). */
function spawnRequest(port, extra = {}) {
  return JSON.stringify(protocol.spawnRequest([`--port=${port}`, "--ip=127.0.0.1"], { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" }, extra));
}

function killRequest(pid, signal) {
  return JSON.stringify(protocol.killRequest(pid, signal));
}

const HUB_SUDO = ["-n", "-u", USER, "-H"];

async function viaSudo(ctx, input, command = [MEDIATOR, "--logging=INFO"], keepStderr = false) {
  return timed(ctx.hub, "sudo", [...HUB_SUDO, ...command], input, {}, keepStderr);
}

/**
 * Spawn through sudo (timed), note the reaper's RSS, stop the server through sudo (untimed).
 * `graceless`: a request with graceSeconds 0, timed into samples.spawnNoGrace; "reconcile": the
 * same with "server" and "reconcile" (what TsSudoSpawner sends; nothing to stop, so the cost of
 * looking), timed into samples.spawnReconcile.
 */
async function spawnCycle(ctx, samples, graceless = false) {
  const port = await freePort();
  const extra = graceless === "reconcile" ? { graceSeconds: 0, server: "", reconcile: true } : graceless ? { graceSeconds: 0 } : {};
  const result = await viaSudo(ctx, spawnRequest(port, extra), undefined, true);
  const { pid } = expectAnswer(result, { ok: true, pid: Number }, "spawn");
  (graceless === "reconcile" ? samples.spawnReconcile : graceless ? samples.spawnNoGrace : samples.spawn)?.push(result.ms);
  const reaper = Number(procField(pid, "PPid"));
  if (procField(reaper, "Name") !== "tsss-reaper") throw new Error(`server ${pid}'s parent ${reaper} is not tsss-reaper`);
  samples.reaperKiB?.push(Number.parseInt(procField(reaper, "VmRSS") ?? "NaN", 10));
  const stop = await viaSudo(ctx, killRequest(pid, 15));
  expectAnswer(stop, { ok: true, alive: true }, "stop");
  await waitGone(pid);
  result.closeStderr();
}

/** One mediator call as the user, directly, with the VmHWM preload; returns the peak RSS in KiB. */
async function peakRss(ctx, input) {
  const file = path.join(ctx.hwmDir, "hwm");
  fs.rmSync(file, { force: true });
  const result = await timed(ctx.user, NODE, ["--require", ctx.preload, MEDIATOR, "--logging=INFO"], input, { TSSS_BENCH_HWM_FILE: file });
  const answer = expectAnswer(result, { ok: true }, "peak RSS call");
  const kib = Number(fs.readFileSync(file, "utf8"));
  return { kib, answer };
}

/**
 * The hub giving up on a call (its timeout): SIGTERM to the sudo of a mediator that still waits on
 * stdin (half a request), timed from the signal to the answer ("interrupted by SIGTERM") and exit.
 * The signal is sent once the mediator (node, as the user) waits on stdin.
 */
function interruptCall(ctx) {
  return new Promise((resolve, reject) => {
    const child = spawn("sudo", [...HUB_SUDO, MEDIATOR, "--logging=INFO"], {
      uid: ctx.hub.uid,
      gid: ctx.hub.gid,
      cwd: ctx.hub.home,
      env: envFor(ctx.hub),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let started;
    let exit;
    let ended = false;
    const finish = () => {
      if (!exit || !ended) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      child.stderr.destroy();
      if (stdout.trim() !== JSON.stringify({ ok: false, error: "interrupted by SIGTERM" })) {
        reject(new Error(`interrupted call: unexpected answer ${JSON.stringify(stdout)} (exit ${exit.code ?? exit.signal})\n${stderr}`));
      }
      else resolve(ms);
    };
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    child.stdout.on("end", () => {
      ended = true;
      finish();
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      if (started === undefined) reject(new Error(`the mediator exited (${code ?? signal}) before it was interrupted`));
      finish();
    });
    child.stdin.on("error", () => undefined);
    child.stdin.write('{"action":"kill",');
    const deadline = Date.now() + 30_000;
    const ready = () => {
      // The mediator has its signal handlers once it waits on stdin: node, in its reader's poll(2)
      // (not SigCgt: node catches SIGTERM from its start, to restore the terminal).
      const mediator = fs.readdirSync("/proc").find((pid) => {
        try {
          if (procField(pid, "PPid") !== String(child.pid) || !fs.readlinkSync(`/proc/${pid}/exe`).endsWith("/node")) return false;
          return fs.readFileSync(`/proc/${pid}/wchan`, "utf8").startsWith("poll_schedule_timeout");
        } catch {
          return false;
        }
      });
      if (mediator) {
        started = process.hrtime.bigint();
        child.kill("SIGTERM"); // sudo relays it, as it relays the hub's
      } else if (Date.now() > deadline) {
        child.kill("SIGKILL");
        reject(new Error("the mediator never got ready for SIGTERM"));
      } else setTimeout(ready, 2);
    };
    ready();
  });
}

/**
 * The reaper stopping what a server left behind, as the user, --leftover-grace-ms 0: the server
 * starts a child in a session of its own, waits until it is ready, and exits; timed from the
 * reaper's start to its exit (all of the tree gone). `ignoreTerm`: the child ignores SIGTERM, so
 * only the SIGKILL after the (zero) grace period ends it; otherwise SIGTERM does (the floor).
 */
function leftoverRun(ctx, ignoreTerm) {
  const ready = path.join(ctx.leftoverDir, `ready-${process.hrtime.bigint()}`);
  const leftover = `${ignoreTerm ? "trap '' TERM; " : ""}: > ${ready}; exec /bin/sleep 300`;
  const server = `setsid /bin/sh -c "${leftover}" & while [ ! -e ${ready} ]; do :; done; exit 0`;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(REAPER, ["--cwd", ctx.leftoverDir, "--leftover-grace-ms", "0", "--", "/bin/sh", "-c", server], {
      uid: ctx.user.uid,
      gid: ctx.user.gid,
      cwd: ctx.user.home,
      env: envFor(ctx.user),
      stdio: ["ignore", "ignore", "ignore", "pipe"],
    });
    let status = "";
    child.stdio[3].setEncoding("utf8").on("data", (chunk) => (status += chunk));
    child.on("error", reject);
    // close: the reaper has exited and its status pipe is drained.
    child.on("close", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      fs.rmSync(ready, { force: true });
      if (code !== 0 || !/^P \d+\nX 0 0\n$/.test(status)) reject(new Error(`reaper: exit ${code ?? signal}, status ${JSON.stringify(status)}`));
      else resolve(ms);
    });
  });
}

async function measure(ctx) {
  // The live server that the kill round trips probe with signal 0.
  const port = await freePort();
  const live = expectAnswer(await viaSudo(ctx, spawnRequest(port)), { ok: true, pid: Number }, "spawn of the probed server").pid;
  const samples = {
    sudoTrue: [],
    node: [],
    sudoNode: [],
    help: [],
    kill: [],
    spawn: [],
    spawnNoGrace: [],
    spawnReconcile: [],
    interrupt: [],
    leftoverTerm: [],
    leftoverKill: [],
    reaperKiB: [],
    peakKillKiB: [],
    peakSpawnKiB: [],
  };
  const probe = killRequest(live, 0);

  const round = async (into) => {
    const s = await timed(ctx.hub, "sudo", [...HUB_SUDO, TRUE]);
    if (s.status !== 0) throw new Error(`sudo -n -u ${USER} ${TRUE} failed: ${s.stderr}`);
    into.sudoTrue?.push(s.ms);
    const n = await timed(ctx.user, NODE, ["-e", "0"]);
    into.node?.push(n.ms);
    const sn = await timed(ctx.hub, "sudo", [...HUB_SUDO, NODE, "-e", "0"]);
    into.sudoNode?.push(sn.ms);
    const h = await timed(ctx.user, MEDIATOR, ["--help"]);
    if (h.status !== 0 || !h.stdout.startsWith("ts-sudospawner ")) throw new Error(`--help failed: ${h.stderr}`);
    into.help?.push(h.ms);
    const k = await viaSudo(ctx, probe);
    expectAnswer(k, { ok: true, alive: true }, "kill round trip");
    into.kill?.push(k.ms);
    into.peakKillKiB?.push((await peakRss(ctx, probe)).kib);
    into.interrupt?.push(await interruptCall(ctx));
    into.leftoverTerm?.push(await leftoverRun(ctx, false));
    into.leftoverKill?.push(await leftoverRun(ctx, true));
  };

  progress(`warming up (${WARMUP} rounds)`);
  for (let i = 0; i < WARMUP; i++) {
    await round({});
    await spawnCycle(ctx, {});
    await spawnCycle(ctx, {}, true);
    await spawnCycle(ctx, {}, "reconcile");
  }
  for (let i = 0; i < REPS; i++) {
    progress(`round ${i + 1}/${REPS}`);
    await round(samples);
    await spawnCycle(ctx, samples);
    await spawnCycle(ctx, samples, true);
    await spawnCycle(ctx, samples, "reconcile");
  }

  // The peak of a spawn call, run the same way (directly as the user, with the preload).
  progress("peak RSS of spawn calls");
  for (let i = 0; i < Math.min(5, REPS); i++) {
    const { kib, answer } = await peakRss(ctx, spawnRequest(await freePort()));
    samples.peakSpawnKiB.push(kib);
    await viaSudo(ctx, killRequest(answer.pid, 15));
    await waitGone(answer.pid);
  }
  // Cross-check of the peak with GNU time where it is installed (not needed for the figure).
  let gnuTimeKiB;
  if (fs.existsSync("/usr/bin/time")) {
    const r = await timed(ctx.user, "/usr/bin/time", ["-f", "%M", MEDIATOR, "--logging=INFO"], probe);
    gnuTimeKiB = Number(r.stderr.trim().split("\n").pop());
  }

  const stop = await viaSudo(ctx, killRequest(live, 15));
  expectAnswer(stop, { ok: true, alive: true }, "stop of the probed server");
  await waitGone(live);
  return { samples, gnuTimeKiB };
}

// ---- the report --------------------------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  const sudoVersion = spawnSync("sudo", ["-V"], { encoding: "utf8" }).stdout.split("\n")[0];
  let distro = "";
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
  } catch {
    // not Linux-standard
  }
  return `${distro}, Linux ${os.release()}, ${cpus.length} × ${cpus[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${sudoVersion}`;
}

function report({ samples, gnuTimeKiB }) {
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  const kib = (k) => (k >= 10240 ? `${(k / 1024).toFixed(1)} MiB` : `${Math.round(k)} KiB`);
  const killFloor = m.sudoTrue + m.node;
  const peak = Math.max(...samples.peakKillKiB, ...samples.peakSpawnKiB);
  const rows = [
    {
      figure: "kill round trip (hub → sudo → mediator, signal 0 to a live server)",
      median: fmt(m.kill),
      floor: `sudo true + node -e 0 = ${fmt(killFloor)}`,
      ratio: m.kill / killFloor,
      target: "≤ 1.5",
      pass: m.kill <= 1.5 * killFloor,
    },
    {
      figure: "--help (as the user)",
      median: fmt(m.help),
      floor: `node -e 0 = ${fmt(m.node)}`,
      ratio: m.help / m.node,
      target: "≤ 1.3",
      pass: m.help <= 1.3 * m.node,
    },
    {
      figure: "spawn answer (hub → sudo → mediator → server started, grace waited)",
      median: fmt(m.spawn),
      floor: `grace ${GRACE_MS} ms + kill round trip ${fmt(m.kill)}`,
      ratio: (m.spawn - GRACE_MS) / m.kill,
      target: "(spawn − grace) / kill ≤ 1.5",
      pass: m.spawn <= GRACE_MS + 1.5 * m.kill,
    },
    {
      figure: "spawn answer without grace (graceSeconds 0: hub → sudo → mediator → server exec'ed)",
      median: fmt(m.spawnNoGrace),
      floor: `kill round trip ${fmt(m.kill)}`,
      ratio: m.spawnNoGrace / m.kill,
      target: "≤ 1.5",
      pass: m.spawnNoGrace <= 1.5 * m.kill,
    },
    {
      figure: "spawn answer without grace, reconciling (server + reconcile, nothing to stop: the /proc scan)",
      median: fmt(m.spawnReconcile),
      floor: `spawn answer without grace ${fmt(m.spawnNoGrace)}`,
      ratio: m.spawnReconcile / m.spawnNoGrace,
      target: "≤ floor + 10 ms",
      pass: m.spawnReconcile <= m.spawnNoGrace + 10,
    },
    {
      figure: "interrupted call (SIGTERM from the hub → sudo → mediator waiting on stdin → answer)",
      median: fmt(m.interrupt),
      floor: `kill round trip ${fmt(m.kill)}`,
      ratio: m.interrupt / m.kill,
      target: "≤ 1",
      pass: m.interrupt <= m.kill,
    },
    {
      figure: "leftover that ignores SIGTERM, --leftover-grace-ms 0 (reaper start → tree gone)",
      median: fmt(m.leftoverKill),
      floor: `leftover that obeys SIGTERM = ${fmt(m.leftoverTerm)}`,
      ratio: m.leftoverKill / m.leftoverTerm,
      target: "≤ floor + 100 ms (the default grace is 3 s)",
      pass: m.leftoverKill <= m.leftoverTerm + 100,
    },
    {
      figure: "memory left per running server (VmRSS of tsss-reaper)",
      median: kib(m.reaperKiB),
      floor: `max ${kib(Math.max(...samples.reaperKiB))}`,
      ratio: m.reaperKiB / 1024,
      target: "≤ 1 MiB",
      pass: Math.max(...samples.reaperKiB) <= 1024,
    },
    {
      figure: "peak RSS of one mediator call (VmHWM; max of kill and spawn calls)",
      median: `kill ${kib(m.peakKillKiB)}, spawn ${kib(m.peakSpawnKiB)}`,
      floor: `max ${kib(peak)}`,
      ratio: peak / (60 * 1024),
      target: "≤ 60 MiB",
      pass: peak <= 60 * 1024,
    },
  ];
  const table = [
    "| figure | median | floor | ratio | target | result |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.figure} | ${r.median} | ${r.floor} | ${r.ratio.toFixed(2)} | ${r.target} | ${r.pass ? "pass" : "FAIL"} |`),
  ];
  const floors = [
    "| floor (same run) | median | p25 | p75 | min |",
    "| --- | --- | --- | --- | --- |",
    ...[
      ["sudo -n -u U /usr/bin/true (as the hub)", samples.sudoTrue],
      ["node -e 0 (as U)", samples.node],
      ["sudo -n -u U node -e 0 (as the hub; cross-check of the sum)", samples.sudoNode],
      ["kill round trip", samples.kill],
      ["--help", samples.help],
      ["spawn answer", samples.spawn],
      ["spawn answer without grace", samples.spawnNoGrace],
      ["interrupted call", samples.interrupt],
      ["leftover obeying SIGTERM (reaper run)", samples.leftoverTerm],
      ["leftover ignoring SIGTERM, grace 0 (reaper run)", samples.leftoverKill],
    ].map(([name, v]) => `| ${name} | ${fmt(median(v))} | ${fmt(quantile(v, 0.25))} | ${fmt(quantile(v, 0.75))} | ${fmt(Math.min(...v))} |`),
  ];
  const reference = [
    "Python sudospawner, measured elsewhere (reference from the issue, not measured here):",
    `  kill round trip about ${PYTHON_REFERENCE.killMs} ms, spawn answer about ${PYTHON_REFERENCE.spawnMs} ms, about ${PYTHON_REFERENCE.rssMiB} MiB RSS left per running server`,
  ];
  const notes = [
    `${REPS} repetitions after ${WARMUP} warm-up rounds; medians.`,
    gnuTimeKiB ? `cross-check: /usr/bin/time -f %M on one kill call: ${kib(gnuTimeKiB)}` : "cross-check with /usr/bin/time skipped (not installed)",
    `machine: ${machine()}; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  ];
  process.stdout.write(`\n${table.join("\n")}\n\n${floors.join("\n")}\n\n${reference.join("\n")}\n\n${notes.join("\n")}\n`);
  return rows.every((r) => r.pass);
}

async function main() {
  if (process.getuid?.() !== 0) {
    progress("needs root: it creates users, a sudoers rule and a root-owned install (run `sudo npm run bench`)");
    return 2;
  }
  for (const tool of ["sudo", "useradd", "visudo", "pkill"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status !== 0) {
      progress(`needs ${tool} (apt-get install sudo passwd procps)`);
      return 2;
    }
  }
  acquireRunLock();
  const ctx = setup();
  const started = Date.now();
  const results = await measure(ctx);
  const allPass = report(results);
  progress(`host figures measured in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const vmStarted = Date.now();
  const hostNode = async () => (await timed(ctx.user, NODE, ["-e", "0"])).ms;
  const vmPass = await vmSection({ root: ROOT, tarball: ctx.tarball, reps: VM_REPS, warmup: WARMUP, hostNode, progress });
  progress(`VM section took ${((Date.now() - vmStarted) / 1000).toFixed(0)} s; cleaning up`);
  return allPass && vmPass ? 0 : 1;
}

main().then(
  (status) => {
    cleanup();
    process.exit(status);
  },
  (error) => {
    progress(`failed: ${error instanceof Error ? error.message : String(error)}`);
    cleanup();
    process.exit(1);
  },
);
