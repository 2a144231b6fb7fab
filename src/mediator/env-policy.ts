/**
 * Which environment the single-user server gets. An allow-list by default: what JupyterHub itself
 * sends (JUPYTERHUB_*, JPY_*, the resource and locale variables) and what the site's root policy
 * adds; everything else the hub sends is dropped, since a growing deny-list of variables that run
 * code (PYTHONPYCACHEPREFIX, OPENSSL_CONF, JUPYTER_CONFIG_PATH, ...) is always one name short. The
 * deny-list below still applies on top, for sites that widen the allow-list. PATH comes from the
 * root policy, the identity variables from the passwd entry. Pure: everything is passed in.
 */
import { logExcerpt } from "../protocol/index.js";
import type { Account } from "../system/account.js";

/** Exact names that make a loader or interpreter run code chosen by whoever sets them. */
export const DENIED_NAMES: readonly string[] = [
  // Python
  "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
  "PYTHONWARNINGS", "PYTHONBREAKPOINT", "PYTHONSAFEPATH", "PYTHONPLATLIBDIR",
  // Node.js
  "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
  // shells
  "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE",
  // Perl, Ruby, Lua, Tcl, Java
  "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYOPT", "RUBYLIB", "LUA_INIT", "TCLLIBPATH",
  "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
  // glibc
  "GCONV_PATH", "GLIBC_TUNABLES", "HOSTALIASES", "LOCPATH", "NLSPATH", "RESOLV_HOST_CONF", "MALLOC_CHECK_",
  // Python and Jupyter: a forged .pyc, config .py, kernel spec or connection file of the hub's
  "PYTHONPYCACHEPREFIX", "JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_DATA_DIR",
  "JUPYTER_RUNTIME_DIR", "JUPYTER_PLATFORM_DIRS", "IPYTHONDIR",
  // OpenSSL loads providers and engines from its config
  "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES",
];

/** Name prefixes with the same power: the dynamic loader, exported bash functions, Lua paths. */
export const DENIED_PREFIXES: readonly string[] = ["LD_", "DYLD_", "BASH_FUNC_", "LUA_INIT_", "MALLOC_"];

/**
 * Names that point the server at files or programs: where it looks for commands (PATH comes from
 * the policy), scratch files, editors, config directories, git's helpers, and a TLS key log that
 * would hand the hub the server's secrets.
 */
export const DENIED_PATH_NAMES: readonly string[] = ["PATH", "TMPDIR", "EDITOR", "VISUAL", "PAGER", "SSLKEYLOGFILE"];
export const DENIED_PATH_PREFIXES: readonly string[] = ["XDG_", "GIT_"];

/**
 * What passes without any policy: the variables JupyterHub's Spawner.get_env() sets itself, and
 * the locale. A site adds the names of its c.Spawner.environment with the policy's "env.allow".
 */
export const DEFAULT_ALLOWED: readonly string[] = [
  "JUPYTERHUB_*", "JPY_*", "MEM_LIMIT", "MEM_GUARANTEE", "CPU_LIMIT", "CPU_GUARANTEE", "LANG", "LANGUAGE", "LC_*", "TZ",
];

/** The server's PATH where the policy sets none: root's directories only. */
export const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

/** Set from the passwd entry of the user we run as, whatever the hub sent. */
export const IDENTITY_NAMES = ["HOME", "USER", "LOGNAME", "SHELL"] as const;

/**
 * Set by the reaper to the server's own pid, by which kill recognises our servers. A copy from the
 * hub would stay in the reaper's own environment and make the reaper look like a server.
 */
export const MARK_ENV = "TS_SUDOSPAWNER_PID";

/** Who the server runs as: the passwd entry's name, home and shell. */
export type Identity = Pick<Account, "name" | "home" | "shell">;

export interface EnvPolicy {
  /** Extra exact names to drop (from the root-owned policy file). */
  deniedNames?: readonly string[];
  /** Extra patterns to drop: a trailing "*" matches a prefix, anything else must match exactly. */
  deniedPatterns?: readonly string[];
  /** Names (or "PREFIX*" patterns) that pass besides DEFAULT_ALLOWED; the deny rules still apply. */
  allowPatterns?: readonly string[];
}

export interface DroppedVariable {
  name: string;
  reason: string;
}

export interface EnvDecision {
  env: Record<string, string>;
  dropped: DroppedVariable[];
}

function matchesPattern(name: string, pattern: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

/** Why a variable is dropped, or undefined when it may pass. */
export function denialReason(name: string, policy: EnvPolicy = {}): string | undefined {
  if (DENIED_NAMES.includes(name) || DENIED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
    return "it can inject code into the loader or an interpreter";
  }
  if (DENIED_PATH_NAMES.includes(name) || DENIED_PATH_PREFIXES.some((prefix) => name.startsWith(prefix))) {
    return "it points the server at files or programs of the hub's choosing (PATH comes from the root policy)";
  }
  if (policy.deniedNames?.includes(name) || policy.deniedPatterns?.some((p) => matchesPattern(name, p))) {
    return "denied by the site policy";
  }
  if (![...DEFAULT_ALLOWED, ...(policy.allowPatterns ?? [])].some((p) => matchesPattern(name, p))) {
    return "not in the allow-list (JupyterHub's own variables, and the site policy's env.allow)";
  }
  return undefined;
}

export function applyEnvPolicy(requested: Readonly<Record<string, string>>, identity: Identity, policy: EnvPolicy = {}): EnvDecision {
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const dropped: DroppedVariable[] = [];
  for (const [name, value] of Object.entries(requested)) {
    if ((IDENTITY_NAMES as readonly string[]).includes(name)) continue;
    // Replaced by serverPath(). JupyterHub sends its own PATH with every spawn (Spawner.env_keep),
    // so a warning here would be on every login and teach admins to ignore warnings.
    if (name === "PATH") continue;
    if (name === MARK_ENV) {
      dropped.push({ name, reason: "it is reserved for the mediator's own mark" });
      continue;
    }
    const reason = denialReason(name, policy);
    if (reason) dropped.push({ name, reason });
    else env[name] = value;
  }
  env.HOME = identity.home;
  env.USER = identity.name;
  env.LOGNAME = identity.name;
  env.SHELL = identity.shell;
  return { env, dropped };
}

/**
 * The server's PATH (pure): the directory of the single-user executable first (a venv's or conda
 * env's bin, audited with the executable), then the policy's, else DEFAULT_PATH.
 */
export function serverPath(executableRealPath: string, policyPath: string | undefined): string {
  const dirs = [executableRealPath.slice(0, executableRealPath.lastIndexOf("/")) || "/", ...(policyPath ?? DEFAULT_PATH).split(":")];
  return [...new Set(dirs)].join(":");
}

/** Warnings about dropped variables beyond this many are summed up in one line. */
export const MAX_DROP_WARNINGS = 20;

/** The log lines for dropped variables (pure): names escaped and shortened, and at most MAX_DROP_WARNINGS of them. */
export function dropWarnings(dropped: readonly DroppedVariable[], max = MAX_DROP_WARNINGS): string[] {
  const lines = dropped.slice(0, max).map(({ name, reason }) => `dropped environment variable ${logExcerpt(name)}: ${reason}`);
  if (dropped.length > max) lines.push(`dropped ${dropped.length - max} more environment variables (not listed)`);
  return lines;
}

/** The environment as execve wants it: "NAME=value" strings, sorted for reproducible logs. */
export function toEnvList(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env)
    .sort()
    .map((name) => `${name}=${env[name]}`);
}
