/**
 * The VM's directory-service part (inside the guest, as root, after the JupyterHub part): the
 * Samba AD DC provisioned on the host starts in a network namespace of its own, the guest joins its
 * domain with adcli and resolves its users and group through sssd, the sudoers rule names the AD
 * group as sssd spells it, and each AD user's server starts through sudo and the mediator with the
 * uid sssd gave, in a home pam_mkhomedir made at that first spawn (and not at root's own sudo
 * before it). `check` runs for an AD user with
 * the name as it is. Last, the site's JupyterHub (PAMAuthenticator, unprivileged, the shipped unit)
 * logs an AD user in with the AD password (pam_sss) and starts their JupyterLab and a kernel.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { executeInKernel } from "../../helpers/hub/kernel.js";
import { asHub } from "./hub-call.js";
import { Browser, hubAnswers, hubApi, serverGet, serverGone, serverReady, startKernel, userToken } from "./hub-web.js";
import { AD, GUEST, JHUB, type AdSecrets } from "./names.js";
import { alive, checkAsAdmin, ok, read, run, sleep, waitFor, type Check } from "./observe.js";

const secrets = JSON.parse(fs.readFileSync(AD.secrets, "utf8")) as AdSecrets;

function listening(host: string, port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (value: true | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2000, () => done(undefined));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(undefined));
  });
}

/** `getent DB KEY` split into its fields, or undefined when it finds nothing. */
function getent(db: "passwd" | "group", key: string): string[] | undefined {
  const result = run("getent", [db, key]);
  return result.status === 0 ? result.stdout.split(":") : undefined;
}

