/** The names the host side and the guest scripts share: one place, so both sides agree. */
import { cgroupSelinuxModule } from "../../../src/mediator/cgroup/scope.js";

/** Where `npm install -g --prefix /opt/ts-sudospawner` puts the package in the guest. */
const PACKAGE_ROOT = "/opt/ts-sudospawner/lib/node_modules/ts-sudospawner";

export const GUEST = {
  hub: "tsss-hub",
  group: "tsss-jupyter",
  user: "tsss-alice",
  /** Never logged in, no linger file: their manager is started at the first spawn (the polkit rule). */
  newUser: "tsss-bob",
  /** Never logged in; `check --spawn` runs for them while the polkit rule is in place. */
  checkUser: "tsss-carol",
  /** Never logged in either; spawned after the polkit rule is removed: refused. */
  refusedUser: "tsss-dave",
  policy: "/etc/ts-sudospawner/config.json",
  lingerRule: "/etc/polkit-1/rules.d/60-ts-sudospawner-linger.rules",
  /**
   * A site that closed self-linger to everyone (systemd's own default with polkitd is "yes" for
   * all users): sorted after ours, so only the group's rule opens it again.
   */
  siteNoLingerRule: "/etc/polkit-1/rules.d/70-site-no-linger.rules",
  /** Launch profiles of the policy (guest scripts): a server with a double-forked daemon, and one whose child eats memory. */
  daemonServer: "/opt/tsss-vm/daemon-server.sh",
  hogServer: "/opt/tsss-vm/hog-server.sh",
  prefix: "/opt/ts-sudospawner",
  mediator: "/opt/ts-sudospawner/bin/ts-sudospawner",
  packageRoot: PACKAGE_ROOT,
  /** The installed package's built client (dist/index.js), as a site's own hub would load it. */
  client: `${PACKAGE_ROOT}/dist/index.js`,
  /** The shipped SELinux module for cgroup mode (admin guide, section 8), loaded as the site's step. */
  cgroupPolicyModule: cgroupSelinuxModule(PACKAGE_ROOT),
  /** Where the harness puts the guest scripts and the unit files it checks. */
  dir: "/opt/tsss-vm",
  hubUnit: "tsss-hub.service",
  /** The shipped unit's WorkingDirectory=, kept as it is; the stand-in keeps its state there. */
  hubHome: "/var/lib/jupyterhub",
  hubState: "/var/lib/jupyterhub/hub-standin.json",
  serverPort: 8890,
  /** The second serial port: one JSON line per check (ttyS0 carries the kernel's and systemd's messages). */
  results: "/dev/ttyS1",
} as const;

/** The policy's cgroup section in the VM, and the numbers cgroupfs must show for it. */
export const CAPS = {
  section: { default: { MemoryMax: "256M", CPUQuota: "50%", TasksMax: 64 }, max: { MemoryMax: "512M", CPUQuota: "100%", TasksMax: 128 } },
  defaults: { memoryMax: String(256 * 1024 * 1024), cpuMax: "50000 100000", pidsMax: "64" },
  /** A request below the defaults (bytes, percent, tasks) and what cgroupfs shows for it. */
  lower: { request: { MemoryMax: 128 * 1024 * 1024, CPUQuota: 25, TasksMax: 32 }, memoryMax: String(128 * 1024 * 1024), cpuMax: "25000 100000", pidsMax: "32" },
  /** A request above the max: the defaults apply. */
  higher: { request: { MemoryMax: 1024 * 1024 * 1024, CPUQuota: 400, TasksMax: 1000 } },
} as const;

/** What the hub stand-in writes after each start of its unit. */
export interface HubStandinState {
  hubPid: number;
  serverPid: number;
  /** True when this start found the server of an earlier run still alive (poll() gave null). */
  found: boolean;
}

/**
 * The bench boot (test/vm/bench/host.ts, guest/bench.ts): its own users and files. The policy file
 * (GUEST.policy) is switched per repetition between the two texts the host lays down.
 */
export const BENCH = {
  /** Never lingering: their first spawn includes starting their systemd manager. */
  firstSpawnUsers: ["tsss-fresh1", "tsss-fresh2", "tsss-fresh3"],
  /** A bench-only rule for the floor: the hub may run /usr/bin/true as the group's users. */
  floorSudoers: "/etc/sudoers.d/tsss-bench-floor",
  policyWithCgroup: "/opt/tsss-vm/policy-cgroup.json",
  policyWithout: "/opt/tsss-vm/policy-plain.json",
  /** Repetitions and warm-up rounds, from the host ({"reps": N, "warmup": N}). */
  settings: "/opt/tsss-vm/bench-settings.json",
  script: "/opt/tsss-vm/bench.mjs",
} as const;

