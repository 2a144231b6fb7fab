/**
 * The single-user server's environment, assembled (pure): what the vocabulary lets pass of the
 * hub's variables (vocabulary/environment.ts), the identity from the passwd entry, PATH from the
 * root policy, and the mediator's own mark. Everything is passed in.
 */
import { SudoSpawnerError } from "../errors.js";
import { logExcerpt } from "../protocol/index.js";
import type { Account } from "../system/account.js";
import { MEDIATOR_ONLY, judgeVariable, type EnvPolicy } from "./vocabulary/environment.js";

export type { EnvPolicy };

/** The server's PATH where the policy sets none: root's directories only. */
export const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

/** Set from the passwd entry of the user we run as, whatever the hub sent. */
export const IDENTITY_NAMES = ["HOME", "USER", "LOGNAME", "SHELL"] as const;

/**
 * Set by the reaper to the server's own pid, by which kill recognises our servers. A copy from the
 * hub would stay in the reaper's own environment and make the reaper look like a server.
 */
export const MARK_ENV = "TS_SUDOSPAWNER_PID";

/**
 * The JupyterHub server name of a spawn that named one, set by the mediator (never the hub's env):
 * reconciliation at start stops only servers marked with both this and MARK_ENV, so named servers
 * of one user leave each other alone. Alone it proves nothing: descendants inherit it too.
 */
export const SERVER_MARK_ENV = "TS_SUDOSPAWNER_SERVER";

/** Who the server runs as: the passwd entry's name, home and shell. */
export type Identity = Pick<Account, "name" | "home" | "shell">;

export interface DroppedVariable {
  name: string;
  reason: string;
}

export interface EnvDecision {
  env: Record<string, string>;
  dropped: DroppedVariable[];
}

/** What the spawn asks besides the variables: the profile's fixed settings, and whether it carries TLS files. */
export interface EnvContext {
  fixed?: ReadonlySet<string>;
  tls?: boolean;
  /** The request's validated server name, for SERVER_MARK_ENV. */
  server?: string;
}

/** Throws BAD_REQUEST for a variable of the vocabulary whose value is not of its type. */
export function applyEnvPolicy(requested: Readonly<Record<string, string>>, identity: Identity, policy: EnvPolicy = {}, context: EnvContext = {}): EnvDecision {
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const dropped: DroppedVariable[] = [];
  for (const [name, value] of Object.entries(requested)) {
    if ((IDENTITY_NAMES as readonly string[]).includes(name)) continue;
    // Replaced by serverPath(). JupyterHub sends its own PATH with every spawn (Spawner.env_keep),
    // so a warning here would be on every login and teach admins to ignore warnings.
    if (name === "PATH") continue;
    if (name === MARK_ENV || name === SERVER_MARK_ENV) {
      dropped.push({ name, reason: "it is reserved for the mediator's own mark" });
      continue;
    }
    // With internal_ssl JupyterHub sends the hub's own paths; the mediator sets the user's copies.
    if (context.tls && MEDIATOR_ONLY.includes(name)) continue;
    const judged = judgeVariable(name, value, policy, context.fixed ?? new Set());
    if (judged.verdict === "refuse") {
      throw new SudoSpawnerError("BAD_REQUEST", `environment variable ${logExcerpt(name)} refused: ${judged.reason}`);
    }
    if (judged.verdict === "drop") dropped.push({ name, reason: judged.reason });
    else env[name] = value;
  }
  env.HOME = identity.home;
  env.USER = identity.name;
  env.LOGNAME = identity.name;
  env.SHELL = identity.shell;
  if (context.server !== undefined) env[SERVER_MARK_ENV] = context.server;
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
