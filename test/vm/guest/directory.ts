/**
 * The VM's directory-service part (inside the guest, as root, after the JupyterHub part): the
 * Samba AD DC provisioned on the host starts in a network namespace of its own, the guest joins its
 * domain with adcli and resolves its users and group through sssd, the sudoers rule names the AD
 * group as sssd spells it, and each AD user's server starts through sudo and the mediator with the
 * uid sssd gave, in a home pam_mkhomedir made at that first spawn. `check` runs for an AD user with
 * the name as it is.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { asHub } from "./hub-call.js";
import { AD, GUEST, type AdSecrets } from "./names.js";
import { alive, ok, read, run, waitFor, type Check } from "./observe.js";

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
    const join = spawnSync(
      "adcli",
      ["join", `--domain=${AD.domain}`, `--domain-controller=${AD.dcHost}.${AD.domain}`, `--host-fqdn=tsss-vm.${AD.domain}`, "-U", "Administrator", "--stdin-password", "-v"],
      { input: `${secrets.adminPassword}\n`, encoding: "utf8", env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" } },
    );
    if (join.status !== 0) throw new Error(`adcli join failed (${join.status}):\n${join.stdout}${join.stderr}`);
    ok("pam-auth-update", ["--enable", "sss"]);
    ok("systemctl", ["start", "sssd.service"]);
    const [first] = AD.users;
    await waitFor(`sssd to resolve ${first.name}`, () => getent("passwd", first.name), 300_000);
    return {
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
    return { servers };
  });

  await check("ad-check", () => {
    const [first] = AD.users;
    const result = run(GUEST.mediator, ["check", "--hub-user", GUEST.hub, "--user", first.name, "--json"]);
    try {
      return { status: result.status, rows: (JSON.parse(result.stdout) as { rows: unknown[] }).rows };
    } catch {
      return { status: result.status, unparsed: result.stdout, stderr: result.stderr };
    }
  });

  run("systemctl", ["stop", "tsss-dc.service", "sssd.service"]);
}
