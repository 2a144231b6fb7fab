/**
 * What every VM boot of the tier starts from, for the tests and the bench alike: the tools it
 * needs on the host, and a tree with the host's Node, the packed package installed as an admin
 * does, the users, and the sudoers rule the shipped tool writes.
 */
import { commandExists } from "../helpers/system.js";
import { firstMissing } from "../helpers/prerequisites.js";
import { Machine, type GuestUser } from "./machine.js";
import { GUEST } from "./guest/names.js";

/** Why the VM tier cannot run on this host (besides root), with what to install; undefined when it can. */
export function vmToolsMissing(): string | undefined {
  return firstMissing(
    commandExists("qemu-system-x86_64") ? undefined : "qemu-system-x86_64 is not installed (apt-get install --no-install-recommends qemu-system-x86)",
    commandExists("mmdebstrap") ? undefined : "mmdebstrap is not installed (apt-get install --no-install-recommends mmdebstrap)",
    commandExists("mkfs.ext4") ? undefined : "mkfs.ext4 is not installed (apt-get install e2fsprogs)",
  );
}

/**
 * A fresh tree from the base tar with `tarball` installed at GUEST.prefix, `users` (and
 * GUEST.group) added, and the hub's rule from `ts-sudospawner sudoers --install`, validated with
 * the guest's visudo against the guest's users. Disposed of again when a step fails.
 */
export function prepareMachine(baseTar: string, tarball: string, users: readonly GuestUser[]): Machine {
  const machine = Machine.fromBase(baseTar);
  try {
    machine.putNode(process.execPath);
    machine.installPackage(tarball, GUEST.prefix);
    machine.addUsers(users, [GUEST.group]);
    machine.chroot([GUEST.mediator, "sudoers", "--hub-user", GUEST.hub, "--group", GUEST.group, "--install"], "ts-sudospawner sudoers --install");
    return machine;
  } catch (error) {
    machine.dispose();
    throw error;
  }
}
