/**
 * The kill action: one signal to one validated pid that this mediator started, answered as
 * "is it still alive". A pid that now belongs to someone else is left alone and reported gone.
 *
 * No window between the check and the signal: the process is pinned with a pidfd first, its
 * ownership is read from /proc, then the pidfd must still name a live (or unreaped) process —
 * so its pid was never freed, and what /proc said was about this very process — and only then
 * is the signal sent through the pidfd. Kernels without pidfds (before 5.3) fall back to kill(2).
 */
import { constants } from "node:os";
import { SudoSpawnerError } from "../../errors.js";
import type { Logger } from "../logger.js";
import type { NativeAddon } from "../native.js";
import type { UnownedReason } from "../../protocol/wire.js";
import type { Ownership } from "./ownership.js";

const { ESRCH, EPERM, EINVAL, ENOENT, ENOSYS } = constants.errno;

export interface KillDeps {
  addon: NativeAddon;
  logger: Logger;
  /** Whether the live process at `pid` is one of our servers. */
  ownership: (pid: number) => Ownership;
  /** Why a live process that is not ours was left alone; filled into `report` for the answer. */
  unowned?: (pid: number) => UnownedReason;
  report?: { unowned?: "orphaned-python-server" };
}

/** alive for errno 0; gone (with the reason logged) for anything else. */
function aliveAfter(errno: number, pid: number, signal: number, deps: KillDeps): boolean {
  if (errno === 0) return true;
  if (errno === ESRCH) return false;
  if (errno === EPERM) {
    deps.logger.error(
      `permission denied sending signal ${signal} to pid ${pid}: it belongs to another user, so the server is gone and its pid was reused`,
    );
    return false;
  }
  deps.logger.error(`sending signal ${signal} to pid ${pid} failed: ${deps.addon.strerror(errno)}; treating the server as gone`);
  return false;
}

/** Is the process at `pid` ours? Logs why not. */
function isOurs(pid: number, deps: KillDeps): boolean {
  const owner = deps.ownership(pid);
  if (owner !== "not-ours") return owner === "ours";
  const reason = deps.unowned?.(pid) ?? "other";
  // Only the case the hub can act on goes into the answer; "other" answers as before.
  if (deps.report !== undefined && reason === "orphaned-python-server") deps.report.unowned = reason;
  if (reason === "orphaned-python-server") {
    deps.logger.error(
      `pid ${pid} runs a single-user server with a JupyterHub token but carries no ownership mark of ts-sudospawner and has no Python sudospawner fork as parent: the Python sudospawner started it and its fork is gone. Not signalling it; add "adopt" to the site policy (docs/policy.md) so that ts-sudospawner may stop it`,
    );
  } else {
    deps.logger.warn(`pid ${pid} is not a server started by ts-sudospawner (the pid was reused); leaving it alone and reporting the server gone`);
  }
  return false;
}

/** Check and signal through a pidfd: `send` reaches the process the fd was opened for, or none. */
function killPinned(pid: number, signal: number, send: (sig: number) => number, deps: KillDeps): boolean {
  if (!aliveAfter(send(0), pid, signal, deps)) return false;
  if (!isOurs(pid, deps)) return false;
  // Still there (a zombie included): its pid has not been freed since the pidfd was opened, so the
  // /proc files just read were this process's own, not a newcomer's that took over the pid.
  if (!aliveAfter(send(0), pid, signal, deps)) return false;
  if (signal === 0) return true;
  deps.logger.debug(`sending signal ${signal} to pid ${pid} through its pidfd`);
  return aliveAfter(send(signal), pid, signal, deps);
}

/** The fallback without pidfds: a pid reused between the check and kill(2) would get the signal. */
function killByPid(pid: number, signal: number, deps: KillDeps): boolean {
  const { addon, logger } = deps;
  if (!aliveAfter(addon.kill(pid, 0), pid, signal, deps)) return false;
  if (!isOurs(pid, deps)) return false;
  if (signal === 0) return true;
  logger.debug(`sending signal ${signal} to pid ${pid}`);
  return aliveAfter(addon.kill(pid, signal), pid, signal, deps);
}

export function killServer(pid: number, signal: number, deps: KillDeps): boolean {
  const { addon, logger } = deps;
  const fd = addon.pidfdOpen(pid);
  if (fd === -ENOSYS) {
    logger.warn(
      `pidfd_open is not available on this kernel (Linux < 5.3): checking pid ${pid} and signalling it with kill(2) instead, which leaves a short window in which a reused pid could be signalled`,
    );
    return killByPid(pid, signal, deps);
  }
  if (fd < 0) {
    // No such process, or the number is a thread's, not a process's (EINVAL before Linux 6.9,
    // ENOENT since): either way not our server.
    if (-fd === ESRCH || -fd === EINVAL || -fd === ENOENT) return false;
    throw new SudoSpawnerError("INTERNAL", `pidfd_open(${pid}) failed: ${addon.strerror(-fd)} (errno ${-fd}); nothing was signalled`);
  }
  try {
    return killPinned(pid, signal, (sig) => addon.pidfdSendSignal(fd, sig), deps);
  } finally {
    addon.closeFd(fd);
  }
}
