/**
 * JupyterHub's internal_ssl without root: the hub sends the server's key, certificate and CA in
 * the spawn request, and the mediator, already running as the user, writes them into a directory
 * of the user's own (0700, files 0600). The server finds them through the JUPYTERHUB_SSL_*
 * variables, which are set here whatever the hub sent.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync, constants as fsConstants } from "node:fs";
import { join } from "node:path";
import { SudoSpawnerError, errnoCode, errorMessage } from "../errors.js";
import type { TlsFiles } from "../protocol/index.js";
import type { Account } from "../system/account.js";

/** Below the home directory; one subdirectory per server (named servers each get their own). */
export const TLS_DIR = ".ts-sudospawner/tls";

export const TLS_ENV = { key: "JUPYTERHUB_SSL_KEYFILE", cert: "JUPYTERHUB_SSL_CERTFILE", ca: "JUPYTERHUB_SSL_CLIENT_CA" } as const;
const FILE_NAMES = { key: "server.key", cert: "server.crt", ca: "ca.crt" } as const;

/**
 * The directory of one server's files (pure): a hash of its URL prefix, which JupyterHub makes
 * unique per user and server name, so no hub text becomes a path component.
 */
export function tlsDirectory(home: string, servicePrefix: string | undefined): string {
  const id = createHash("sha256").update(servicePrefix ?? "").digest("hex").slice(0, 16);
  return join(home, TLS_DIR, id);
}

/** mkdir that accepts an existing directory only when it is a real directory of this user. */
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
}

function writePrivateFile(file: string, text: string): void {
  const staging = `${file}.${randomBytes(6).toString("hex")}.new`;
  const fd = openSync(staging, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(staging, file);
  } catch (error) {
    rmSync(staging, { force: true });
    throw error;
  }
}

/** Write the files; returns the environment variables that point the server at them. */
export function writeTlsFiles(account: Pick<Account, "uid" | "home">, servicePrefix: string | undefined, files: TlsFiles): Record<string, string> {
  const dir = tlsDirectory(account.home, servicePrefix);
  try {
    let path = account.home;
    for (const part of [...TLS_DIR.split("/"), dir.slice(dir.lastIndexOf("/") + 1)]) {
      path = join(path, part);
      ensurePrivateDirectory(path, account.uid);
    }
    const env: Record<string, string> = {};
    for (const key of ["key", "cert", "ca"] as const) {
      const file = join(dir, FILE_NAMES[key]);
      writePrivateFile(file, files[key]);
      env[TLS_ENV[key]] = file;
    }
    return env;
  } catch (error) {
    if (error instanceof SudoSpawnerError) throw error;
    throw new SudoSpawnerError("SPAWN_FAILED", `cannot write the server's TLS files into ${dir}: ${errorMessage(error)}; the user's home must be writable by the user`);
  }
}