/** The figures the guest bench reports (one line each: median, p90 and the samples, in ms). */
export const BENCH_FIGURES = ["spawnWithPlacement", "spawnWithoutPlacement", "killWithPlacement", "killWithoutPlacement", "sudoTrue", "node"] as const;
export type BenchFigure = (typeof BENCH_FIGURES)[number];
/** Reported after the others, as a figure or as its error: a failure here loses none of them. */
export const BENCH_FIRST_SPAWN = "firstSpawnNeverLingering";

export interface BenchSettings {
  reps: number;
  warmup: number;
}

/**
 * The JupyterHub site of the VM (issue 17's end-to-end part): JupyterHub 6 and JupyterLab in the
 * admin guide's venv, the shipped unit with only User=/Group= changed, PAM logins, two users who
 * never logged in and whose spawns carry mem_limit/cpu_limit.
 */
export const JHUB = {
  venv: "/opt/jupyterhub",
  proxy: "/opt/configurable-http-proxy/node_modules/.bin/configurable-http-proxy",
  proxyPrefix: "/opt/configurable-http-proxy",
  config: "/etc/jupyterhub/jupyterhub_config.py",
  unit: "jupyterhub.service",
  /** Root-only: the admin service's token and the users' passwords, for the driver and `ps`. */
  secrets: "/opt/tsss-vm/jupyterhub-secrets.json",
  tokenFile: "/opt/tsss-vm/jupyterhub-token",
  base: "http://127.0.0.1:8000",
  hubApi: "http://127.0.0.1:8081/hub/api",
  /** c.Spawner.mem_limit / cpu_limit for the first user; the second gets its own in pre_spawn_hook. */
  // CPU shares big enough for JupyterLab to start in TCG: at 25% of an emulated CPU a server took
  // up to ten minutes to listen under CI load, past the hub's start_timeout.
  users: [
    { name: "tsss-erin", memLimit: "400M", cpuLimit: 1.5, memoryMax: String(400 * 1024 ** 2), cpuMax: "150000 100000" },
    { name: "tsss-frank", memLimit: "480M", cpuLimit: 0.75, memoryMax: String(480 * 1024 ** 2), cpuMax: "75000 100000" },
  ],
  /** The site's caps for this part: roomy defaults that both users' limits lower. */
  cgroup: { default: { MemoryMax: "768M", CPUQuota: "200%", TasksMax: 256 }, max: { MemoryMax: "1G", CPUQuota: "200%", TasksMax: 512 } },
  tasksMax: "256",
} as const;

export interface JupyterHubSecrets {
  adminToken: string;
  passwords: Record<string, string>;
}

/**
 * The directory-service site of the VM (issue 18): a Samba AD domain controller in a network
 * namespace of the guest, the guest joined to its domain with adcli, names from sssd as the guide's
 * sssd.conf spells them (fully qualified, lower case), homes made by pam_mkhomedir at the first
 * spawn. The DC's users: alice and bob, one with a dot, one with a capital; all in a group whose
 * name has a space.
 */
export const AD = {
  realm: "CORP.EXAMPLE.COM",
  domain: "corp.example.com",
  netbios: "CORP",
  dcHost: "dc1",
  /** The provisioned DC's files (smb.conf, sam.ldb, sysvol), provisioned on the host with the guest's samba-tool. */
  dcDir: "/var/lib/tsss-dc",
  netns: "tsss-dc",
  dcIp: "10.231.7.1",
  memberIp: "10.231.7.2",
  group: "Jupyter Users",
  /** The group as sssd names it, which the sudoers rule must spell. */
  groupAsSssd: "jupyter users@corp.example.com",
  /** sAMAccountName on the DC, and the name sssd gives (use_fully_qualified_names, case-insensitive: lower case). */
  users: [
    { sam: "alice", name: "alice@corp.example.com" },
    { sam: "bob", name: "bob@corp.example.com" },
    { sam: "john.doe", name: "john.doe@corp.example.com" },
    { sam: "Carol", name: "carol@corp.example.com" },
  ],
  /** Root-only: the Administrator's and the users' passwords. */
  secrets: "/opt/tsss-vm/ad-secrets.json",
  /** A server that writes its uid into its home, which pam_mkhomedir must have made. */
  server: "/opt/tsss-vm/ad-server.sh",
  /** Debian's socket units of sssd's responders, which conflict with sssd.conf's `services` line. */
  sssdSockets: ["sssd-nss.socket", "sssd-pam.socket", "sssd-pam-priv.socket", "sssd-pac.socket", "sssd-autofs.socket", "sssd-ssh.socket", "sssd-sudo.socket"],
  /** The sudoers file of the local group's rule, which the AD site replaces with the AD group's. */
  localRule: "/etc/sudoers.d/ts-sudospawner",
} as const;

export interface AdSecrets {
  adminPassword: string;
  passwords: Record<string, string>;
}
