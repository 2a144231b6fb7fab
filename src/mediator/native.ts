/**
 * The native addon (fork/exec of the reaper, exact kill) and the reaper executable, both built
 * from native/ into build/Release of the installed package. Located relative to the package,
 * never through anything the hub controls.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
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

export const ADDON_FILE = "tsss_native.node";
export const REAPER_FILE = "tsss-reaper";

/** The package root: the nearest directory above `fromFile` whose package.json names ts-sudospawner. */
export function findPackageRoot(fromFile: string): string {
  let dir = dirname(fromFile);
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown };
      if (manifest.name === "ts-sudospawner") return dir;
    } catch {
      // not here; keep climbing
    }
    const parent = dirname(dir);
    if (parent === dir) throw new SudoSpawnerError("NATIVE", `cannot find the ts-sudospawner package above ${fromFile}`);
    dir = parent;
  }
}

export interface NativePaths {
  addon: string;
  reaper: string;
}

export function nativePaths(packageRoot: string): NativePaths {
  const dir = join(packageRoot, "build", "Release");
  return { addon: join(dir, ADDON_FILE), reaper: join(dir, REAPER_FILE) };
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
