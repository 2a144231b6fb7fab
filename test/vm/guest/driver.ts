/**
 * The VM test driver (runs as root inside the guest, from a oneshot unit after multi-user.target).
 * It observes and reports facts, one JSON line per check on the second serial port; the host's
 * test asserts them. A check that throws reports {"check", "error"} and the next one runs. When it
 * returns, its unit powers the guest off.
 */
import fs from "node:fs";
import { directoryChecks } from "./directory.js";
import { jupyterHubChecks } from "./jupyterhub.js";
import { CAPS, GUEST, type HubStandinState } from "./names.js";
import { asHub } from "./hub-call.js";
import { alive, cgroupFacts, cgroupOf, checkAsAdmin, checksFor, contextOf, fetchErrorCode, fetchRetryingStale, ok, openReport, ownerOf, processesOf, read, run, selinuxDenials, sleep, uidOf, unitProperty, waitFor } from "./observe.js";
import { userCapFacts } from "./user-cap.js";

const report = openReport();
const check = checksFor(report);

function hubState(): HubStandinState | undefined {
  const text = read(GUEST.hubState);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as HubStandinState;
  } catch {
    return undefined; // mid-write is impossible (rename), but be safe
  }
}

/**
 * The server's status, once it listens: the spawn answer comes after the grace, and under TCG a
 * server's Node may need longer than that to listen (a hub waits for HTTP the same way).
 */
async function serverStatus(): Promise<unknown> {
  const url = `http://127.0.0.1:${GUEST.serverPort}/api/status`;
  const response = await waitFor("the server to listen", async () => {
    try {
      return await fetchRetryingStale(url);
    } catch (error) {
      if (fetchErrorCode(error) === "ECONNREFUSED") return undefined;
      throw error;
    }
  });
  return (await response.json()) as unknown;
}

function spawnAs(user: string, profile: string, cgroup?: Record<string, number>): number {
  const call = asHub(user, { action: "spawn", args: [], env: {}, profile, graceSeconds: 0, ...(cgroup === undefined ? {} : { cgroup }) });
  if (call.answer.ok !== true || typeof call.answer.pid !== "number") throw new Error(`spawn as ${user} failed: ${JSON.stringify(call.answer)}\n${call.stderr}`);
  return call.answer.pid;
}

/** poll and stop as the hub does them: a kill request with signal 0, or 15. */
function killAs(user: string, pid: number, signal: number): unknown {
  return asHub(user, { action: "kill", pid, signal }).answer;
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

// SELinux is on, permissive, for the whole boot (machine.ts): the mode and the driver's own domain.
await check("selinux-boot", () => ({
  enforce: read("/sys/fs/selinux/enforce")?.trim(),
  policy: /^SELINUXTYPE=(.*)$/m.exec(read("/etc/selinux/config") ?? "")?.[1],
  driver: contextOf("self"),
}));

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
    uid: String(userUid),
    hubPid: state.hubPid,
    mainPid: Number(unitProperty(GUEST.hubUnit, "MainPID")),
    hubCgroup: cgroupOf(state.hubPid),
    serverPid: state.serverPid,
    serverOwner: ownerOf(state.serverPid),
    serverCgroup: cgroupOf(state.serverPid),
    serverCaps: cgroupFacts(state.serverPid),
    status: await serverStatus(),
  };
});

