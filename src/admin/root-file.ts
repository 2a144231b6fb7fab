/**
 * A root-owned 0644 file put in place whole (written beside, then renamed), so that its reader
 * (polkitd, systemd) never sees half of it: the linger rule and the slice drop-in. Also the SELinux
 * label every installed file gets (the sudoers rule too).
 */
import fs from "node:fs";
import path from "node:path";
import { SudoSpawnerError, errorMessage } from "../errors.js";
import { runCommand } from "./host/commands.js";
import type { AdminIO } from "./io.js";

/** SELinux's label tool, at fixed paths: root runs it, so nothing on PATH may stand in for it. */
const RESTORECON = ["/usr/sbin/restorecon", "/sbin/restorecon"];
/** Present only while SELinux is on (enforcing or permissive). */
const SELINUX_ON = "/sys/fs/selinux/enforce";

export function installRootFile(file: string, text: string, io: AdminIO): void {
  const staging = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(staging, text, { mode: 0o644 });
    fs.chownSync(staging, 0, 0);
    fs.chmodSync(staging, 0o644);
    // Labelled before the rename too: polkitd watches its folder and looks at the file at once.
    labelAsItsPath(staging);
    fs.renameSync(staging, file);
  } catch (error) {
    fs.rmSync(staging, { force: true });
    throw new SudoSpawnerError("FILE_WRITE", `could not install ${file}: ${errorMessage(error)}`);
  }
  restoreLabel(file, io);
}

/**
 * Give an installed file the SELinux label the policy names for its path. A new file gets its
 * folder's label or, by a type transition, one that depends on who wrote it: from a program under
 * a system unit (initrc_t on Debian), a file in /etc becomes etc_runtime_t, which polkitd may not
 * read. Without SELinux nothing is done; a failure is a warning with the command to run, as the
 * file itself is in place.
 */
export function restoreLabel(file: string, io: AdminIO): void {
  const failure = labelAsItsPath(file);
  if (failure !== undefined) io.err(`warning: SELinux is on, and ${file} may not have the label its path should have (${failure}); as root: restorecon -v ${file}\n`);
}

/** restorecon -F FILE when SELinux is on; why it could not, or undefined. */
function labelAsItsPath(file: string): string | undefined {
  if (!fs.existsSync(SELINUX_ON)) return undefined;
  const tool = RESTORECON.find((candidate) => fs.existsSync(candidate));
  if (tool === undefined) return "restorecon is not installed (policycoreutils)";
  // No pipes: restorecon runs in a domain of its own (setfiles_t), which may not use the caller's
  // sockets, so the policy would deny them (and, enforcing, close them). Its exit status is enough.
  const result = runCommand(tool, ["-F", "--", file], { silent: true });
  if (result.status === 0) return undefined;
  return result.failure ?? `restorecon exited with ${String(result.status)}`;
}
