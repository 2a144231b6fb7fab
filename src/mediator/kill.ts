/**
 * The kill action: one signal to one validated pid that this mediator started, answered as
 * "is it still alive". A pid that now belongs to someone else is left alone and reported gone.
 */
import { constants } from "node:os";
import type { Logger } from "./logger.js";
import type { NativeAddon } from "./native.js";
import type { Ownership } from "./ownership.js";

const { ESRCH, EPERM } = constants.errno;

export interface KillDeps {
  addon: NativeAddon;
  logger: Logger;
  /** Whether the live process at `pid` is one of our servers. */
  ownership: (pid: number) => Ownership;
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
  deps.logger.error(`kill(${pid}, ${signal}) failed: ${deps.addon.strerror(errno)}; treating the server as gone`);
  return false;
}

export function killServer(pid: number, signal: number, deps: KillDeps): boolean {
  const { addon, logger } = deps;
  if (!aliveAfter(addon.kill(pid, 0), pid, signal, deps)) return false;
  const owner = deps.ownership(pid);
  if (owner === "gone") return false;
  if (owner === "not-ours") {
    logger.warn(`pid ${pid} is not a server started by ts-sudospawner (the pid was reused); leaving it alone and reporting the server gone`);
    return false;
  }
  if (signal === 0) return true;
  logger.debug(`sending signal ${signal} to pid ${pid}`);
  return aliveAfter(addon.kill(pid, signal), pid, signal, deps);
}
