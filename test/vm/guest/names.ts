/** The names the host side and the guest scripts share: one place, so both sides agree. */
export const GUEST = {
  hub: "tsss-hub",
  group: "tsss-jupyter",
  user: "tsss-alice",
  prefix: "/opt/ts-sudospawner",
  mediator: "/opt/ts-sudospawner/bin/ts-sudospawner",
  /** The installed package's built client (dist/index.js), as a site's own hub would load it. */
  client: "/opt/ts-sudospawner/lib/node_modules/ts-sudospawner/dist/index.js",
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

/** What the hub stand-in writes after each start of its unit. */
export interface HubStandinState {
  hubPid: number;
  serverPid: number;
  /** True when this start found the server of an earlier run still alive (poll() gave null). */
  found: boolean;
}
