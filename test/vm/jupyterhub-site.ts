/**
 * The VM's JupyterHub site, laid into the guest tree the way the admin guide builds one (host
 * side): JupyterHub 6 and JupyterLab in the venv /opt/jupyterhub (built here with Debian's
 * /usr/bin/python3, the guest's own Python, and moved to its guest path), the TsSudoSpawner
 * package installed offline from the installed tarball with the venv's pip,
 * configurable-http-proxy from npm, a jupyterhub_config.py of hub.md's shape with PAM logins, and
 * the shipped unit with only User= and Group= changed. Users get passwords for the login form.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { installNpmProxy, offlinePipEnv, runAsync, SYSTEM_PYTHON } from "../helpers/hub/venvs.js";
import { replaceSetting } from "./hub-unit.js";
import { GUEST, JHUB, type JupyterHubSecrets } from "./guest/names.js";
import type { Machine } from "./machine.js";

/** The shipped unit as the site installs it: its own hub user, everything else as shipped. */
export function jupyterHubUnit(shipped: string, options: { user: string; group: string }): string {
  return replaceSetting(replaceSetting(shipped, "User", options.user), "Group", options.group);
}

/**
 * A venv is made for one path: its scripts' `#!` lines name its python. Built in the tree at
 * ROOT/opt/jupyterhub, it is moved to /opt/jupyterhub by rewriting those lines (and pyvenv.cfg);
 * bin/python itself links to /usr/bin/python3, the same Debian 12 Python in the guest.
 */
function relocateVenv(hostDir: string, guestDir: string): number {
  let rewritten = 0;
  const bin = path.join(hostDir, "bin");
  for (const name of fs.readdirSync(bin)) {
    const file = path.join(bin, name);
    if (fs.lstatSync(file).isSymbolicLink() || !fs.statSync(file).isFile()) continue;
    const text = fs.readFileSync(file);
    if (text.subarray(0, 2).toString() !== "#!" || !text.includes(hostDir)) continue;
    fs.writeFileSync(file, text.toString("utf8").replaceAll(hostDir, guestDir));
    rewritten += 1;
  }
  const cfg = path.join(hostDir, "pyvenv.cfg");
  fs.writeFileSync(cfg, fs.readFileSync(cfg, "utf8").replaceAll(hostDir, guestDir));
  return rewritten;
}

function hubConfig(secrets: JupyterHubSecrets): string {
  const [first, second] = JHUB.users;
  return `# The VM's JupyterHub (test/vm/jupyterhub-site.ts): hub.md's configuration, PAM logins.
c = get_config()  # noqa
c.JupyterHub.bind_url = "${JHUB.base}"
c.JupyterHub.spawner_class = "ts-sudospawner"
c.TsSudoSpawner.mediator_path = "${GUEST.mediator}"
c.JupyterHub.cleanup_servers = False
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(${JSON.stringify(JHUB.users.map((user) => user.name))})
c.ConfigurableHTTPProxy.command = ["${JHUB.proxy}"]
c.JupyterHub.services = [{"name": "tsss-vm-admin", "api_token": ${JSON.stringify(secrets.adminToken)}, "admin": True}]
# qemu TCG is ten times slower than hardware: JupyterLab takes a while to listen.
c.Spawner.start_timeout = 900
c.Spawner.http_timeout = 900
c.Spawner.mem_limit = "${first.memLimit}"
c.Spawner.cpu_limit = ${first.cpuLimit}

def per_user_limits(spawner):
    if spawner.user.name == "${second.name}":
        spawner.mem_limit = "${second.memLimit}"
        spawner.cpu_limit = ${second.cpuLimit}

c.Spawner.pre_spawn_hook = per_user_limits
`;
}

/** Everything of the site in the tree; the driver starts it (systemctl start) after the first part. */
export async function layJupyterHubSite(machine: Machine, shippedUnit: string, log: (line: string) => void): Promise<void> {
  const venv = machine.hostPath(JHUB.venv);
  log(`building JupyterHub 6 + JupyterLab into the guest's ${JHUB.venv}`);
  await Promise.all([
    (async () => {
      await runAsync(SYSTEM_PYTHON, ["-m", "venv", venv]);
      const python = path.join(venv, "bin/python");
      await runAsync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "jupyterhub==6.*", "jupyterlab"]);
      // As admin guide section 2 says: the spawner package from the installed tarball, no index.
      const spawnerPackage = machine.hostPath(`${GUEST.packageRoot}/src/jupyterhub`);
      await runAsync(python, ["-m", "pip", "install", "--no-index", "--disable-pip-version-check", spawnerPackage], { env: offlinePipEnv() });
    })(),
    installNpmProxy(machine.hostPath(JHUB.proxyPrefix)),
  ]);
  const rewritten = relocateVenv(venv, JHUB.venv);
  log(`venv moved to ${JHUB.venv} (${rewritten} scripts rewritten)`);

  const secrets: JupyterHubSecrets = {
    adminToken: randomBytes(24).toString("hex"),
    passwords: Object.fromEntries(JHUB.users.map((user) => [user.name, randomBytes(12).toString("hex")])),
  };
  machine.addUsers(JHUB.users.map((user) => ({ name: user.name, groups: [GUEST.group] })), []);
  machine.chrootInput(["chpasswd"], Object.entries(secrets.passwords).map(([name, password]) => `${name}:${password}`).join("\n") + "\n", "chpasswd");
  machine.write(JHUB.secrets, JSON.stringify(secrets), 0o600);
  machine.write(JHUB.tokenFile, `${secrets.adminToken}\n`, 0o600);
  machine.write(JHUB.config, hubConfig(secrets), 0o640);
  machine.chroot(["chgrp", GUEST.hub, JHUB.config], "chgrp the hub config");
  machine.write(`/etc/systemd/system/${JHUB.unit}`, jupyterHubUnit(shippedUnit, { user: GUEST.hub, group: GUEST.hub }));
}
