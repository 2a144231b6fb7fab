/**
 * What to tell an admin about the single-user executable the mediator will run: singleUserAdvice
 * is pure, singleUserFacts reads the disk. Sites run JupyterHub from a venv, so the expected target is the venv's
 * `jupyterhub-singleuser` named by its full path: a `command -v` lookup finds whatever root's PATH
 * has first (Debian's JupyterHub 3.0 in /usr/bin), which is the mistake this advice exists to stop.
 */
import { lstatSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { shellQuote } from "../../protocol/index.js";

/** The venv the docs make (README, docs/admin-guide.md section 1); `sudoers`/`check --venv DIR` name another. */
export const DOCUMENTED_VENV = "/opt/jupyterhub";

/** The venv's single-user server, by its full path. */
export function venvSingleUser(venv: string): string {
  return join(venv, "bin", "jupyterhub-singleuser");
}

export interface SingleUserFacts {
  /** The directory the mediator looks in (next to the path sudo runs). */
  dir: string;
  /** The policy's `singleuser`, when the site policy names one: the mediator runs that instead. */
  policySingleUser?: { path: string; exists: boolean };
  /** The entry found next to the mediator, and where it resolves (undefined: a broken link). */
  found?: { path: string; resolved: string | undefined };
  /** The venv's jupyterhub-singleuser the install should link (resolved), and whether it exists. */
  expected: { path: string; resolved: string | undefined };
}

export interface SingleUserAdvice {
  problem: string;
  /** The exact commands, as root. */
  commands: string[];
}

/** Making the venv whose server `expected` is (…/VENV/bin/jupyterhub-singleuser), with the system's Python. */
function makeVenv(expected: string): string[] {
  const venv = expected.replace(/\/bin\/jupyterhub-singleuser$/, "");
  if (venv === expected) return [];
  const quoted = shellQuote(venv);
  return [`/usr/bin/python3 -m venv ${quoted}`, `${shellQuote(join(venv, "bin", "pip"))} install jupyterhub jupyterlab`];
}

/** The exact `ln -s` for the link next to the mediator. */
export function linkCommand(dir: string, target: string = venvSingleUser(DOCUMENTED_VENV), replace = false): string {
  return `ln -s${replace ? "fn" : ""} ${shellQuote(target)} ${shellQuote(join(dir, "jupyterhub-singleuser"))}`;
}

/** Undefined when all is as expected; else what is wrong and the commands that fix it. */
export function singleUserAdvice(facts: SingleUserFacts): SingleUserAdvice | undefined {
  const expected = facts.expected.path;
  const venv = facts.expected.resolved === undefined ? makeVenv(expected) : [];
  if (facts.policySingleUser !== undefined) {
    if (facts.policySingleUser.exists) return undefined;
    return {
      problem: `the site policy's "singleuser" names ${facts.policySingleUser.path}, which does not exist (the mediator runs it, not a file next to it)`,
      commands: [...venv, `ln -s ${shellQuote(expected)} ${shellQuote(facts.policySingleUser.path)}`],
    };
  }
  const found = facts.found;
  if (found === undefined) {
    return {
      problem: `no sudospawner-singleuser or jupyterhub-singleuser next to the mediator in ${facts.dir}; spawns fail until one is linked there`,
      commands: [...venv, linkCommand(facts.dir, expected)],
    };
  }
  if (found.resolved === undefined) {
    return { problem: `${found.path} is a broken link`, commands: [...venv, linkCommand(facts.dir, expected, true)] };
  }
  // A site wrapper is the site's own choice; only the plain link is expected to be the venv's.
  if (!found.path.endsWith("/jupyterhub-singleuser")) return undefined;
  if (facts.expected.resolved !== undefined && found.resolved !== facts.expected.resolved) {
    return {
      problem: `${found.path} resolves to ${found.resolved}, not to the venv's ${expected}${found.resolved.startsWith("/usr/bin/") ? " (a system package's JupyterHub, found through PATH)" : ""}`,
      commands: [linkCommand(facts.dir, expected, true)],
    };
  }
  return undefined;
}

/**
 * The facts above, read from the disk (root or the hub; a path it cannot read counts as missing).
 * `venv`: the venv JupyterHub runs from, whose server the link should name.
 */
export function singleUserFacts(
  dir: string,
  policyText: string | undefined,
  venv: string = DOCUMENTED_VENV,
  names: readonly string[] = ["sudospawner-singleuser", "jupyterhub-singleuser"],
): SingleUserFacts {
  const resolve = (p: string): string | undefined => {
    try {
      return realpathSync(p);
    } catch {
      return undefined;
    }
  };
  const expected = venvSingleUser(venv);
  const facts: SingleUserFacts = { dir, expected: { path: expected, resolved: resolve(expected) } };
  const named = policySingleUser(policyText);
  if (named !== undefined) facts.policySingleUser = { path: named, exists: resolve(named) !== undefined };
  for (const name of names) {
    const candidate = join(dir, name);
    let present = false;
    try {
      lstatSync(candidate);
      present = true;
    } catch {
      // not this name
    }
    if (present) {
      facts.found = { path: candidate, resolved: resolve(candidate) };
      break;
    }
  }
  return facts;
}

/** The site policy's top-level "singleuser", if it names one (the policy's own parser judges the rest). */
export function policySingleUser(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const value = (JSON.parse(text) as { singleuser?: unknown }).singleuser;
    return typeof value === "string" && value.startsWith("/") ? value : undefined;
  } catch {
    return undefined;
  }
}
