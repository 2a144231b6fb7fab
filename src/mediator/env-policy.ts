/**
 * Which environment the single-user server gets: what the hub sent, minus variables that let the
 * hub inject code into the loader or an interpreter, with the identity variables taken from the
 * passwd entry of the user we run as. Pure: the identity and any extra policy are passed in.
 */
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
];

/** Name prefixes with the same power: the dynamic loader, exported bash functions, Lua paths. */
export const DENIED_PREFIXES: readonly string[] = ["LD_", "DYLD_", "BASH_FUNC_", "LUA_INIT_", "MALLOC_"];

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
  /** When set, only these names (or "PREFIX*" patterns) pass; the deny rules still apply. */
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
  if (policy.deniedNames?.includes(name) || policy.deniedPatterns?.some((p) => matchesPattern(name, p))) {
    return "denied by the site policy";
  }
  if (policy.allowPatterns && !policy.allowPatterns.some((p) => matchesPattern(name, p))) {
    return "not in the site policy's allow-list";
  }
  return undefined;
}

export function applyEnvPolicy(requested: Readonly<Record<string, string>>, identity: Identity, policy: EnvPolicy = {}): EnvDecision {
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const dropped: DroppedVariable[] = [];
  for (const [name, value] of Object.entries(requested)) {
    if ((IDENTITY_NAMES as readonly string[]).includes(name)) continue;
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

/** The environment as execve wants it: "NAME=value" strings, sorted for reproducible logs. */
export function toEnvList(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env)
    .sort()
    .map((name) => `${name}=${env[name]}`);
}
