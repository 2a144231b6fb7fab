/**
 * A hub stand-in for the VM (runs as the hub user under a unit made from the shipped
 * jupyterhub.service): it loads the installed package's built client, as a site's own Node hub
 * would, and keeps one server of the test user running through sudo and the mediator. Like a
 * JupyterHub with cleanup_servers = False it leaves the server running when it is stopped, and a
 * restarted stand-in takes it up again from its state file (poll(): null means still running).
 */
import fs from "node:fs";
import type * as Client from "../../../src/index.js";
import { GUEST, type HubStandinState } from "./names.js";

const { SudoSpawner } = (await import(GUEST.client)) as typeof Client;

function savedServerPid(): number | undefined {
  try {
    return (JSON.parse(fs.readFileSync(GUEST.hubState, "utf8")) as HubStandinState).serverPid;
  } catch {
    return undefined;
  }
}

function save(state: HubStandinState): void {
  const temporary = `${GUEST.hubState}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(state));
  fs.renameSync(temporary, GUEST.hubState);
}

// A stopped hub leaves its server (the hub's unit has KillMode=process): exit at once on SIGTERM.
process.on("SIGTERM", () => process.exit(0));

const spawner = new SudoSpawner({ user: GUEST.user, mediatorPath: GUEST.mediator, timeoutMs: 120_000 });
const saved = savedServerPid();
let found = false;
if (saved !== undefined) {
  spawner.loadState({ pid: saved });
  found = (await spawner.poll()) === null;
}
if (!found) {
  await spawner.start({ args: [`--port=${GUEST.serverPort}`, "--ip=127.0.0.1"], env: { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" } });
}
save({ hubPid: process.pid, serverPid: spawner.pid as number, found });

// Keep running, as a hub does, polling now and then.
setInterval(() => void spawner.poll(), 5_000);
