/**
 * Pack this repository and install the tarball the way an admin does:
 *   npm pack && npm install -g --prefix PREFIX ./ts-sudospawner-*.tgz
 * The prefix is root-owned and not writable by others, as the mediator demands.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

export interface Installation {
  prefix: string;
  /** PREFIX/bin/ts-sudospawner: the npm bin symlink, the path the sudoers rule names. */
  mediator: string;
  binDir: string;
  /** PREFIX/lib/node_modules/ts-sudospawner */
  packageDir: string;
}

export function packTarball(destination: string): string {
  fs.mkdirSync(destination, { recursive: true });
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", destination], { cwd: REPO_ROOT, encoding: "utf8" });
  const name = out.trim().split("\n").pop() as string;
  return path.join(destination, name);
}

export function installTarball(tarball: string, prefix: string): Installation {
  fs.mkdirSync(prefix, { recursive: true, mode: 0o755 });
  fs.chmodSync(prefix, 0o755);
  execFileSync("npm", ["install", "-g", "--no-audit", "--no-fund", "--prefix", prefix, tarball], { stdio: ["ignore", "ignore", "inherit"] });
  const binDir = path.join(prefix, "bin");
  return { prefix, binDir, mediator: path.join(binDir, "ts-sudospawner"), packageDir: path.join(prefix, "lib/node_modules/ts-sudospawner") };
}

/** Put the demo single-user server next to the mediator as `jupyterhub-singleuser` (root-owned copy). */
export function installDemoSingleUser(installation: Installation, name = "jupyterhub-singleuser"): string {
  const target = path.join(installation.binDir, name);
  fs.copyFileSync(path.join(installation.packageDir, "dist/demo-singleuser.cjs"), target);
  fs.chmodSync(target, 0o755);
  return target;
}
