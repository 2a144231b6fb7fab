/**
 * The one rule for what a hub may ask of a site's bounds (pure): it may lower them, never raise
 * them. Used for the rlimits (policy.ts) and the cgroup caps (cgroup/policy.ts).
 */

/**
 * `site` with each of `names` the hub asked for lowered to the lower of the two; a name the site
 * leaves unbounded takes the hub's value.
 */
export function lowerEach<N extends string, T extends Partial<Record<N, number>>>(site: T, requested: Partial<Record<N, number>> | undefined, names: readonly N[]): T {
  const result: Partial<Record<N, number>> = { ...site };
  for (const name of names) {
    const asked = requested?.[name];
    if (asked === undefined) continue;
    const allowed = site[name];
    result[name] = allowed === undefined ? asked : Math.min(allowed, asked);
  }
  return result as T;
}
