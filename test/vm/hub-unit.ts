/**
 * The units the VM runs, made from the shipped examples/jupyterhub/jupyterhub.service (pure).
 * Only the lines a test host must change are replaced; KillMode, Restart, the working directory
 * and the sandboxing lines stay exactly as shipped, since they are what the VM proves.
 */

export function replaceSetting(unit: string, key: string, value: string): string {
  const pattern = new RegExp(`^${key}=.*$`, "gm");
  const count = unit.match(pattern)?.length ?? 0;
  if (count !== 1) throw new Error(`the shipped hub unit has ${count} ${key}= lines, expected exactly one`);
  return unit.replace(pattern, `${key}=${value}`);
}

/** The hub stand-in's unit: the shipped one with the test's hub user and the stand-in as ExecStart. */
export function hubStandinUnit(shipped: string, options: { user: string; group: string; execStart: string }): string {
  let unit = replaceSetting(shipped, "User", options.user);
  unit = replaceSetting(unit, "Group", options.group);
  return replaceSetting(unit, "ExecStart", options.execStart);
}

/**
 * The shipped unit for `systemd-analyze verify`: verify checks that ExecStart= exists, and the
 * shipped path is the admin guide's venv, which the image does not have. Nothing else changes.
 */
export function verifiableUnit(shipped: string): string {
  return replaceSetting(shipped, "ExecStart", "/bin/true");
}
