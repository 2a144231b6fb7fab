/**
 * Which single-user executable the mediator may start. Fixed by the install: a file next to the
 * path sudo ran, and only when that path really is this mediator. Nothing from the hub (stdin,
 * argv, environment, PATH) is consulted.
 */
import { existsSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { SudoSpawnerError } from "../errors.js";
import { auditPath, formatProblems, realFs, type FsView } from "./path-trust.js";

/** Searched in this order, as the Python sudospawner does: the site's wrapper first. */
export const SINGLEUSER_NAMES = ["sudospawner-singleuser", "jupyterhub-singleuser"] as const;

/**
 * The directory the mediator was installed in, as sudo ran it (`process.argv[1]`, e.g. the npm bin
 * symlink). Trusted only when that path resolves to this very mediator file.
 */
export function installDirectory(invokedPath: string | undefined, selfPath: string, realpath: (p: string) => string = realpathSync): string {
  if (!invokedPath || !isAbsolute(invokedPath)) {
    throw new SudoSpawnerError(
      "UNSAFE_PATH",
      `the mediator was started as ${JSON.stringify(invokedPath ?? "")}, not by an absolute path; run it by its installed absolute path (as sudo does) so the single-user executable next to it can be found`,
    );
  }
  let invokedReal: string;
  let selfReal: string;
  try {
    invokedReal = realpath(invokedPath);
    selfReal = realpath(selfPath);
  } catch (error) {
    throw new SudoSpawnerError("UNSAFE_PATH", `cannot resolve the mediator's own path ${invokedPath}: ${String(error)}`);
  }
  if (invokedReal !== selfReal) {
    throw new SudoSpawnerError(
      "UNSAFE_PATH",
      `the mediator was started as ${invokedPath}, which is not its installed file ${selfReal}; refusing to look for a single-user executable next to it`,
    );
  }
  return dirname(invokedPath);
}

/** The first single-user executable present in `dir`. */
export function findSingleUser(dir: string, exists: (p: string) => boolean = existsSync): string {
  for (const name of SINGLEUSER_NAMES) {
    const candidate = join(dir, name);
    if (exists(candidate)) return candidate;
  }
  throw new SudoSpawnerError(
    "NOT_FOUND",
    `no ${SINGLEUSER_NAMES.join(" or ")} next to the mediator in ${dir}; as root, link the server of the venv JupyterHub runs from there by its full path, e.g. \`ln -s /opt/jupyterhub/bin/jupyterhub-singleuser ${join(dir, "jupyterhub-singleuser")}\` (\`ts-sudospawner sudoers\` prints the exact command)`,
  );
}

/**
 * Refuse a file the target user's server would run if anyone but root or that user (in
 * particular the hub user) could replace it or anything on the way to it.
 */
export function assertTrustedExecutable(
  file: string,
  trustedUids: ReadonlySet<number>,
  describeUid: (uid: number) => string,
  what: string,
  view: FsView = realFs,
): string {
  const audit = auditPath(file, view, { trustedUids, describeUid });
  if (!audit.exists || !audit.realPath) {
    throw new SudoSpawnerError("NOT_FOUND", `${what} ${file} does not exist (or a link on the way to it is broken)`);
  }
  if (audit.problems.length > 0) {
    throw new SudoSpawnerError(
      "UNSAFE_PATH",
      `refusing to run ${what} ${file}: ${formatProblems(audit.problems)}. As root, make it and every directory above it owned by root and not group/world-writable (chown root:root, chmod go-w)`,
    );
  }
  return audit.realPath;
}
