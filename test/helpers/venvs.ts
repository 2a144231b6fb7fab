/**
 * Python virtual environments with pip-installed JupyterHub releases, for the end-to-end matrix.
 *
 * One root-owned 0755 directory per test run (a mkdtemp under /tmp, which the mediator accepts:
 * /tmp is sticky) holds one venv per JupyterHub version; every test that needs a version shares
 * its venv, and the whole directory is removed at the end. The venvs are made with Debian's
 * /usr/bin/python3 (not a pyenv python under /root: the hub and the users must reach it).
 * Creation runs in the background and concurrently; progress goes to stderr.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const SYSTEM_PYTHON = "/usr/bin/python3";

export interface Venv {
  /** The requested series, e.g. "5" (pip spec jupyterhub==5.*). */
  series: string;
  dir: string;
  bin: string;
  python: string;
  /** The installed JupyterHub version, e.g. "5.3.0". */
  version: string;
  /** Seconds spent creating and installing it. */
  seconds: number;
}

function log(line: string): void {
  process.stderr.write(`e2e venvs: ${line}\n`);
}

/** Run a command; resolve with its output, reject with the tail of it on failure. */
export function runAsync(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 15 * 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      if (status === 0) resolve(output);
      else reject(new Error(`${file} ${args.join(" ")} failed (${status ?? signal}):\n${output.slice(-4000)}`));
    });
  });
}

/** The environment for an offline pip: no configured indexes, find-links or config files. */
export function offlinePipEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("PIP_")) env[key] = value;
  return { ...env, PIP_CONFIG_FILE: os.devNull, PIP_NO_INDEX: "1", PIP_DISABLE_PIP_VERSION_CHECK: "1" };
}

export class VenvPool {
  readonly root: string;
  private readonly venvs = new Map<string, Promise<Venv>>();

  constructor(prefix = "/tmp/tsss-e2e-venvs-") {
    this.root = fs.mkdtempSync(prefix);
    fs.chmodSync(this.root, 0o755); // root-owned, not group/world-writable: the mediator checks it
  }

  /**
   * The venv for `jupyterhub==SERIES.*` plus `packages`, created on first request (concurrently
   * with other series) and shared afterwards. Extra packages are part of the one install.
   */
  get(series: string, packages: string[] = ["jupyterlab"]): Promise<Venv> {
    let venv = this.venvs.get(series);
    if (!venv) {
      venv = this.create(series, packages);
      venv.catch(() => undefined); // reported where it is awaited
      this.venvs.set(series, venv);
    }
    return venv;
  }

  private async create(series: string, packages: string[]): Promise<Venv> {
    const started = Date.now();
    const dir = path.join(this.root, `jupyterhub-${series}`);
    const spec = `jupyterhub==${series}.*`;
    log(`creating ${dir} (${spec} ${packages.join(" ")})`);
    await runAsync(SYSTEM_PYTHON, ["-m", "venv", dir]);
    const bin = path.join(dir, "bin");
    const python = path.join(bin, "python");
    // The pip cache is shared (root's), so a second run downloads nothing.
    await runAsync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec, ...packages]);
    const version = (await runAsync(python, ["-c", "import jupyterhub; print(jupyterhub.__version__)"])).trim();
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    log(`JupyterHub ${version} ready in ${dir} after ${seconds} s`);
    return { series, dir, bin, python, version, seconds };
  }

  /** `pip install --no-index DIR` into the venv, with no index, find-links or pip config at all. */
  async installOffline(venv: Venv, packageDir: string): Promise<string> {
    log(`pip install --no-index ${packageDir} into JupyterHub ${venv.version}`);
    return runAsync(venv.python, ["-m", "pip", "install", "--no-index", "--disable-pip-version-check", packageDir], { env: offlinePipEnv() });
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** configurable-http-proxy from npm into `prefix` (root-owned); returns its executable. */
export async function installNpmProxy(prefix: string): Promise<string> {
  fs.mkdirSync(prefix, { recursive: true, mode: 0o755 });
  log(`npm install configurable-http-proxy into ${prefix}`);
  await runAsync("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", prefix, "configurable-http-proxy"]);
  const bin = path.join(prefix, "node_modules/.bin/configurable-http-proxy");
  if (!fs.existsSync(bin)) throw new Error(`npm installed no ${bin}`);
  return bin;
}
