/**
 * What SELinux says about the hub's domain, read from selinuxfs (no tools needed, as root): whether
 * it is on and enforcing, which domain the hub runs in (a running process of the hub user, else
 * the domain a system unit gets under the loaded policy), and whether that domain may use execmem,
 * which Node's compiler needs (the policy's answer, the same in permissive mode); and for cgroup
 * mode, whether that domain may ask a user's systemd manager for a scope (the manager's own check).
 */
import fs from "node:fs";
import { errorMessage } from "../../errors.js";
import { readProcFile } from "../../system/proc-stat.js";
import { SELINUXFS, selinuxMode } from "../../system/selinux-mode.js";

/** The domain a system unit's program runs in: RHEL's targeted policy, then Debian's reference policy. */
const UNIT_DOMAINS = ["system_u:system_r:unconfined_service_t:s0", "system_u:system_r:initrc_t:s0"];

export type SelinuxFacts =
  | { on: false }
  | {
      on: true;
      enforcing: boolean;
      /** The context the hub runs in, and how it was found; undefined when neither way gave one. */
      domain: { context: string; from: string } | undefined;
      /** Whether the domain may use execmem, or why that could not be asked. */
      execmem: boolean | { error: string } | undefined;
      /** The loaded policy's booleans whose name mentions execmem (allow_execmem on Debian, deny_execmem on RHEL). */
      booleans: Record<string, boolean>;
    };

function text(file: string): string {
  return fs.readFileSync(file, "utf8").replaceAll("\0", "").trim();
}

/** A context the loaded policy knows (selinuxfs's context file refuses others with EINVAL). */
function validContext(context: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`${SELINUXFS}/context`, "r+");
    fs.writeSync(fd, context);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The first live process of `uid` that `wanted` accepts, with its SELinux context: the hub's (the
 * hub or its proxy, both in the hub's domain) or a user's systemd manager.
 */
function processWithContext(uid: number, wanted: (pid: number) => boolean = () => true): { context: string; pid: number } | undefined {
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const status = readProcFile(pid, "status");
    if (typeof status === "string") continue;
    const realUid = /^Uid:\s+(\d+)/m.exec(status.toString())?.[1];
    if (realUid === undefined || Number(realUid) !== uid || !wanted(pid)) continue;
    const context = readProcFile(pid, "attr/current");
    if (typeof context === "string") continue;
    const value = context.toString().replaceAll("\0", "").trim();
    if (value !== "") return { context: value, pid };
  }
  return undefined;
}

/** The allowed-permissions vector of `source` on `target` for class `klass` (selinuxfs's access file). */
function allowedVector(source: string, target: string, klass: string): number {
  const index = text(`${SELINUXFS}/class/${klass}/index`);
  const fd = fs.openSync(`${SELINUXFS}/access`, "r+");
  try {
    fs.writeSync(fd, `${source} ${target} ${index}`);
    const answer = Buffer.alloc(256);
    const length = fs.readSync(fd, answer, 0, answer.length, 0);
    return parseAllowed(answer.subarray(0, length).toString());
  } finally {
    fs.closeSync(fd);
  }
}

/** The first field of selinuxfs's access answer ("allowed decided auditallow auditdeny seqno flags", hex). */
export function parseAllowed(answer: string): number {
  const first = answer.trim().split(/\s+/)[0] ?? "";
  if (!/^[0-9a-f]+$/i.test(first)) throw new Error(`unexpected answer from ${SELINUXFS}/access: ${JSON.stringify(answer)}`);
  return Number.parseInt(first, 16);
}

/** Whether permission number `n` (1-based, as selinuxfs numbers them) is in `vector`. */
export function permits(vector: number, n: number): boolean {
  return ((vector >>> (n - 1)) & 1) === 1;
}

export function selinuxFacts(hubUid: number): SelinuxFacts {
  const mode = selinuxMode();
  if (mode === "off") return { on: false };
  const enforcing = mode === "enforcing";
  const hub = processWithContext(hubUid);
  let domain = hub === undefined ? undefined : { context: hub.context, from: `its process ${hub.pid}` };
  if (domain === undefined) {
    const context = UNIT_DOMAINS.find(validContext);
    if (context !== undefined) domain = { context, from: "the domain a system unit gets under this policy (the hub is not running)" };
  }
  let execmem: boolean | { error: string } | undefined;
  if (domain !== undefined) {
    try {
      const bit = Number(text(`${SELINUXFS}/class/process/perms/execmem`));
      execmem = permits(allowedVector(domain.context, domain.context, "process"), bit);
    } catch (error) {
      execmem = { error: errorMessage(error) };
    }
  }
  const booleans: Record<string, boolean> = {};
  try {
    for (const name of fs.readdirSync(`${SELINUXFS}/booleans`)) {
      if (name.includes("execmem")) booleans[name] = text(`${SELINUXFS}/booleans/${name}`).startsWith("1");
    }
  } catch {
    // no booleans to suggest
  }
  return { on: true, enforcing, domain, execmem, booleans };
}

/** For cgroup mode: the user's systemd manager and what the hub's domain may do there. */
export interface ScopeFacts {
  /** The manager's context and pid; undefined when it is not running. */
  manager: { context: string; pid: number } | undefined;
  /** May the hub's domain start a unit there and read its status (class system), or why that could not be asked. */
  allowed: { start: boolean; status: boolean } | { error: string } | undefined;
}

/** The user's systemd manager (`systemd --user`): a process of theirs named systemd. */
function isSystemd(pid: number): boolean {
  const comm = readProcFile(pid, "comm");
  return typeof comm !== "string" && comm.toString().trim() === "systemd";
}

/**
 * What the user's manager answers the hub's domain (the reaper asks it for the scope in that
 * domain): the policy's answer for class system, start and status, asked through selinuxfs.
 */
export function selinuxScopeFacts(hubDomain: string, userUid: number): ScopeFacts {
  const manager = processWithContext(userUid, isSystemd);
  if (manager === undefined) return { manager, allowed: undefined };
  try {
    const vector = allowedVector(hubDomain, manager.context, "system");
    const bit = (perm: string) => Number(text(`${SELINUXFS}/class/system/perms/${perm}`));
    return { manager, allowed: { start: permits(vector, bit("start")), status: permits(vector, bit("status")) } };
  } catch (error) {
    return { manager, allowed: { error: errorMessage(error) } };
  }
}
