/**
 * Where an installed ts-sudospawner keeps its parts, resolved once from the running bundle: the
 * package root, the native addon and the reaper (built into build/Release), and the directory the
 * mediator was started from, where the single-user executable lives. Never from anything the hub
 * controls: only from this file's own location and the path sudo ran.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SudoSpawnerError } from "../errors.js";
import { installDirectory } from "./executable.js";

/** The root-owned site policy: the mediator applies it; `check` reads only its slurm.conf from it. */
export const POLICY_PATH = "/etc/ts-sudospawner/config.json";

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

export interface InstallLayout extends NativePaths {
  packageRoot: string;
  /**
   * The directory of the path sudo ran, trusted only when that path is this very bundle (see
   * installDirectory). A function: a kill never needs it, and must not fail for want of it.
   */
  binDir(): string;
}

export interface Invocation {
  /** This bundle's own file. */
  selfPath: string;
  /** The path it was started by (process.argv[1]): the sudoers path under sudo. */
  invokedPath: string | undefined;
}

export function resolveInstall(invocation: Invocation): InstallLayout {
  const packageRoot = findPackageRoot(invocation.selfPath);
  return {
    packageRoot,
    ...nativePaths(packageRoot),
    binDir: () => installDirectory(invocation.invokedPath, invocation.selfPath),
  };
}
