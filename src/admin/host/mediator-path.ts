/**
 * The mediator path an admin command is about: the path the hub runs and the sudoers rule names.
 *
 * That is the installed command as invoked (normally the npm bin link PREFIX/bin/ts-sudospawner),
 * not the file it resolves to: sudo first compares the base name of the command the hub runs
 * with the rule's, then the path, or failing that the device and inode. A rule naming
 * .../dist/cli.cjs therefore never matches a hub running .../bin/ts-sudospawner ("a password is
 * required"), while a rule naming the link does. The mediator also looks for the single-user
 * executable next to the path it was run by, so the link's directory is the one that matters.
 */
import fs from "node:fs";
import path from "node:path";
import { SudoSpawnerError } from "../../errors.js";
import { findPackageRoot } from "../../install/layout.js";
import { validateCommandPath } from "../sudoers/rule.js";

export interface MediatorLocation {
  /** As the hub runs it and the rule names it. */
  path: string;
  /** The bundle it resolves to. */
  realPath: string;
  packageRoot: string;
}

/** Validate `p` as a ts-sudospawner mediator command: absolute, normal, existing, really ours. */
export function locateMediator(p: string | undefined): MediatorLocation {
  if (p === undefined || p === "") {
    throw new SudoSpawnerError("USAGE", "no mediator path: pass --mediator /PREFIX/bin/ts-sudospawner (the path the hub runs)");
  }
  const checked = validateCommandPath(p, "the mediator path");
  let realPath: string;
  try {
    realPath = fs.realpathSync(checked);
  } catch {
    throw new SudoSpawnerError(
      "NOT_FOUND",
      `the mediator ${checked} does not exist (or a link on the way is broken); install it as root with \`npm install -g --prefix /opt/ts-sudospawner ts-sudospawner-*.tgz\` and pass --mediator /opt/ts-sudospawner/bin/ts-sudospawner`,
    );
  }
  let packageRoot: string;
  try {
    packageRoot = findPackageRoot(realPath);
  } catch {
    packageRoot = "";
  }
  // Only our own bundle: a rule for any other program would hand the hub that program instead.
  if (packageRoot === "" || realPath !== path.join(packageRoot, "dist", "cli.cjs")) {
    throw new SudoSpawnerError(
      "USAGE",
      `${checked} resolves to ${realPath}, which is not the ts-sudospawner command (PREFIX/lib/node_modules/ts-sudospawner/dist/cli.cjs); pass the installed PREFIX/bin/ts-sudospawner`,
    );
  }
  return { path: checked, realPath, packageRoot };
}
