/**
 * Which environment variables the hub may pass: a closed vocabulary with a type for each (pure).
 *
 * The names are those JupyterHub 3.0 to 6.x's Spawner.get_env() sets and its singleuser reads
 * (read from each version's source), plus the locale. A site adds the names of its
 * c.Spawner.environment with the policy's `env.allow`; those pass as any text, except the names
 * below that make a loader or interpreter run code, which no policy admits. A name outside the
 * vocabulary is dropped with a warning that names the `env.allow` entry that would keep it; a
 * vocabulary name with a value outside its type refuses the spawn.
 */
import { POLICY_PATH } from "../../install/layout.js";
import {
  ANY_TEXT,
  BOOLEAN,
  DIRECTORY,
  HTTP_URL,
  HTTP_URL_OR_EMPTY,
  JSON_OBJECT,
  JSON_TEXT_LIST,
  LOCALE,
  LOCALE_LIST,
  NUMBER,
  SINGLEUSER_APP,
  TEXT,
  TIME_ZONE,
  TOKEN,
  UNSIGNED_INTEGER,
  URL_PATH,
  URL_PATH_OR_HTTP_URL,
  type ValueType,
} from "./values.js";

/** glibc's locale categories. */
const LOCALE_CATEGORIES = [
  "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES", "LC_PAPER",
  "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION",
];

/** Everything the hub may send without a site policy, and the type of each value. */
export const ENV_VOCABULARY: Readonly<Record<string, ValueType>> = Object.freeze({
  JUPYTERHUB_API_TOKEN: TOKEN,
  JPY_API_TOKEN: TOKEN,
  JUPYTERHUB_CLIENT_ID: TEXT,
  JUPYTERHUB_USER: TEXT,
  JUPYTERHUB_SERVER_NAME: TEXT,
  JUPYTERHUB_ADMIN_ACCESS: BOOLEAN,
  JUPYTERHUB_COOKIE_OPTIONS: JSON_OBJECT,
  JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED: BOOLEAN,
  JUPYTERHUB_HOST: HTTP_URL_OR_EMPTY,
  JUPYTERHUB_OAUTH_CALLBACK_URL: URL_PATH_OR_HTTP_URL,
  JUPYTERHUB_OAUTH_SCOPES: JSON_TEXT_LIST,
  JUPYTERHUB_OAUTH_ACCESS_SCOPES: JSON_TEXT_LIST,
  JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: JSON_TEXT_LIST,
  JUPYTERHUB_API_URL: HTTP_URL,
  JUPYTERHUB_ACTIVITY_URL: HTTP_URL,
  JUPYTERHUB_ACTIVITY_INTERVAL: UNSIGNED_INTEGER,
  JUPYTERHUB_BASE_URL: URL_PATH,
  JUPYTERHUB_SERVICE_PREFIX: URL_PATH,
  JUPYTERHUB_SERVICE_URL: HTTP_URL,
  JUPYTERHUB_PUBLIC_URL: HTTP_URL_OR_EMPTY,
  JUPYTERHUB_PUBLIC_HUB_URL: HTTP_URL_OR_EMPTY,
  JUPYTERHUB_ROOT_DIR: DIRECTORY,
  JUPYTERHUB_DEFAULT_URL: URL_PATH,
  JUPYTERHUB_DEBUG: BOOLEAN,
  JUPYTERHUB_DISABLE_USER_CONFIG: BOOLEAN,
  JUPYTERHUB_SINGLEUSER_APP: SINGLEUSER_APP,
  JUPYTERHUB_SINGLEUSER_EXTENSION: BOOLEAN,
  MEM_LIMIT: UNSIGNED_INTEGER,
  MEM_GUARANTEE: UNSIGNED_INTEGER,
  CPU_LIMIT: NUMBER,
  CPU_GUARANTEE: NUMBER,
  LANG: LOCALE,
  LANGUAGE: LOCALE_LIST,
  TZ: TIME_ZONE,
  ...Object.fromEntries(LOCALE_CATEGORIES.map((name) => [name, LOCALE])),
});

/** The server settings a variable sets, so that a launch profile's own setting is not overridden. */
export const ENV_SETTINGS: Readonly<Record<string, string>> = {
  JUPYTERHUB_ROOT_DIR: "root_dir",
  JUPYTERHUB_DEFAULT_URL: "default_url",
  JUPYTERHUB_DEBUG: "log_level",
  JUPYTERHUB_DISABLE_USER_CONFIG: "disable_user_config",
};

