/**
 * The native addon (fork/exec of the reaper, exact kill), built from native/ into build/Release of
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
  kill(pid: number, sig: number): number;
  reap(pid: number): ExitReport | null;
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
      `cannot load the native addon ${addonPath} (${errorMessage(error)}); rebuild it with \`npm rebuild ts-sudospawner\` as root (needs g++, make, python3)`,
    );
  }
  return loaded;
}