const DC_FQDN = `${AD.dcHost}.${AD.domain}`;
const TOOL_ENV = { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" };

/**
 * Waits until the DC's KDC gives the Administrator a ticket for the DC's own LDAP service, which is
 * what `adcli join` asks for first. A join started as soon as the DC's ports answered failed once
 * under load with "Server not found in Kerberos database".
 * Returns the seconds it took.
 */
async function kdcReady(): Promise<number> {
  const started = Date.now();
  const cache = "/run/tsss-kdc-probe.ccache";
  const env = { ...TOOL_ENV, KRB5CCNAME: `FILE:${cache}` };
  let last = "";
  const probe = async (): Promise<true | undefined> => {
    const kinit = spawnSync("kinit", [`Administrator@${AD.realm}`], { input: `${secrets.adminPassword}\n`, encoding: "utf8", env });
    const kvno = kinit.status === 0 ? spawnSync("kvno", [`ldap/${DC_FQDN}@${AD.realm}`], { encoding: "utf8", env }) : undefined;
    fs.rmSync(cache, { force: true });
    if (kvno?.status === 0) return true;
    last = `${kinit.stderr}${kvno?.stderr ?? ""}`.trim();
    await sleep(2000); // each probe is two processes, slow in TCG
    return undefined;
  };
  try {
    await waitFor("the DC's KDC to give a ticket for its LDAP service", probe, 300_000);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the last answer: ${last}`);
  }
  return (Date.now() - started) / 1000;
}

function homeOf(name: string): string {
  return `/home/${name}`;
}

export async function directoryChecks(check: Check): Promise<void> {
  await check("ad-dc", async () => {
    const started = Date.now();
    ok("ip", ["netns", "add", AD.netns]);
    ok("ip", ["link", "add", "tsss-dc0", "type", "veth", "peer", "name", "tsss-dc1"]);
    ok("ip", ["link", "set", "tsss-dc1", "netns", AD.netns]);
    ok("ip", ["addr", "add", `${AD.memberIp}/30`, "dev", "tsss-dc0"]);
    ok("ip", ["link", "set", "tsss-dc0", "up"]);
    ok("ip", ["-n", AD.netns, "addr", "add", `${AD.dcIp}/30`, "dev", "tsss-dc1"]);
    ok("ip", ["-n", AD.netns, "link", "set", "tsss-dc1", "up"]);
    ok("ip", ["-n", AD.netns, "link", "set", "lo", "up"]);
    // A transient service of the guest's systemd: its log is in the journal, and stop ends it all.
    ok("systemd-run", ["--unit=tsss-dc", "--property=Type=simple", "ip", "netns", "exec", AD.netns, "samba", "-i", "-s", `${AD.dcDir}/etc/smb.conf`]);
    const ports: Record<string, number> = {};
    for (const port of [53, 88, 389, 445]) {
      await waitFor(`the DC to listen on ${port}`, () => listening(AD.dcIp, port), 600_000);
      ports[port] = (Date.now() - started) / 1000;
    }
    return { secondsToListen: ports };
  });

  await check("ad-join", async () => {
    const homesBefore = Object.fromEntries(AD.users.map((user) => [user.name, fs.existsSync(homeOf(user.name))]));
    const kdcSeconds = await kdcReady();
    // Each failed attempt is reported with its output (an admin would run the join again too).
    const failedJoins: string[] = [];
    for (;;) {
      const join = spawnSync(
        "adcli",
        ["join", `--domain=${AD.domain}`, `--domain-controller=${DC_FQDN}`, `--host-fqdn=tsss-vm.${AD.domain}`, "-U", "Administrator", "--stdin-password", "-v"],
        { input: `${secrets.adminPassword}\n`, encoding: "utf8", env: TOOL_ENV },
      );
      if (join.status === 0) break;
      failedJoins.push(`exit ${join.status}: ${join.stdout}${join.stderr}`);
      if (failedJoins.length === 3) throw new Error(`adcli join failed three times:\n${failedJoins.join("\n")}`);
      await sleep(15_000);
    }
    ok("pam-auth-update", ["--enable", "sss"]);
    ok("systemctl", ["start", "sssd.service"]);
    const [first] = AD.users;
    await waitFor(`sssd to resolve ${first.name}`, () => getent("passwd", first.name), 300_000);
    return {
      kdcSeconds,
      failedJoins,
      keytab: fs.existsSync("/etc/krb5.keytab"),
      passwd: Object.fromEntries(AD.users.map((user) => [user.name, getent("passwd", user.name)])),
      // The capital as the DC spells it: sssd answers with its lower-case name.
      bySam: getent("passwd", `Carol@${AD.domain}`),
      group: getent("group", AD.groupAsSssd),
      homesBefore,
    };
  });

  await check("ad-sudoers", () => {
    // The AD site's rule replaces the local group's: the hub serves the AD group as sssd names it.
    fs.rmSync(AD.localRule, { force: true });
    const install = run(GUEST.mediator, ["sudoers", "--hub-user", GUEST.hub, "--group", AD.groupAsSssd, "--install"]);
    const visudo = run("visudo", ["-c"]);
    return { status: install.status, stderr: install.stderr, rule: read(AD.localRule), visudo: visudo.status, hubMayRun: run("sudo", ["-l", "-U", GUEST.hub]).stdout };
  });

  await check("ad-spawn", async () => {
    // No cgroup section for this site: its users are not the linger rule's group.
    fs.writeFileSync(GUEST.policy, JSON.stringify({ profiles: { ad: { executable: AD.server } } }));
    // Before any spawn: root's own sudo makes no home (the PAM guard lets only the hub's through).
    const [first] = AD.users;
    const rootSudo = run("sudo", ["-n", "-u", first.name, "/bin/true"]);
    const beforeSpawn = { rootSudo: rootSudo.status, homeAfterRootSudo: fs.existsSync(homeOf(first.name)) };
    const servers: Record<string, unknown> = {};
    for (const user of AD.users) {
      const call = asHub(user.name, { action: "spawn", args: [], env: {}, profile: "ad", graceSeconds: 0 });
      const pid = call.answer.pid;
      if (call.answer.ok !== true || typeof pid !== "number") {
        servers[user.name] = { answer: call.answer, stderr: call.stderr };
        continue;
      }
      const home = homeOf(user.name);
      const written = await waitFor(`${user.name}'s server to write its uid`, () => read(`${home}/.tsss-ad-uid`)?.trim() || undefined, 120_000);
      const serverUid = /^Uid:\t(\d+)/m.exec(read(`/proc/${pid}/status`) ?? "")?.[1];
      const homeStat = ok("stat", ["-c", "%U %a", home]);
      const stop = asHub(user.name, { action: "kill", pid, signal: 15 }).answer;
      await waitFor(`${user.name}'s server to stop`, () => (alive(pid) ? undefined : true), 60_000);
      servers[user.name] = { answer: call.answer, serverUid, written, homeStat, stop };
    }
    return { beforeSpawn, servers };
  });

  await check("ad-check", () => checkAsAdmin(AD.users[0].name));

  await check("ad-login", async () => {
    const [first, second] = AD.users;
    // As the site's admin does once the host is joined: the AD users allowed by the names sssd
    // gives (not before: at each start PAMAuthenticator looks every allowed user up on the system).
    fs.appendFileSync(JHUB.config, `\n# The directory-service site: AD users, by the names sssd gives them.\nc.Authenticator.allowed_users.update(${JSON.stringify([first.name, second.name])})\n`);
    fs.writeFileSync(GUEST.policy, "{}");
    ok("systemctl", ["start", JHUB.unit]);
    await waitFor("JupyterHub to answer", hubAnswers, 300_000);
    const wrong = await new Browser().logIn(first.name, "not-the-password");
    const browser = new Browser();
    const login = await browser.logIn(first.name, secrets.passwords[first.sam] ?? "");
    const spawn = await browser.open("/hub/spawn");
    const started = Date.now();
    const model = await serverReady(first.name, 900_000);
    const pid = model.state?.pid;
    if (typeof pid !== "number") throw new Error(`the hub's state for ${first.name} has no pid: ${JSON.stringify(model)}`);
    const token = await userToken(first.name);
    const kernel = await startKernel(first.name, token);
    const kernelUid = (await executeInKernel(kernel.channels, token, "import os; print(os.getuid())", 300_000)).trim();
    // The second user logs in too (no server): their own token on the first user's server.
    const secondLogin = await new Browser().logIn(second.name, secrets.passwords[second.sam] ?? "");
    const crossed = await serverGet(first.name, await userToken(second.name), "/api/status");
    const own = await serverGet(first.name, token, "/api/status");
    const serverUid = /^Uid:\t(\d+)/m.exec(read(`/proc/${pid}/status`) ?? "")?.[1];
    const stop = await hubApi(`/users/${first.name}/server`, { method: "DELETE" });
    await serverGone(first.name, 300_000);
    run("systemctl", ["stop", JHUB.unit]);
    return {
      wrong,
      login: { ...login, spawnStatus: spawn.status },
      secondsToReady: (Date.now() - started) / 1000,
      serverUid,
      kernelStatus: kernel.status,
      kernelUid,
      secondLogin,
      crossed,
      own,
      stopStatus: stop.status,
      serverAliveAfterStop: alive(pid),
    };
  });

  run("systemctl", ["stop", "tsss-dc.service", "sssd.service"]);
}