/** Set by the mediator alone, and only from a `tls` request (spawn/tls-files.ts). */
export const MEDIATOR_ONLY: readonly string[] = ["JUPYTERHUB_SSL_KEYFILE", "JUPYTERHUB_SSL_CERTFILE", "JUPYTERHUB_SSL_CLIENT_CA"];

/**
 * Names no policy admits, for `env.allow` patterns that would otherwise take them in: they make a
 * loader or interpreter run code, or point the server at files or programs, chosen by whoever
 * sets them. This is no filter over what the hub sends (the vocabulary is); it bounds what an
 * admin's pattern can widen it to.
 */
export const NEVER_NAMES: readonly string[] = [
  "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
  "PYTHONWARNINGS", "PYTHONBREAKPOINT", "PYTHONSAFEPATH", "PYTHONPLATLIBDIR", "PYTHONPYCACHEPREFIX",
  "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
  "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE",
  "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYOPT", "RUBYLIB", "LUA_INIT", "TCLLIBPATH",
  "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
  "GCONV_PATH", "GLIBC_TUNABLES", "HOSTALIASES", "LOCPATH", "NLSPATH", "RESOLV_HOST_CONF", "MALLOC_CHECK_",
  "JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
  "JUPYTER_PLATFORM_DIRS", "IPYTHONDIR", "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES",
  "TMPDIR", "EDITOR", "VISUAL", "PAGER", "SSLKEYLOGFILE",
];
/** DBUS_ and SYSTEMD_ choose the bus (and settings) that D-Bus clients and systemd's tools use,
 * systemd-run among them: a hub-chosen bus could fake the user's manager and leave a server uncapped. */
export const NEVER_PREFIXES: readonly string[] = [
  "LD_", "DYLD_", "BASH_FUNC_", "LUA_INIT_", "MALLOC_", "XDG_", "GIT_", "DBUS_", "SYSTEMD_",
];

/** What the site policy's `env` section says. */
export interface EnvPolicy {
  /** Exact names to drop, vocabulary names included. */
  deniedNames?: readonly string[];
  /** Names or "PREFIX*" patterns to drop. */
  deniedPatterns?: readonly string[];
  /** Names or "PREFIX*" patterns that pass besides the vocabulary, as any text. */
  allowPatterns?: readonly string[];
}

export function matchesPattern(name: string, pattern: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

const NEVER_REASON = "it makes a loader or interpreter run code, or points the server at files or programs; no policy admits it";

export function isNeverName(name: string): boolean {
  return NEVER_NAMES.includes(name) || NEVER_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** A variable passes, is dropped (with the reason for the hub's log), or refuses the spawn. */
export type EnvVerdict = { verdict: "pass" } | { verdict: "drop"; reason: string } | { verdict: "refuse"; reason: string };

/** The verdict on one variable the hub sent; `fixed` are the settings a launch profile fixes. */
export function judgeVariable(name: string, value: string, policy: EnvPolicy, fixed: ReadonlySet<string>): EnvVerdict {
  if (MEDIATOR_ONLY.includes(name)) return { verdict: "drop", reason: 'set by the mediator alone, from a spawn request\'s "tls" files' };
  if (policy.deniedNames?.includes(name) || policy.deniedPatterns?.some((pattern) => matchesPattern(name, pattern))) {
    return { verdict: "drop", reason: "denied by the site policy" };
  }
  const setting = ENV_SETTINGS[name];
  if (setting !== undefined && fixed.has(setting)) return { verdict: "drop", reason: `the launch profile fixes ${setting}` };
  const type = Object.hasOwn(ENV_VOCABULARY, name) ? ENV_VOCABULARY[name] : undefined;
  if (type !== undefined) {
    return type.accepts(value) ? { verdict: "pass" } : { verdict: "refuse", reason: `its value must be ${type.name}` };
  }
  if (isNeverName(name)) return { verdict: "drop", reason: NEVER_REASON };
  if (policy.allowPatterns?.some((pattern) => matchesPattern(name, pattern))) {
    return ANY_TEXT.accepts(value) ? { verdict: "pass" } : { verdict: "refuse", reason: `its value must be ${ANY_TEXT.name}` };
  }
  return {
    verdict: "drop",
    reason: `not in the vocabulary of what JupyterHub sends; to pass it, add "${name}" to "env.allow" in ${POLICY_PATH}`,
  };
}
