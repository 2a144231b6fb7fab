/**
 * The site policy's path templates (`serverLog`, `slurm.output`), shared by the mediator, which
 * expands them for each spawn, and `ts-sudospawner check`, which judges the directory they name
 * (pure).
 */
import { dirname, normalize } from "node:path";

/** Expand `{user}` and `{home}`. */
export function expandPathTemplate(template: string, user: string, home: string): string {
  return normalize(template.replaceAll("{user}", user).replaceAll("{home}", home));
}

/**
 * Does the template give each user a directory of their own, so that no user can make a file
 * another user's path names: `{user}` or `{home}` in its directory part, e.g.
 * `{home}/.jupyterhub-singleuser.log` or `/var/log/jupyterhub/{user}/server.log`.
 */
export function perUserDirectory(template: string): boolean {
  const dir = dirname(template);
  return dir.includes("{user}") || dir.includes("{home}");
}
