/**
 * Python virtual environments with pip-installed JupyterHub releases, for the end-to-end matrix and
 * the migration suites.
 *
 * One root-owned 0755 directory per test run (made and removed by test/global-setup.ts, under /tmp,
 * which the mediator accepts: /tmp is sticky) holds one venv per JupyterHub series, with what
 * every suite needs of that series (VENV_PACKAGES). The first file that asks for a series builds
 * it; the files after it reuse it (a marker file says it is complete), so a run pays for each
 * series once. The venvs are made with Debian's /usr/bin/python3 (not a pyenv python under /root:
 * the hub and the users must reach it). Progress goes to stderr.
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
  /** Seconds this file waited for it: the build, or about 0 when an earlier file of the run built it. */
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

/**
 * What each series' venv holds besides `jupyterhub==SERIES.*`: one venv serves every suite, so it
 * holds what any of them needs (PyPI's sudospawner for the migration suites and the matrix's
 * SudoSpawner hub).
 */
export const VENV_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  "4.1": ["jupyterlab"],
  "5": ["jupyterlab", "sudospawner"],
  "6": ["jupyterlab"],
};

/** The marker of a complete venv (or proxy install), with what a later file needs to know. */
const READY = ".tsss-ready.json";

export class VenvPool {
  private readonly venvs = new Map<string, Promise<Venv>>();
  private proxyBin: Promise<string> | undefined;

  /** `root`: the run's venv directory (the global fixture's venvRoot). */
  constructor(readonly root: string) {}

  /**
   * The venv of `jupyterhub==SERIES.*` with VENV_PACKAGES[series]: reused when an earlier file of
   * the run built it, else built now (concurrently with other series) and shared afterwards.
   */
  get(series: string): Promise<Venv> {
    let venv = this.venvs.get(series);
    if (!venv) {
      venv = this.reuseOrCreate(series);
      venv.catch(() => undefined); // reported where it is awaited
      this.venvs.set(series, venv);
    }
    return venv;
  }

  /** configurable-http-proxy from npm in the run's directory, installed once per run. */
  proxy(): Promise<string> {
    if (!this.proxyBin) {
      const prefix = path.join(this.root, "configurable-http-proxy");
      this.proxyBin = reuseOrMake(prefix, () => installNpmProxy(prefix));
      this.proxyBin.catch(() => undefined);
    }
    return this.proxyBin;
  }

  private async reuseOrCreate(series: string): Promise<Venv> {
    const packages = VENV_PACKAGES[series];
    if (!packages) throw new Error(`no venv is defined for JupyterHub ${series} (VENV_PACKAGES in test/helpers/hub/venvs.ts)`);
    const dir = path.join(this.root, `jupyterhub-${series}`);
    const started = Date.now();
    const venv = await reuseOrMake(dir, () => createVenv(dir, series, packages));
    return { ...venv, seconds: Math.round((Date.now() - started) / 100) / 10 };
  }

  /** `pip install --no-index DIR` into the venv, with no index, find-links or pip config at all. */
  async installOffline(venv: Venv, packageDir: string): Promise<string> {
    log(`pip install --no-index ${packageDir} into JupyterHub ${venv.version}`);
    return runAsync(venv.python, ["-m", "pip", "install", "--no-index", "--disable-pip-version-check", packageDir], { env: offlinePipEnv() });
  }
}

/**
 * What `dir`'s marker holds when an earlier file completed it; else `make()` into a clean `dir`
 * (a partial one of a file that was stopped is removed first) and the marker written.
 */
async function reuseOrMake<T>(dir: string, make: () => Promise<T>): Promise<T> {
  const marker = path.join(dir, READY);
  if (fs.existsSync(marker)) {
    log(`reusing ${dir}`);
    return JSON.parse(fs.readFileSync(marker, "utf8")) as T;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const made = await make();
  fs.writeFileSync(marker, JSON.stringify(made));
  return made;
}

async function createVenv(dir: string, series: string, packages: readonly string[]): Promise<Venv> {
  const started = Date.now();
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

/** The run's venv directory: root-owned, 0755 (the mediator checks the executables' directories). */
export function createVenvRoot(prefix = "/tmp/tsss-venvs-"): string {
  const root = fs.mkdtempSync(prefix);
  fs.chmodSync(root, 0o755);
  return root;
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
