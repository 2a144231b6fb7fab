/**
 * The native addon (fork/exec of the reaper, exact kill, pidfds), built from native/ into build/Release of
 * the installed package (src/install/layout.ts says where). Its interface is declared once, here.
 */
import { createRequire } from "node:module";
import { SudoSpawnerError, errorMessage } from "../errors.js";

export interface ExitReport {
  code: number | null;
  signal: number | null;
  errno?: number;
}

export interface NativeAddon {
  spawnReaper(reaperPath: string, argv: string[], env: string[]): { pid: number; statusFd: number };
  /** With the commit pipe: its read end is the reaper's fd 4 (spawn/commit.ts), its write end commitFd (close-on-exec). */
  spawnReaper(reaperPath: string, argv: string[], env: string[], withCommit: true): { pid: number; statusFd: number; commitFd: number };
  /** kill(2): 0 or the errno. */
  kill(pid: number, sig: number): number;
  /** pidfd_open(2): the fd (>= 0, close-on-exec), or minus the errno (-ENOSYS on kernels before 5.3). */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2) to the process the fd names: 0 or the errno. */
  pidfdSendSignal(fd: number, sig: number): number;
  /** close(2) of a descriptor the addon returned (fd >= 3): 0 or the errno. */
  closeFd(fd: number): number;
  /** prctl(PR_SET_DUMPABLE, 0) on this process: 0 or the errno. */
  setNonDumpable(): number;
  reap(pid: number): ExitReport | null;
  /** One read(2) of at most `max` bytes after poll(2) waited at most timeoutMs: the bytes (empty at end), or -EAGAIN (nothing in time), -EINTR (a signal), -errno. */
  readWithin(fd: number, max: number, timeoutMs: number): Buffer | number;
  /** getgrouplist(3) of a user with its primary gid: the gids, or minus an errno. */
  groupList(name: string, gid: number): number[] | number;
  strerror(errno: number): string;
}

let loaded: NativeAddon | undefined;

export function loadAddon(addonPath: string): NativeAddon {
  if (loaded) return loaded;
  try {
    loaded = createRequire(addonPath)(addonPath) as NativeAddon;
  } catch (error) {
    throw new SudoSpawnerError(
      "NATIVE",
      `cannot load the native addon ${addonPath} (${errorMessage(error)}); reinstall it as root with \`npm rebuild -g --prefix PREFIX --foreground-scripts ts-sudospawner\` (prebuilt on linux-x64/arm64; elsewhere it needs g++, make, python3)`,
    );
  }
  return loaded;
}