await check("restart", async () => {
  if (firstServerPid === undefined) throw new Error("no server from the hub check");
  const before = hubState();
  // The harshest setting a site may have: every process in the hub's cgroup is killed on restart.
  fs.mkdirSync(`/etc/systemd/system/${GUEST.hubUnit}.d`, { recursive: true });
  fs.writeFileSync(`/etc/systemd/system/${GUEST.hubUnit}.d/kill-mode.conf`, "[Service]\nKillMode=control-group\n");
  ok("systemctl", ["daemon-reload"]);
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
    killMode: unitProperty(GUEST.hubUnit, "KillMode"),
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

const userUidText = String(userUid);
let newUserServer: number | undefined;

await check("caps", async () => {
  // A request below the policy's defaults wins; one above the max does not.
  const lowerPid = spawnAs(GUEST.user, "daemon", CAPS.lower.request);
  const higherPid = spawnAs(GUEST.user, "daemon", CAPS.higher.request);
  const lower = cgroupFacts(lowerPid);
  const higher = cgroupFacts(higherPid);
  const home = `/home/${GUEST.user}`;
  const daemonPid = Number(await waitFor("the daemon's pid file", () => read(`${home}/.tsss-daemon-${lowerPid}.pid`)?.trim() || undefined));
  const sessionOf = (pid: number) => read(`/proc/${pid}/stat`)?.split(") ")[1]?.split(" ")[3];
  // setsid's shell led a session of its own and is gone: the daemon is nobody's child but the reaper's.
  const daemon = { pid: daemonPid, cgroup: cgroupOf(daemonPid), ownSession: sessionOf(daemonPid) !== sessionOf(lowerPid) && sessionOf(daemonPid) !== undefined };
  // poll, stop, poll: as the hub sends them.
  const pollBefore = killAs(GUEST.user, lowerPid, 0);
  const stop = killAs(GUEST.user, lowerPid, 15);
  const scopeDir = `/sys/fs/cgroup${String(lower.cgroup)}`;
  await waitFor("the stopped server's scope to go", () => (!alive(lowerPid) && !alive(daemonPid) && !fs.existsSync(scopeDir) ? true : undefined));
  const pollAfter = killAs(GUEST.user, lowerPid, 0);
  killAs(GUEST.user, higherPid, 15);
  return {
    uid: userUidText,
    lower,
    higher,
    daemon,
    pollBefore,
    stop,
    pollAfter,
    after: { serverAlive: alive(lowerPid), daemonAlive: alive(daemonPid), scopeDirExists: fs.existsSync(scopeDir) },
  };
});

// Cgroup mode with SELinux enforcing for a moment, with the shipped module loaded (the site's step,
// admin guide section 8). The user's manager checks the reaper (initrc_t) against the policy itself
// and, before the module, refused the scope. Switching to enforcing empties the managers' caches of
// permissive answers (libselinux), so nothing allowed earlier in this boot carries over. Here, while
// the hub's rule still names GUEST.group: the AD checks later replace it with the AD group's.
await check("cgroup-enforcing", async () => {
  const moduleLoaded = run("semodule", ["-l"]).stdout.split("\n").includes("ts-sudospawner-cgroup");
  ok("setenforce", ["1"]);
  try {
    const enforce = read("/sys/fs/selinux/enforce")?.trim();
    const call = asHub(GUEST.user, { action: "spawn", args: [], env: {}, profile: "daemon", graceSeconds: 0 });
    const pid = typeof call.answer.pid === "number" ? call.answer.pid : undefined;
    if (pid === undefined) return { moduleLoaded, enforce, answer: call.answer, stderr: call.stderr };
    const caps = cgroupFacts(pid);
    const context = contextOf(pid);
    const stop = killAs(GUEST.user, pid, 15);
    const scopeDir = `/sys/fs/cgroup${String(caps.cgroup)}`;
    await waitFor("the enforcing server's scope to go", () => (!alive(pid) && !fs.existsSync(scopeDir) ? true : undefined));
    return { moduleLoaded, enforce, answer: call.answer, caps, context, stop, scopeGone: !fs.existsSync(scopeDir) };
  } finally {
    ok("setenforce", ["0"]);
  }
});

await check("linger", async () => {
  // Never logged in: no linger file, no manager; the polkit rule from `linger-rule --install` is in place.
  const uid = uidOf(GUEST.newUser);
  const before = { lingerFile: fs.existsSync(`/var/lib/systemd/linger/${GUEST.newUser}`), managerSocket: fs.existsSync(`/run/user/${uid}/systemd/private`) };
  const call = asHub(GUEST.newUser, { action: "spawn", args: [], env: {}, profile: "daemon", graceSeconds: 0 });
  const pid = typeof call.answer.pid === "number" ? call.answer.pid : undefined;
  if (pid !== undefined) newUserServer = pid;
  return {
    uid: String(uid),
    before,
    answer: call.answer,
    stderr: call.stderr,
    caps: pid === undefined ? null : cgroupFacts(pid),
    lingerFileAfter: fs.existsSync(`/var/lib/systemd/linger/${GUEST.newUser}`),
  };
});

await check("check", () => {
  // A lingering user, and one never logged in (no linger file) whose linger the group's rule allows.
  const neverLoggedIn = { lingerFile: fs.existsSync(`/var/lib/systemd/linger/${GUEST.checkUser}`), managerSocket: fs.existsSync(`/run/user/${uidOf(GUEST.checkUser)}/systemd/private`) };
  return { lingering: checkAsAdmin(GUEST.user, ["--spawn"]), neverLoggedIn: { before: neverLoggedIn, ...checkAsAdmin(GUEST.checkUser, ["--spawn"]) } };
});

await check("oom", async () => {
  const pid = spawnAs(GUEST.user, "hog");
  const { cgroup } = cgroupFacts(pid);
  const events = `/sys/fs/cgroup${String(cgroup)}/memory.events`;
  const oomKills = await waitFor("an OOM kill in the hog's scope", () => {
    const count = Number(/^oom_kill (\d+)$/m.exec(read(events) ?? "")?.[1] ?? 0);
    return count >= 1 ? count : undefined;
  }, 300_000);
  const hub = hubState();
  const facts = {
    cgroup,
    oomKills,
    serverAlive: alive(pid),
    scopeExists: fs.existsSync(`/sys/fs/cgroup${String(cgroup)}`),
    otherUserServerAlive: newUserServer !== undefined && alive(newUserServer),
    hubServerAlive: hub !== undefined && alive(hub.serverPid),
    // Nothing outside the scope saw an OOM kill (the user's other servers, the hub's).
    hubServerOomKills: hub === undefined ? null : read(`/sys/fs/cgroup${String(cgroupOf(hub.serverPid))}/memory.events`)?.match(/^oom_kill (\d+)$/m)?.[1],
  };
  killAs(GUEST.user, pid, 15);
  return facts;
});

await check("refused", async () => {
  // Without the group-wide rule, a never-logged-in user's manager cannot be had: refused, nothing runs.
  fs.rmSync(GUEST.lingerRule);
  await sleep(3000); // polkitd rereads rules.d on a change (inotify); give it the moment
  const uid = uidOf(GUEST.refusedUser);
  const call = asHub(GUEST.refusedUser, { action: "spawn", args: [], env: {}, profile: "daemon", graceSeconds: 0 });
  await sleep(1000);
  return {
    status: call.status,
    answer: call.answer,
    stderr: call.stderr,
    processes: processesOf(uidOf(GUEST.refusedUser)).map((p) => p.pid),
    lingerFile: fs.existsSync(`/var/lib/systemd/linger/${GUEST.refusedUser}`),
    managerSocket: fs.existsSync(`/run/user/${uid}/systemd/private`),
  };
});

await check("check-refused", () => checkAsAdmin(GUEST.refusedUser, ["--spawn"]));

if (newUserServer !== undefined) killAs(GUEST.newUser, newUserServer, 15);

await check("user-cap", userCapFacts);
await jupyterHubChecks(check);
await directoryChecks(check);

// check's SELinux row as the site has it (allow_execmem on), and with the boolean off for a moment:
// permissive, nothing stops Node meanwhile, and the policy answers as it would when enforcing. Node
// compiling in [offFrom, offTo] is denied execmem (logged, not stopped): the host leaves those out.
await check("selinux-row", () => {
  const row = () => (checkAsAdmin(GUEST.user).rows as { id: string }[] | undefined)?.find((entry) => entry.id === "selinux-execmem");
  const on = row();
  const offFrom = Date.now() / 1000;
  ok("setsebool", ["allow_execmem", "off"]);
  let off: unknown;
  try {
    off = row();
  } finally {
    ok("setsebool", ["allow_execmem", "on"]);
  }
  return { on, off, offFrom, offTo: Date.now() / 1000 };
});

// The labels of what the install commands wrote from this unit (linger-rule, sudoers --install).
await check("installed-labels", () => {
  const label = (file: string) => run("stat", ["-c", "%C", file]).stdout;
  const sudoers = fs.readdirSync("/etc/sudoers.d").filter((name) => !name.startsWith("."));
  return { lingerRule: label(GUEST.lingerRule), sudoers: Object.fromEntries(sudoers.map((name) => [name, label(`/etc/sudoers.d/${name}`)])) };
});

// Last, so that every check above has had its say: what SELinux denied during the whole boot.
await check("selinux-denials", () => ({ enforce: read("/sys/fs/selinux/enforce")?.trim(), denials: selinuxDenials() }));

report("done", { uptimeSeconds: Number(read("/proc/uptime")?.split(" ")[0]) });
// Whatever a check left open (a kernel WebSocket, a keep-alive socket) must not hold the power-off.
process.exit(0);
