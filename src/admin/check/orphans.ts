/**
 * The `python-orphans` row: servers the Python sudospawner started whose fork is gone. After the
 * switch, ts-sudospawner stops such a server only while the policy's "adopt" allows it; without
 * it a stop leaves the server running (the kill answers `unowned: "orphaned-python-server"`).
 * Judged here (pure); found by findOrphanedPythonServers (reads /proc, as root).
 */
import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { loadPolicy } from "../../mediator/policy-file.js";
import { adoptionReason, realProc, singleUserFiles, unownedReason, type AdoptPolicy, type ProcView } from "../../mediator/kill/adoption.js";
import { readUidMin } from "../../mediator/accounts.js";
import { uidWithName } from "../host/commands.js";
import type { CheckRow } from "./report.js";
import type { CheckSubject } from "./subject.js";

export interface OrphanedServer {
  pid: number;
  uid: number;
}

const ROW = { id: "python-orphans", title: "servers of the Python sudospawner whose fork is gone" };

/** Pass, warn or skip for what was found (pure). */
export function judgeOrphans(input: { asRoot: boolean; found: readonly OrphanedServer[]; adopt: AdoptPolicy | undefined; now: number; names: (uid: number) => string }): CheckRow {
  if (!input.asRoot) {
    return { ...ROW, status: "skip", detail: "other users' process environments are readable only by root", fix: "run the check as root to look for them" };
  }
  if (input.found.length === 0) return { ...ROW, status: "pass", detail: "none found", fix: "" };
  const list = input.found.map((server) => `${input.names(server.uid)} pid ${server.pid}`).join(", ");
  if (input.adopt !== undefined && input.now < input.adopt.untilMs) {
    return { ...ROW, status: "pass", detail: `${list}: the policy's "adopt" (until ${input.adopt.until}) lets ts-sudospawner stop them`, fix: "" };
  }
  return {
    ...ROW,
    status: "warn",
    detail: `${list}: started by the Python sudospawner, no ownership mark, fork gone. After the switch a stop leaves them running without a route (the hub logs "was NOT stopped")`,
    fix: `before switching, add { "adopt": { "until": "<a date soon>" } } to the site policy (admin guide §10, step 5), or stop these servers first`,
  };
}

/** Live processes that look like Python-started servers whose fork is gone (reads /proc). */
export function findOrphanedPythonServers(binDir: string, minUid: number, view: ProcView = realProc): OrphanedServer[] {
  let policy: ReturnType<typeof loadPolicy> | undefined;
  try {
    policy = loadPolicy();
  } catch {
    policy = undefined;
  }
  const files = singleUserFiles(() => binDir, policy ?? { profiles: {} }, view);
  const found: OrphanedServer[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const uid = view.uid(pid);
    if (uid === undefined || uid < minUid) continue;
    const input = { uid, adopt: undefined, singleUserFiles: () => files, now: Date.now() };
    if (adoptionReason(pid, input, view) !== undefined) continue; // its fork still waits: adopted anyway
    if (unownedReason(pid, { ...input, adopt: policy?.adopt }, view) === "orphaned-python-server") found.push({ pid, uid });
  }
  return found;
}

export function checkPythonOrphans(s: CheckSubject): CheckRow {
  let adopt: AdoptPolicy | undefined;
  try {
    adopt = loadPolicy().adopt;
  } catch {
    adopt = undefined;
  }
  const found = s.asRoot ? findOrphanedPythonServers(dirname(s.mediator.path), readUidMin()) : [];
  return judgeOrphans({ asRoot: s.asRoot, found, adopt, now: Date.now(), names: uidWithName });
}
