/**
 * The VM's JupyterHub part (inside the guest, as root, after the driver's first part): JupyterHub 6
 * under the shipped unit, started by systemctl, as an admin runs it. Two users who never logged in
 * log in through the login form with their passwords (PAM) and start their servers as a browser
 * does; each server and its kernel runs in a scope of the user's manager with the user's
 * mem_limit/cpu_limit; a memory hog in one kernel is OOM-killed while the other user works on;
 * `ps` sees both servers as known; `systemctl restart jupyterhub` keeps them; stop leaves no
 * process and no cgroup; `check` passes.
 */
import fs from "node:fs";
import { executeInKernel } from "../../helpers/hub/kernel.js";
import { Browser, hubAnswers, hubApi, jupyterHubSecrets as secrets, serverGet, serverGone, serverOf, serverReady, startKernel, userToken } from "./hub-web.js";
import { GUEST, JHUB } from "./names.js";
import { alive, cgroupFacts, cgroupOf, checkAsAdmin, contextOf, ok, read, run, sleep, unitProperty, waitFor, type Check } from "./observe.js";

type Facts = Record<string, unknown>;

function oomKills(cgroup: string): number {
  return Number(/^oom_kill (\d+)$/m.exec(read(`/sys/fs/cgroup${cgroup}/memory.events`) ?? "")?.[1] ?? NaN);
}

/** The processes in a cgroup (cgroup.procs), none when it is gone. */
function procsIn(cgroup: string): number[] {
  return (read(`/sys/fs/cgroup${cgroup}/cgroup.procs`) ?? "").split("\n").filter(Boolean).map(Number);
}

/** The user's processes that are not their systemd manager (user@UID.service/init.scope). */
function processesBesidesManager(user: string): string[] {
  const uid = ok("id", ["-u", user]);
  const pids = run("pgrep", ["-u", user]).stdout.split("\n").filter(Boolean).map(Number);
  return pids.filter((pid) => alive(pid) && !cgroupOf(pid)?.endsWith(`/user@${uid}.service/init.scope`)).map((pid) => `${pid} ${read(`/proc/${pid}/cmdline`)?.replaceAll("\0", " ").trim()}`);
}

interface Session {
  pid: number;
  cgroup: string;
  token: string;
  /** The kernel's channels (WebSocket URL). */
  channels: string;
}

