/**
 * The server's root (notebook) directory, from an argument or JUPYTERHUB_ROOT_DIR. Every kernel
 * starts there, and Python puts it first on sys.path: a directory someone else can write to lets
 * them plant modules that the user's kernels import. So it must be a directory that only root and
 * the user control, by the same rule as the executables (src/install/path-trust.ts), and the final
 * directory may not be writable by group or others even when sticky.
 */
import { isAbsolute, join } from "node:path";
import { SudoSpawnerError } from "../../errors.js";
import { auditPath, formatProblems, type FsView } from "../../install/path-trust.js";
import type { Account } from "../../system/account.js";

/** `~`, `~/x`, `{username}` and a relative path, as the user's server would read them (pure). */
export function expandRootDir(value: string, user: Pick<Account, "name" | "home">): string {
  const named = value.replaceAll("{username}", user.name);
  if (named === "~") return user.home;
  if (named.startsWith("~/")) return join(user.home, named.slice(2));
  return isAbsolute(named) ? named : join(user.home, named);
}

/**
 * The checked real path of the root directory; throws UNSAFE_PATH naming what is wrong, NOT_FOUND
 * when it does not exist. `where` names the source for the message ("JUPYTERHUB_ROOT_DIR").
 */
export function checkedRootDir(value: string, where: string, user: Pick<Account, "name" | "home" | "uid">, view: FsView, describeUid: (uid: number) => string): string {
  const path = expandRootDir(value, user);
  const audit = auditPath(path, view, { trustedUids: new Set([0, user.uid]), describeUid });
  if (!audit.exists || audit.realPath === undefined) {
    throw new SudoSpawnerError("NOT_FOUND", `the server's root directory ${path} (from ${where}) does not exist; create it, or fix c.Spawner.notebook_dir`);
  }
  const problems = [...audit.problems];
  const final = view.lstat(audit.realPath);
  if (final?.kind !== "directory") problems.push({ path: audit.realPath, problem: "not a directory" });
  else if ((final.mode & 0o022) !== 0) {
    problems.push({ path: audit.realPath, problem: `writable by ${final.mode & 0o002 ? "everyone" : `group ${final.gid}`} (mode ${(final.mode & 0o7777).toString(8)}): others could plant modules its kernels import` });
  }
  if (problems.length > 0) {
    throw new SudoSpawnerError(
      "UNSAFE_PATH",
      `refusing the server's root directory ${path} (from ${where}): ${formatProblems(problems)}. It and every directory above it must be owned by root or ${user.name} and not writable by group or others`,
    );
  }
  return audit.realPath;
}

/** Where the server's root directory may come from: its arguments' root_dir options and JUPYTERHUB_ROOT_DIR. */
export interface RootDirSources {
  /** The server's whole argument list (the profile's first), changed in place. */
  args: string[];
  /** Indexes into args of the options that set root_dir, with their spelling. */
  options: readonly { index: number; spelling: string }[];
  /** The server's environment, changed in place. */
  env: Record<string, string>;
}

export const ROOT_DIR_ENV = "JUPYTERHUB_ROOT_DIR";

/** Checks every root directory the hub named and puts its checked real path in its place. */
export function settleRootDirs(sources: RootDirSources, user: Pick<Account, "name" | "home" | "uid">, view: FsView, describeUid: (uid: number) => string): void {
  for (const { index, spelling } of sources.options) {
    const value = sources.args[index]?.slice(spelling.length + 1) ?? "";
    sources.args[index] = `${spelling}=${checkedRootDir(value, spelling, user, view, describeUid)}`;
  }
  const fromEnv = sources.env[ROOT_DIR_ENV];
  if (fromEnv !== undefined) sources.env[ROOT_DIR_ENV] = checkedRootDir(fromEnv, ROOT_DIR_ENV, user, view, describeUid);
}
