/**
 * JupyterHub's internal_ssl without root: the hub sends the server's key, certificate and CA in
 * the spawn request, and the mediator, already running as the user, writes them into a directory
 * of the user's own (0700, files 0600). The server finds them through the JUPYTERHUB_SSL_*
 * variables, which are set here whatever the hub sent.
 *
 * Every start gets a fresh directory, `~/.ts-sudospawner/tls/<server id>-<random>/`, made here and
 * filled with O_EXCL | O_NOFOLLOW: nothing that was there before (a file, a link someone planted)
 * is ever followed, reused or written through. The files go away with the server: the reaper is
 * told to remove them (`--remove-after`, removeAfterOptions) once the server's whole process tree
 * has ended, because only the reaper sees that moment; the mediator has long exited by then. A
 * directory of its own per start, rather than one per server, means a reaper still finishing an
 * old start can never remove the files of the next start of the same server. What a reaper could
 * not remove (it was SIGKILLed, the machine went down) goes at that server's next start.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, writeSync, constants as fsConstants } from "node:fs";
import { join } from "node:path";
import { SudoSpawnerError, errnoCode, errorMessage } from "../../errors.js";
import type { TlsFiles } from "../../protocol/index.js";
import type { Account } from "../../system/account.js";

/** Below the home directory; one subdirectory per start of a server. */
export const TLS_DIR = ".ts-sudospawner/tls";

export const TLS_ENV = { key: "JUPYTERHUB_SSL_KEYFILE", cert: "JUPYTERHUB_SSL_CERTFILE", ca: "JUPYTERHUB_SSL_CLIENT_CA" } as const;
const FILE_NAMES = { key: "server.key", cert: "server.crt", ca: "ca.crt" } as const;

/** What one start wrote: the variables for the server, and what to remove when it has ended. */
export interface WrittenTls {
  env: Record<string, string>;
  dir: string;
  files: string[];
  /** Directories of earlier starts of this server that were removed now. */
  removedEarlier: string[];
}

/**
 * The id of one server (pure): a hash of its URL prefix, which JupyterHub makes unique per user and
 * server name, so no hub text becomes a path component.
 */
export function tlsServerId(servicePrefix: string | undefined): string {
  return createHash("sha256").update(servicePrefix ?? "").digest("hex").slice(0, 16);
}

/** The directory of one start of a server (pure). */
export function tlsDirectory(home: string, servicePrefix: string | undefined, nonce: string): string {
  return join(home, TLS_DIR, `${tlsServerId(servicePrefix)}-${nonce}`);
}

/** Is an entry of the tls directory one of an earlier start of this server (or of the one-directory layout before)? (pure) */
export function isEarlierStart(name: string, serverId: string): boolean {
  return name === serverId || (name.startsWith(`${serverId}-`) && /^[0-9a-f]+$/.test(name.slice(serverId.length + 1)));
}

/** The reaper options that remove one start's files, then its directory (pure). */
export function removeAfterOptions(written: Pick<WrittenTls, "dir" | "files">): string[] {
  return [...written.files, written.dir].flatMap((path) => ["--remove-after", path]);
}

/**
 * mkdir that accepts an existing directory only when it is a real directory of this user (a link
 * is refused), and gives it exactly mode 0700: no group or other access, and the owner's back if
 * something took it away (a directory of mode 000 would refuse every later start).
 */
function ensurePrivateDirectory(dir: string, uid: number): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
  }
  const stats = lstatSync(dir);
  if (!stats.isDirectory() || stats.uid !== uid) {
    throw new SudoSpawnerError("UNSAFE_PATH", `${dir} is not a directory owned by uid ${uid}; remove it so the server's TLS files can be written`);
  }
  if ((stats.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** A new file only: O_EXCL and O_NOFOLLOW refuse anything already there, a link included. */
function writeNewPrivateFile(file: string, text: string): void {
  const fd = openSync(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Directories an earlier start of this server left: its server is gone, as JupyterHub runs one at a time. */
function removeEarlierStarts(tlsRoot: string, serverId: string, uid: number): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(tlsRoot)) {
    if (!isEarlierStart(name, serverId)) continue;
    const path = join(tlsRoot, name);
    try {
      // Never recursive through a link (rmSync removes a link itself), nor in what is not ours.
      if (lstatSync(path).uid !== uid) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // gone meanwhile (its reaper just removed it), or not ours to remove: not this start's concern
    }
  }
  return removed;
}

/** Write the files into a fresh directory of their own; returns the variables and what to remove later. */
export function writeTlsFiles(account: Pick<Account, "uid" | "home">, servicePrefix: string | undefined, files: TlsFiles): WrittenTls {
  const dir = tlsDirectory(account.home, servicePrefix, randomBytes(8).toString("hex"));
  let created = false;
  try {
    let path = account.home;
    for (const part of TLS_DIR.split("/")) {
      path = join(path, part);
      ensurePrivateDirectory(path, account.uid);
    }
    const removedEarlier = removeEarlierStarts(path, tlsServerId(servicePrefix), account.uid);
    mkdirSync(dir, { mode: 0o700 });
    created = true;
    ensurePrivateDirectory(dir, account.uid);
    const env: Record<string, string> = {};
    const written: string[] = [];
    for (const key of ["key", "cert", "ca"] as const) {
      const file = join(dir, FILE_NAMES[key]);
      writeNewPrivateFile(file, files[key]);
      written.push(file);
      env[TLS_ENV[key]] = file;
    }
    return { env, dir, files: written, removedEarlier };
  } catch (error) {
    if (created) removeTlsFiles(dir);
    if (error instanceof SudoSpawnerError) throw error;
    throw new SudoSpawnerError("SPAWN_FAILED", `cannot write the server's TLS files into ${dir}: ${errorMessage(error)}; the user's home must be writable by the user`);
  }
}

/** When no server started after all: the files go at once (best effort). */
export function removeTlsFiles(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // nothing more to do: the next start of this server removes it
  }
}