export async function jupyterHubChecks(check: Check): Promise<void> {
  const [first, second] = JHUB.users;
  const sessions = new Map<string, Session>();

  await check("jupyterhub-start", async () => {
    // As an admin sets it up: the venv's server next to the mediator (the sudoers tool prints this
    // ln -s), the group's linger rule, the site's caps; then the shipped unit, by systemctl.
    ok("ln", ["-sfn", `${JHUB.venv}/bin/jupyterhub-singleuser`, `${GUEST.prefix}/bin/jupyterhub-singleuser`]);
    ok(GUEST.mediator, ["linger-rule", "--group", GUEST.group, "--install"]);
    fs.writeFileSync(GUEST.policy, JSON.stringify({ cgroup: JHUB.cgroup }));
    run("systemctl", ["stop", GUEST.hubUnit]); // the first part's hub stand-in
    const started = Date.now();
    ok("systemctl", ["start", JHUB.unit]);
    await waitFor("JupyterHub to answer", hubAnswers, 300_000);
    return {
      seconds: (Date.now() - started) / 1000,
      unit: {
        activeState: unitProperty(JHUB.unit, "ActiveState"),
        user: unitProperty(JHUB.unit, "User"),
        killMode: unitProperty(JHUB.unit, "KillMode"),
        execStart: unitProperty(JHUB.unit, "ExecStart"),
      },
      hubCgroup: cgroupOf(Number(unitProperty(JHUB.unit, "MainPID"))),
    };
  });

  await check("jupyterhub-login", async () => {
    const wrong = await new Browser().logIn(first.name, "not-the-password");
    const logins: Facts = {};
    for (const user of JHUB.users) {
      const browser = new Browser();
      const login = await browser.logIn(user.name, secrets.passwords[user.name] ?? "");
      // What the browser does next: the home page's "Start My Server" is GET /hub/spawn.
      const spawn = await browser.open("/hub/spawn");
      logins[user.name] = { ...login, spawnStatus: spawn.status, spawnLocation: spawn.location ?? null };
    }
    return { wrong, logins };
  });

  await check("jupyterhub-servers", async () => {
    const servers: Facts = {};
    for (const user of JHUB.users) {
      const started = Date.now();
      const model = await serverReady(user.name, 900_000);
      const pid = model.state?.pid;
      if (typeof pid !== "number") throw new Error(`the hub's state for ${user.name} has no pid: ${JSON.stringify(model)}`);
      const caps = cgroupFacts(pid);
      const token = await userToken(user.name);
      const kernel = await startKernel(user.name, token);
      // The kernel's own view: its uid and its cgroup.
      const seen = (await executeInKernel(kernel.channels, token, "import os; print(os.getuid()); print(open('/proc/self/cgroup').read().strip())", 300_000)).trim().split("\n");
      sessions.set(user.name, { pid, cgroup: String(caps.cgroup), token, channels: kernel.channels });
      servers[user.name] = { secondsToReady: (Date.now() - started) / 1000, pid, owner: ok("stat", ["-c", "%U", `/proc/${pid}`]), uid: ok("id", ["-u", user.name]), caps, kernelStatus: kernel.status, kernelUid: seen[0], kernelCgroup: seen[1]?.replace(/^0::/, "") };
    }
    // Another user's token on this user's server: refused.
    const crossed = await serverGet(first.name, sessions.get(second.name)?.token ?? "", "/api/status");
    return { servers, crossed };
  });

  await check("jupyterhub-oom", async () => {
    const hog = sessions.get(first.name);
    const other = sessions.get(second.name);
    if (!hog || !other) throw new Error("no sessions from jupyterhub-servers");
    // Bytes that are touched (not calloc'd zero pages), 16 MiB at a time, until the cgroup says no.
    const hogging = executeInKernel(hog.channels, hog.token, "a = []\nwhile True: a.append(b'\\x01' * (16 << 20))", 600_000).then(
      (output) => `finished: ${output}`,
      (error: unknown) => `ended: ${error instanceof Error ? error.message : String(error)}`,
    );
    const kills = await waitFor("an OOM kill in the hog's scope", () => (oomKills(hog.cgroup) >= 1 ? oomKills(hog.cgroup) : undefined), 600_000);
    const hogEnd = await Promise.race([hogging, sleep(300_000).then(() => "still waiting after 300 s")]);
    const otherOutput = (await executeInKernel(other.channels, other.token, "print(6 * 7)", 300_000)).trim();
    return {
      oomKills: kills,
      hogEnd,
      serverAlive: alive(hog.pid),
      serverStatus: await serverGet(first.name, hog.token, "/api/status"),
      otherServerAlive: alive(other.pid),
      otherOutput,
      otherOomKills: oomKills(other.cgroup),
    };
  });

  await check("jupyterhub-ps", () => {
    const result = run(GUEST.mediator, ["ps", "--json", "--hub-url", JHUB.hubApi, "--token-file", JHUB.tokenFile]);
    return { status: result.status, stderr: result.stderr, listing: JSON.parse(result.stdout) as unknown, pids: Object.fromEntries([...sessions].map(([user, session]) => [user, session.pid])) };
  });

  await check("jupyterhub-restart", async () => {
    const before = Number(unitProperty(JHUB.unit, "MainPID"));
    ok("systemctl", ["restart", JHUB.unit]);
    await waitFor("the restarted JupyterHub to answer", async () => (Number(unitProperty(JHUB.unit, "MainPID")) !== before ? hubAnswers() : undefined), 300_000);
    const after: Facts = {};
    for (const [user, session] of sessions) {
      const server = await serverOf(user);
      after[user] = { alive: alive(session.pid), ready: server?.ready, pid: server?.state?.pid, status: await serverGet(user, session.token, "/api/status") };
    }
    return { hubPidChanged: Number(unitProperty(JHUB.unit, "MainPID")) !== before, after };
  });

  // The domains SELinux runs them in: the hub under the shipped unit, and each server it started through sudo.
  await check("jupyterhub-contexts", () => ({
    hub: contextOf(Number(unitProperty(JHUB.unit, "MainPID"))),
    servers: Object.fromEntries([...sessions].map(([user, session]) => [user, contextOf(session.pid)])),
  }));

  await check("jupyterhub-check", () => checkAsAdmin(second.name));

  await check("jupyterhub-stop", async () => {
    const stops: Facts = {};
    for (const user of sessions.keys()) {
      const response = await hubApi(`/users/${user}/server`, { method: "DELETE" });
      stops[user] = response.status;
    }
    const after: Facts = {};
    for (const [user, session] of sessions) {
      await serverGone(user, 300_000);
      await waitFor(`${user}'s scope to go`, () => (!fs.existsSync(`/sys/fs/cgroup${session.cgroup}`) ? true : undefined), 120_000);
      after[user] = { serverAlive: alive(session.pid), scopeExists: fs.existsSync(`/sys/fs/cgroup${session.cgroup}`), procsInScope: procsIn(session.cgroup), processes: processesBesidesManager(user) };
    }
    run("systemctl", ["stop", JHUB.unit]);
    return { stops, after };
  });
}
