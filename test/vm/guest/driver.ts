/**
 * The VM test driver (runs as root inside the guest, from a oneshot unit after multi-user.target).
 * It observes and reports facts, one JSON line per check on the second serial port; the host's
 * test asserts them. A check that throws reports {"check", "error"} and the next one runs. When it
 * returns, its unit powers the guest off.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { GUEST, type HubStandinState } from "./names.js";

const out = fs.openSync(GUEST.results, "w");

function report(check: string, facts: Record<string, unknown>): void {
  fs.writeSync(out, `${JSON.stringify({ check, ...facts })}\n`);
}

async function check(name: string, observe: () => Promise<Record<string, unknown>> | Record<string, unknown>): Promise<void> {
  try {
    report(name, await observe());
  } catch (error) {
    report(name, { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}

function run(file: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(file, args, { encoding: "utf8", env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", LANG: "C.UTF-8" } });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

function ok(file: string, args: readonly string[]): string {
  const result = run(file, args);
  if (result.status !== 0) throw new Error(`${file} ${args.join(" ")}: status ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` gives a value; TCG is slow, so the guards are generous (they only catch a hang). */
async function waitFor<T>(what: string, probe: () => T | undefined, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup). */
function cgroupOf(pid: number): string | undefined {
  return read(`/proc/${pid}/cgroup`)
    ?.split("\n")
    .find((line) => line.startsWith("0::"))
    ?.slice(3);
}

/** Alive and not a zombie (a zombie keeps its /proc entry). */
function alive(pid: number): boolean {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

function ownerOf(pid: number): string {
  return ok("stat", ["-c", "%U", `/proc/${pid}`]);
}

function hubState(): HubStandinState | undefined {
  const text = read(GUEST.hubState);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as HubStandinState;
  } catch {
    return undefined; // mid-write is impossible (rename), but be safe
  }
}

async function serverStatus(): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${GUEST.serverPort}/api/status`);
  return (await response.json()) as unknown;
}

function unitProperty(unit: string, property: string): string {
  return ok("systemctl", ["show", "--value", "-p", property, unit]);
}

await check("boot", () => {
  const mount = read("/proc/self/mounts")
    ?.split("\n")
    .map((line) => line.split(" "))
    .find((fields) => fields[1] === "/sys/fs/cgroup");
  return {
    uptimeSeconds: Number(read("/proc/uptime")?.split(" ")[0]),
    pid1: read("/proc/1/comm")?.trim(),
    cgroupFsType: mount?.[2],
    rootControllers: read("/sys/fs/cgroup/cgroup.controllers")?.trim().split(" "),
    systemdVersion: ok("systemctl", ["--version"]).split("\n")[0],
  };
});

const userUid = Number(ok("id", ["-u", GUEST.user]));
const userManager = `user@${userUid}.service`;

await check("delegate", async () => {
  // The lingering user's manager, started by logind at boot.
  await waitFor(`${userManager} to run`, () => (unitProperty(userManager, "ActiveState") === "active" ? true : undefined));
  const template = ok("systemctl", ["cat", "user@.service"]);
  return {
    templateDelegate: template.split("\n").filter((line) => line.startsWith("Delegate=")),
    instanceDelegateControllers: unitProperty(userManager, "DelegateControllers").split(" ").filter(Boolean),
  };
});

await check("verify", () => {
  const result = run("systemd-analyze", ["verify", `${GUEST.dir}/jupyterhub.service`]);
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
});

let firstServerPid: number | undefined;

await check("hub", async () => {
  ok("systemctl", ["start", GUEST.hubUnit]);
  const state = await waitFor("the hub stand-in to start its server", hubState);
  firstServerPid = state.serverPid;
  return {
    unit: {
      activeState: unitProperty(GUEST.hubUnit, "ActiveState"),
      user: unitProperty(GUEST.hubUnit, "User"),
      killMode: unitProperty(GUEST.hubUnit, "KillMode"),
      controlGroup: unitProperty(GUEST.hubUnit, "ControlGroup"),
    },
    hubPid: state.hubPid,
    mainPid: Number(unitProperty(GUEST.hubUnit, "MainPID")),
    hubCgroup: cgroupOf(state.hubPid),
    serverPid: state.serverPid,
    serverOwner: ownerOf(state.serverPid),
    serverCgroup: cgroupOf(state.serverPid),
    status: await serverStatus(),
  };
});

await check("restart", async () => {
  if (firstServerPid === undefined) throw new Error("no server from the hub check");
  const before = hubState();
  ok("systemctl", ["restart", GUEST.hubUnit]);
  const state = await waitFor("the restarted hub stand-in to report", () => {
    const now = hubState();
    return now && now.hubPid !== before?.hubPid ? now : undefined;
  });
  return {
    serverPid: firstServerPid,
    serverAlive: alive(firstServerPid),
    serverCgroup: cgroupOf(firstServerPid) ?? null,
    newHub: state,
    newHubCgroup: cgroupOf(state.hubPid),
    status: alive(firstServerPid) ? await serverStatus() : null,
  };
});

await check("scope", async () => {
  const runtime = `/run/user/${userUid}`;
  // The user's manager listens here; with XDG_RUNTIME_DIR set, systemd-run needs no session bus.
  await waitFor("the user's systemd manager socket", () => (fs.existsSync(`${runtime}/systemd/private`) ? true : undefined));
  const shell = 'cg=$(sed -n "s/^0:://p" /proc/self/cgroup); echo "$cg"; cat "/sys/fs/cgroup$cg/memory.max"';
  const result = run("sudo", ["-u", GUEST.user, "env", `XDG_RUNTIME_DIR=${runtime}`, "systemd-run", "--user", "--scope", "-p", "MemoryMax=64M", "/bin/sh", "-c", shell]);
  const [cgroup, memoryMax] = result.stdout.split("\n");
  return { status: result.status, cgroup, memoryMax, stderr: result.stderr };
});

report("done", { uptimeSeconds: Number(read("/proc/uptime")?.split(" ")[0]) });
