/**
 * The kill action: one signal to one validated pid, answered as "is it still alive".
 */
import os from "node:os";
import type { Logger } from "./logger.js";
import type { NativeAddon } from "./native.js";

const { ESRCH, EPERM } = os.constants.errno;

export interface KillDeps {
  addon: NativeAddon;
  logger: Logger;
}

export function killServer(pid: number, signal: number, deps: KillDeps): boolean {
  const { addon, logger } = deps;
  logger.debug(`sending signal ${signal} to pid ${pid}`);
  const errno = addon.kill(pid, signal);
  if (errno === 0) return true;
  if (errno === ESRCH) return false;
  if (errno === EPERM) {
    // Another user's process holds the pid now: ours is gone (the hub's state is stale).
    logger.error(`permission denied sending signal ${signal} to pid ${pid}: it belongs to another user, so the server is gone and its pid was reused`);
    return false;
  }
  logger.error(`kill(${pid}, ${signal}) failed: ${addon.strerror(errno)}; treating the server as gone`);
  return false;
}
